//! Finding the PostgreSQL executables.
//!
//! Search order: every directory of `PATH`, then `/usr/lib/postgresql/*/bin`
//! with the highest version first. The server tools (`initdb`, `pg_ctl`,
//! `postgres`) are taken from the first directory that holds all three,
//! because `initdb` and `pg_ctl` launch the `postgres` that sits next to them.
//! Debian's `pg_wrapper` dispatcher (what `/usr/bin/psql` usually is) is
//! skipped: it is not a client itself, costs a Perl start-up per call and may
//! steer connections to the system cluster.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::HarnessError;

/// Root of Debian/Ubuntu's versioned PostgreSQL installations.
const VERSIONED_ROOT: &str = "/usr/lib/postgresql";

/// The PostgreSQL executables the harness uses, and their version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    postgres: PathBuf,
    pg_basebackup: PathBuf,
    psql: PathBuf,
    version: String,
    major: u32,
}

impl PgBinaries {
    /// Finds `initdb`, `pg_ctl`, `postgres` and `psql` (see the module
    /// documentation for the search order) and asks `pg_ctl` for its version.
    ///
    /// The first successful result is cached for the rest of the process.
    ///
    /// # Errors
    ///
    /// [`HarnessError::BinariesNotFound`] when no directory holds the three
    /// server tools, [`HarnessError::PsqlNotFound`] without `psql`, or an
    /// error from running `pg_ctl --version`.
    pub fn locate() -> Result<PgBinaries, HarnessError> {
        static CACHE: OnceLock<PgBinaries> = OnceLock::new();
        if let Some(found) = CACHE.get() {
            return Ok(found.clone());
        }
        let found = locate_uncached()?;
        Ok(CACHE.get_or_init(|| found).clone())
    }

    /// Path of `initdb`.
    pub fn initdb(&self) -> &Path {
        &self.initdb
    }

    /// Path of `pg_ctl`.
    pub fn pg_ctl(&self) -> &Path {
        &self.pg_ctl
    }

    /// Path of `postgres`.
    pub fn postgres(&self) -> &Path {
        &self.postgres
    }

    /// Path of `pg_basebackup` (next to `pg_ctl`; it may be missing,
    /// which only the replication helpers notice).
    pub fn pg_basebackup(&self) -> &Path {
        &self.pg_basebackup
    }

    /// Path of `psql`.
    pub fn psql(&self) -> &Path {
        &self.psql
    }

    /// Full server version as printed by `pg_ctl --version`, e.g. `"15.18"`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Major server version, e.g. `15`.
    pub fn major_version(&self) -> u32 {
        self.major
    }
}

/// Finds `psql` alone, for talking to a server given by `DATABASE_URL` on a
/// machine that may lack the server binaries.
pub(crate) fn locate_psql() -> Result<PathBuf, HarnessError> {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(found) = CACHE.get() {
        return Ok(found.clone());
    }
    let found = find_psql(None).ok_or(HarnessError::PsqlNotFound)?;
    Ok(CACHE.get_or_init(|| found).clone())
}

fn locate_uncached() -> Result<PgBinaries, HarnessError> {
    let server_dir = candidate_dirs()
        .into_iter()
        .find(|dir| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|name| is_real_executable(&dir.join(name)))
        })
        .ok_or(HarnessError::BinariesNotFound)?;
    let pg_ctl = server_dir.join("pg_ctl");
    let psql = find_psql(Some(&pg_ctl)).ok_or(HarnessError::PsqlNotFound)?;
    let version = server_version(&pg_ctl)?;
    let major = version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| {
            HarnessError::invalid(format!(
                "could not parse the PostgreSQL version {version:?} reported by {}",
                pg_ctl.display()
            ))
        })?;
    Ok(PgBinaries {
        initdb: server_dir.join("initdb"),
        postgres: server_dir.join("postgres"),
        pg_basebackup: find_next_to(&pg_ctl, "pg_basebackup")
            .unwrap_or_else(|| server_dir.join("pg_basebackup")),
        pg_ctl,
        psql,
        version,
        major,
    })
}

/// `program` next to `pg_ctl`, next to the file it links to, or in the
/// versioned installations (a `PATH` directory may hold links to only the
/// server tools).
fn find_next_to(pg_ctl: &Path, program: &str) -> Option<PathBuf> {
    let linked = std::fs::canonicalize(pg_ctl).ok();
    pg_ctl
        .parent()
        .map(Path::to_path_buf)
        .into_iter()
        .chain(
            linked
                .as_deref()
                .and_then(Path::parent)
                .map(Path::to_path_buf),
        )
        .chain(versioned_dirs())
        .map(|dir| dir.join(program))
        .find(|path| is_real_executable(path))
}

/// `psql` from `PATH`, else next to the chosen `pg_ctl`, else from the
/// versioned installations.
fn find_psql(pg_ctl: Option<&Path>) -> Option<PathBuf> {
    let mut dirs = path_dirs();
    if let Some(server_dir) = pg_ctl
        .and_then(|p| fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(server_dir);
    }
    dirs.extend(versioned_dirs());
    dirs.into_iter()
        .map(|dir| dir.join("psql"))
        .find(|candidate| is_real_executable(candidate))
}

/// `PATH` directories followed by the versioned installation directories.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = path_dirs();
    dirs.extend(versioned_dirs());
    dirs
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .filter(|dir| !dir.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `/usr/lib/postgresql/<version>/bin`, highest version first.
fn versioned_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(VERSIONED_ROOT) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let key = name
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((key, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// An executable regular file that is not Debian's `pg_wrapper` dispatcher.
fn is_real_executable(path: &Path) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return false;
    }
    match fs::canonicalize(path) {
        Ok(real) => real.file_name().is_none_or(|name| name != "pg_wrapper"),
        Err(_) => false,
    }
}

/// Runs `pg_ctl --version` (allowed as root) and extracts the version number.
fn server_version(pg_ctl: &Path) -> Result<String, HarnessError> {
    let output = Command::new(pg_ctl)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HarnessError::io(format!("run {} --version", pg_ctl.display()), e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    text.split_once("(PostgreSQL)")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::CommandFailed {
            command: format!("{} --version", pg_ctl.display()),
            status: output.status.to_string(),
            output: format!(
                "unexpected output: {}{}",
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_a_consistent_installation() {
        let Ok(bins) = PgBinaries::locate() else {
            return;
        };
        let dir_of = |p: &Path| fs::canonicalize(p).unwrap().parent().unwrap().to_path_buf();
        assert_eq!(dir_of(bins.initdb()), dir_of(bins.pg_ctl()));
        assert_eq!(dir_of(bins.postgres()), dir_of(bins.pg_ctl()));
        assert!(bins.major_version() >= 10, "{bins:?}");
        assert!(
            bins.version()
                .starts_with(&bins.major_version().to_string())
        );
    }
}
