//! Running external tools, as the OS account that owns the server.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, every
//! server tool (`initdb`, `pg_ctl`, `postgres`) is started through
//! `runuser -u postgres --`, and the files the server needs are handed to
//! that account with `chown`. Otherwise the tools run as the current user.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::HarnessError;

/// The OS account the server runs as when the tests run as root.
pub(crate) const SERVER_OS_USER: &str = "postgres";

/// Who runs the server tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerAccount {
    /// Not root: everything runs as the current user.
    Current {
        /// Effective uid of this process.
        uid: u32,
    },
    /// Root: the server tools run as this account through `runuser`.
    Other {
        /// Account name.
        name: String,
        /// Its uid.
        uid: u32,
        /// Its primary gid.
        gid: u32,
        /// Path of `runuser`.
        runuser: PathBuf,
    },
}

impl ServerAccount {
    /// Determines (once per process) which account runs the server.
    pub(crate) fn get() -> Result<ServerAccount, HarnessError> {
        static CACHE: OnceLock<ServerAccount> = OnceLock::new();
        if let Some(found) = CACHE.get() {
            return Ok(found.clone());
        }
        let found = Self::detect()?;
        Ok(CACHE.get_or_init(|| found).clone())
    }

    fn detect() -> Result<ServerAccount, HarnessError> {
        let uid = effective_uid()?;
        if uid != 0 {
            return Ok(ServerAccount::Current { uid });
        }
        let (uid, gid) =
            lookup_user(SERVER_OS_USER).ok_or_else(|| HarnessError::ServerUserNotFound {
                user: SERVER_OS_USER.to_owned(),
            })?;
        let runuser = [
            "/usr/sbin/runuser",
            "/sbin/runuser",
            "/usr/bin/runuser",
            "/bin/runuser",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            HarnessError::invalid(
                "the tests run as root but `runuser` (util-linux) was not found, so the \
                     PostgreSQL server cannot be started as an unprivileged user",
            )
        })?;
        Ok(ServerAccount::Other {
            name: SERVER_OS_USER.to_owned(),
            uid,
            gid,
            runuser,
        })
    }

    /// The uid the server runs as.
    pub(crate) fn uid(&self) -> u32 {
        match self {
            ServerAccount::Current { uid } | ServerAccount::Other { uid, .. } => *uid,
        }
    }

    /// A command that runs `program` as the server account, in a working
    /// directory that account can enter, with a predictable environment.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut command = match self {
            ServerAccount::Current { .. } => Command::new(program),
            ServerAccount::Other { name, runuser, .. } => {
                let mut c = Command::new(runuser);
                c.arg("-u").arg(name).arg("--").arg(program);
                c
            }
        };
        command.current_dir(std::env::temp_dir());
        clean_environment(&mut command);
        command
    }

    /// Hands `path` to the server account (no-op when not running as root).
    pub(crate) fn give(&self, path: &Path) -> Result<(), HarnessError> {
        match self {
            ServerAccount::Current { .. } => Ok(()),
            ServerAccount::Other { uid, gid, name, .. } => chown(path, Some(*uid), Some(*gid))
                .map_err(|e| HarnessError::io(format!("chown {} to {name}", path.display()), e)),
        }
    }
}

/// Removes `PG*` variables (PGHOST, PGPORT, PGSSLMODE, PGOPTIONS, ...) so the
/// caller's environment cannot redirect or alter commands aimed at a private
/// server, and forces untranslated messages.
pub(crate) fn clean_environment(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(&key);
        }
    }
    command.env("LC_ALL", "C").env("PGCONNECT_TIMEOUT", "10");
}

/// Runs a command to completion with stdin closed and output captured.
pub(crate) fn output(command: &mut Command) -> Result<Output, HarnessError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| HarnessError::io(format!("run `{}`", describe(command)), e))
}

/// Runs a command and turns a non-zero exit into
/// [`HarnessError::CommandFailed`].
pub(crate) fn run(command: &mut Command) -> Result<Output, HarnessError> {
    let out = output(command)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(failure(command, &out))
    }
}

/// The [`HarnessError::CommandFailed`] for a finished command.
pub(crate) fn failure(command: &Command, out: &Output) -> HarnessError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let output = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        stderr.into_owned()
    };
    HarnessError::CommandFailed {
        command: describe(command),
        status: out.status.to_string(),
        output,
    }
}

/// A readable rendering of a command line.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Effective uid of this process, from `/proc/self/status` (falls back to
/// `id -u` where `/proc` is unavailable).
fn effective_uid() -> Result<u32, HarnessError> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        // "Uid:\t<real>\t<effective>\t<saved>\t<fs>"
        if let Some(euid) = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|euid| euid.parse().ok())
        {
            return Ok(euid);
        }
    }
    let out = run(Command::new("id").arg("-u"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| HarnessError::invalid("could not determine the effective uid (`id -u`)"))
}

/// uid and gid of an account, from `/etc/passwd`, else from `id`.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    if let Ok(passwd) = fs::read_to_string("/etc/passwd") {
        let found = passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != name {
                return None;
            }
            let _password = fields.next()?;
            Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
        });
        if found.is_some() {
            return found;
        }
    }
    let id = |flag: &str| -> Option<u32> {
        let out = output(Command::new("id").arg(flag).arg(name)).ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Whether `pid` is a live (not zombie) process; `cmdline_hint`, when given,
/// must occur in its command line (protection against pid reuse).
pub(crate) fn process_alive(pid: u32, cmdline_hint: Option<&str>) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if Path::new("/proc/self").exists() {
        let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // "pid (comm) S ...": the state follows the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if matches!(state, Some("Z" | "X" | "x")) {
            return false;
        }
        if let Some(hint) = cmdline_hint {
            let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
            return String::from_utf8_lossy(&cmdline).contains(hint);
        }
        true
    } else {
        output(Command::new("kill").arg("-0").arg(pid.to_string()))
            .is_ok_and(|out| out.status.success())
    }
}

/// Sends SIGKILL to `pid` (only if it still looks like `cmdline_hint`) and
/// waits up to `timeout` for it to disappear.
pub(crate) fn kill_and_wait(pid: u32, cmdline_hint: &str, timeout: Duration) -> bool {
    if !process_alive(pid, Some(cmdline_hint)) {
        return true;
    }
    let _ = output(Command::new("kill").arg("-9").arg(pid.to_string()));
    wait_until(timeout, || !process_alive(pid, None))
}

/// Polls `condition` every few milliseconds until it holds or `timeout`
/// passes; returns whether it held.
pub(crate) fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
