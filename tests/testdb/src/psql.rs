//! Running SQL through the `psql` command-line client.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use tidepool_async::redact_dsn;

use crate::binaries;
use crate::error::HarnessError;
use crate::process;

/// Whether `psql` sees the caller's `PG*` environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Environment {
    /// Strip `PG*` variables: the arguments fully describe the connection.
    Clean,
    /// Keep them (an external `DATABASE_URL` may rely on `PGPASSWORD`,
    /// `PGSSLROOTCERT`, ...).
    Inherit,
}

/// Runs `sql` on the server described by the connection URL (or `key=value`
/// string) `url` and returns psql's trimmed output (unaligned, tuples only:
/// one line per row, columns separated by `|`).
///
/// `PG*` environment variables are ignored, so the URL alone decides where
/// and how to connect; psql never prompts for a password (`-w`).
///
/// # Errors
///
/// [`HarnessError::PsqlNotFound`] without a `psql` binary, or
/// [`HarnessError::Psql`] (carrying psql's stderr) when the connection or the
/// SQL fails.
pub fn psql_url(url: &str, sql: &str) -> Result<String, HarnessError> {
    let psql = binaries::locate_psql()?;
    run_psql(
        &psql,
        &[OsString::from("-d"), OsString::from(url)],
        sql,
        &redact_dsn(url),
        Environment::Clean,
    )
}

/// Runs `psql -X -q -At -w -v ON_ERROR_STOP=1 <connection> -c <sql>`.
pub(crate) fn run_psql(
    psql: &Path,
    connection: &[OsString],
    sql: &str,
    target: &str,
    environment: Environment,
) -> Result<String, HarnessError> {
    let mut command = Command::new(psql);
    if environment == Environment::Clean {
        process::clean_environment(&mut command);
    }
    command
        .args(["-X", "-q", "-At", "-w", "-v", "ON_ERROR_STOP=1"])
        .args(connection)
        .arg("-c")
        .arg(sql);
    output_of(&mut command, sql, target)
}

/// Runs `sql` with psql's unaligned output and a header line (`-A`, no
/// footer): the column names, then one line per row, separated by `|`.
/// `PG*` environment variables are ignored.
pub(crate) fn run_psql_table(
    psql: &Path,
    connection: &[OsString],
    sql: &str,
    target: &str,
) -> Result<String, HarnessError> {
    let mut command = Command::new(psql);
    process::clean_environment(&mut command);
    command
        .args([
            "-X",
            "-q",
            "-A",
            "-w",
            "-P",
            "footer=off",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(connection)
        .arg("-c")
        .arg(sql);
    output_of(&mut command, sql, target)
}

/// Runs a psql command; its output, trimmed, or its error naming `sql` and
/// `target`.
fn output_of(command: &mut Command, sql: &str, target: &str) -> Result<String, HarnessError> {
    let out = process::output(command)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(HarnessError::Psql {
            sql: sql.to_owned(),
            target: target.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
