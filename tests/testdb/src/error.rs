//! The single error type of the harness.

use std::error::Error;
use std::fmt;
use std::io;

/// Everything that can go wrong while finding, starting, controlling or
/// talking to a PostgreSQL server for the tests.
///
/// Every variant renders as a complete sentence (plus, where useful, the
/// captured output of the failing tool) so that a failing test explains
/// itself without further digging.
#[derive(Debug)]
#[non_exhaustive]
pub enum HarnessError {
    /// `initdb`, `pg_ctl` and `postgres` were not found together in `PATH`
    /// or in `/usr/lib/postgresql/*/bin`.
    BinariesNotFound,
    /// The `pgbouncer` binary was not found in `PATH` or at
    /// `/usr/sbin/pgbouncer`.
    PgBouncerNotFound,
    /// The `psql` client was not found in `PATH` or in
    /// `/usr/lib/postgresql/*/bin`.
    PsqlNotFound,
    /// The tests run as root, PostgreSQL refuses to run as root, and the OS
    /// account the server should run as does not exist.
    ServerUserNotFound {
        /// Name of the missing OS account.
        user: String,
    },
    /// A file-system or process-spawning operation failed.
    Io {
        /// What the harness was doing, e.g. "create directory /tmp/x".
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An external tool (`initdb`, `pg_ctl`, `cp`, ...) exited unsuccessfully.
    CommandFailed {
        /// The command line that was run.
        command: String,
        /// How it ended, e.g. "exit status: 1".
        status: String,
        /// Its captured standard error (and output, when stderr was empty).
        output: String,
    },
    /// The server could not be started (or restarted).
    ServerStart {
        /// Data directory of the server.
        data_dir: String,
        /// Why the start failed.
        reason: String,
        /// The last lines of the server log.
        log_tail: String,
    },
    /// A `psql` invocation failed (connection refused, authentication
    /// failure, SQL error, ...).
    Psql {
        /// The SQL that was sent.
        sql: String,
        /// Where it was sent to (passwords are redacted).
        target: String,
        /// How `psql` ended, e.g. "exit status: 2".
        status: String,
        /// What `psql` printed on standard error.
        stderr: String,
    },
    /// The caller passed something the harness cannot use (for example a
    /// data-directory file name containing `..`).
    InvalidInput {
        /// Description of the problem.
        message: String,
    },
    /// A condition the harness waits for (a standby catching up, a
    /// promotion finishing) did not hold before its deadline.
    Timeout {
        /// What was awaited, e.g. "the standby on port 41234 to replay
        /// 0/3000060".
        waited_for: String,
        /// How long the harness waited.
        waited: std::time::Duration,
        /// What was last seen, e.g. the last replayed position.
        last_seen: String,
    },
}

impl HarnessError {
    /// Builds an [`HarnessError::Io`] from an action description and an error.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        HarnessError::Io {
            action: action.into(),
            source,
        }
    }

    /// Builds an [`HarnessError::InvalidInput`].
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        HarnessError::InvalidInput {
            message: message.into(),
        }
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::BinariesNotFound => f.write_str(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in PATH \
                 or /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: apt-get install \
                 postgresql) or set DATABASE_URL to a server the tests may use",
            ),
            HarnessError::PgBouncerNotFound => f.write_str(
                "PgBouncer was not found in PATH or at /usr/sbin/pgbouncer; install it \
                 (Debian/Ubuntu: apt-get install pgbouncer)",
            ),
            HarnessError::PsqlNotFound => f.write_str(
                "the PostgreSQL client psql was not found in PATH or /usr/lib/postgresql/*/bin; \
                 install it (Debian/Ubuntu: apt-get install postgresql-client)",
            ),
            HarnessError::ServerUserNotFound { user } => write!(
                f,
                "the tests run as root, PostgreSQL refuses to run as root, and the OS user \
                 `{user}` to run the server as does not exist; create it (useradd --system \
                 {user}) or run the tests as an unprivileged user"
            ),
            HarnessError::Io { action, source } => write!(f, "could not {action}: {source}"),
            HarnessError::CommandFailed {
                command,
                status,
                output,
            } => {
                write!(f, "`{command}` failed ({status})")?;
                if output.trim().is_empty() {
                    Ok(())
                } else {
                    write!(f, ":\n{}", output.trim_end())
                }
            }
            HarnessError::ServerStart {
                data_dir,
                reason,
                log_tail,
            } => {
                write!(
                    f,
                    "the PostgreSQL server in {data_dir} did not start: {reason}"
                )?;
                if log_tail.trim().is_empty() {
                    f.write_str(" (the server log is empty)")
                } else {
                    write!(
                        f,
                        "\n--- end of the server log ---\n{}",
                        log_tail.trim_end()
                    )
                }
            }
            HarnessError::Psql {
                sql,
                target,
                status,
                stderr,
            } => write!(
                f,
                "psql failed to run {sql:?} on {target} ({status}): {}",
                stderr.trim()
            ),
            HarnessError::InvalidInput { message } => f.write_str(message),
            HarnessError::Timeout {
                waited_for,
                waited,
                last_seen,
            } => write!(
                f,
                "waited {:.1} s for {waited_for}, in vain; last seen: {last_seen}",
                waited.as_secs_f64()
            ),
        }
    }
}

impl Error for HarnessError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            HarnessError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
