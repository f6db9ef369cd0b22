//! A private PostgreSQL cluster: creation, configuration, fault injection
//! and cleanup.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use tidepool_async::redact_dsn;

use crate::binaries::PgBinaries;
use crate::config;
use crate::conninfo::{percent_encode, quote_keyword_value};
use crate::error::HarnessError;
use crate::process::{self, ServerAccount};
use crate::psql::{self, Environment};
use crate::scratch;
use crate::template;

/// The address the server listens on.
const HOST: &str = "127.0.0.1";
/// The superuser created by `initdb`.
const SUPERUSER: &str = "postgres";
/// The port the harness never uses (a system server may own it).
const FORBIDDEN_PORT: u16 = 5432;
/// PgBouncer's default port, which a system PgBouncer may own.
const FORBIDDEN_BOUNCER_PORT: u16 = 6432;
/// How many ports to try when the chosen one is taken before the server
/// binds it.
const PORT_ATTEMPTS: usize = 5;
/// `pg_ctl -t` for start, stop and restart.
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// How long to wait for the TCP port once `pg_ctl` says the server is up.
const TCP_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `Drop` waits for a killed postmaster to disappear.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest Unix socket path the kernel accepts (`sun_path` minus the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Configuration for a [`PgServer`]; obtained from [`PgServer::builder`].
///
/// ```no_run
/// use tidepool_testdb::PgServer;
///
/// let server = PgServer::builder()
///     .setting("max_connections", "50")
///     .hba_line("host all app 127.0.0.1/32 md5")
///     .start()?;
/// assert_eq!(server.psql("show max_connections")?, "50");
/// # Ok::<(), tidepool_testdb::HarnessError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PgServerBuilder {
    settings: Vec<(String, String)>,
    hba_lines: Vec<String>,
    files: Vec<DataFile>,
}

/// A file written into the data directory before the server starts.
#[derive(Clone)]
struct DataFile {
    path: PathBuf,
    contents: Vec<u8>,
    mode: u32,
}

impl fmt::Debug for DataFile {
    // Contents may be a private key: show only their size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.len())
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish()
    }
}

impl PgServerBuilder {
    /// Adds a `postgresql.conf` setting, e.g. `("max_connections", "300")`
    /// or `("ssl", "on")`. The value is quoted for you. Settings are written
    /// after the harness defaults, in call order, and the last occurrence
    /// of a name wins, so this also overrides the defaults.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Adds a `pg_hba.conf` line. Lines are placed, in call order, before the
    /// default rules (trust for local sockets and for `postgres` over TCP,
    /// `scram-sha-256` for every other role over TCP), so they take
    /// precedence.
    pub fn hba_line(mut self, line: impl Into<String>) -> Self {
        self.hba_lines.push(line.into());
        self
    }

    /// Writes a file into the data directory before the server starts,
    /// owned by the server's OS user with permission bits `mode`, e.g.
    /// `("server.key", key_pem, 0o600)`. `relative_name` must stay inside the
    /// data directory; missing parent directories are created.
    ///
    /// `pg_hba.conf` given here replaces the generated one; a
    /// `postgresql.conf` given here is used as the base the harness appends
    /// its settings to.
    pub fn file(
        mut self,
        relative_name: impl Into<PathBuf>,
        contents: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Self {
        self.files.push(DataFile {
            path: relative_name.into(),
            contents: contents.into(),
            mode,
        });
        self
    }

    /// Creates the cluster and starts the server (see [`PgServer`]).
    ///
    /// # Errors
    ///
    /// Fails when the binaries are missing, an invalid setting name,
    /// `pg_hba.conf` line or file name was given, or the server does not
    /// start; the latter error includes the end of the server log.
    pub fn start(&self) -> Result<PgServer, HarnessError> {
        self.validate()?;
        let binaries = PgBinaries::locate()?;
        let account = ServerAccount::get()?;
        let template = template::ensure_template(&binaries, &account)?;

        // From here on, dropping `server` stops whatever runs and removes
        // its directory, also on the error paths below.
        let server = PgServer::unstarted(binaries, account)?;
        server.prepare(&template, self)?;
        server
            .configure_and_start(&self.settings)
            .map_err(|error| with_template_hint(error, &template))
    }

    fn validate(&self) -> Result<(), HarnessError> {
        for (name, _) in &self.settings {
            config::validate_setting_name(name)?;
        }
        for line in &self.hba_lines {
            config::validate_hba_line(line)?;
        }
        for file in &self.files {
            let inside = file.path.components().next().is_some()
                && file
                    .path
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
            if !inside {
                return Err(HarnessError::invalid(format!(
                    "data directory file name {} must be a relative path without `..`",
                    file.path.display()
                )));
            }
            if file.mode > 0o7777 {
                return Err(HarnessError::invalid(format!(
                    "file mode {:#o} for {} is not a permission mode",
                    file.mode,
                    file.path.display()
                )));
            }
        }
        Ok(())
    }
}

/// A private PostgreSQL server (cluster) owned by one test or shared by the
/// tests of a process.
///
/// [`start`](PgServer::start) copies a cached, `initdb`-ed template into a
/// new directory under the system temporary directory, configures it for
/// speed (no `fsync`, small `shared_buffers`, `max_connections = 300`), picks
/// a free port on `127.0.0.1` (never 5432), and starts it with `pg_ctl`.
/// The superuser is `postgres` and needs no password; other roles must
/// authenticate with their password over TCP. When the tests run as root,
/// the server runs as the OS user `postgres`.
///
/// Dropping the value (also while unwinding from a panic) stops the server
/// immediately and deletes its directory.
///
/// [`stop`](PgServer::stop), [`start_again`](PgServer::start_again) and
/// [`restart`](PgServer::restart) inject faults while keeping the cluster and
/// the port; they take `&self`, so a server shared through an
/// [`Arc`](std::sync::Arc) can be controlled by any holder. Concurrent calls
/// are serialized.
#[derive(Debug)]
pub struct PgServer {
    binaries: PgBinaries,
    pub(crate) account: ServerAccount,
    base_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
    control: Mutex<()>,
}

/// A failed start, and whether it failed because the port was taken.
pub(crate) struct StartFailure {
    port_in_use: bool,
    pub(crate) error: HarnessError,
}

impl From<HarnessError> for StartFailure {
    fn from(error: HarnessError) -> Self {
        StartFailure {
            port_in_use: false,
            error,
        }
    }
}

impl PgServer {
    /// Starts a server with the default configuration; same as
    /// `PgServer::builder().start()`.
    ///
    /// # Errors
    ///
    /// See [`PgServerBuilder::start`].
    pub fn start() -> Result<PgServer, HarnessError> {
        PgServerBuilder::default().start()
    }

    /// A builder for a server with extra settings, `pg_hba.conf` lines or
    /// data-directory files.
    pub fn builder() -> PgServerBuilder {
        PgServerBuilder::default()
    }

    /// The TCP port the server listens on (never 5432). It stays the same
    /// across [`stop`](PgServer::stop)/[`start_again`](PgServer::start_again)
    /// and [`restart`](PgServer::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host the server listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The directory holding the server's Unix socket
    /// (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log file (`pg_ctl -l`).
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The temporary directory holding the data directory, socket directory
    /// and log; it is deleted on drop.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The binaries this server runs with.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres`: the superuser,
    /// which needs no password.
    pub fn url(&self) -> String {
        format!("postgresql://{SUPERUSER}@{HOST}:{}/postgres", self.port)
    }

    /// A URL for `user` (with `password`, if any) and database `dbname`;
    /// all three are percent-encoded.
    pub fn url_for(&self, user: &str, password: Option<&str>, dbname: &str) -> String {
        let userinfo = match password {
            Some(password) => format!("{}:{}", percent_encode(user), percent_encode(password)),
            None => percent_encode(user),
        };
        format!(
            "postgresql://{userinfo}@{HOST}:{}/{}",
            self.port,
            percent_encode(dbname)
        )
    }

    /// `host=127.0.0.1 port=PORT user=postgres dbname=postgres`.
    pub fn key_value_dsn(&self) -> String {
        format!(
            "host={HOST} port={} user={SUPERUSER} dbname=postgres",
            self.port
        )
    }

    /// `host=<socket dir> port=PORT user=postgres dbname=postgres`: connects
    /// through the Unix socket.
    pub fn socket_dsn(&self) -> String {
        format!(
            "host={} port={} user={SUPERUSER} dbname=postgres",
            quote_keyword_value(&self.socket_dir.to_string_lossy()),
            self.port
        )
    }

    /// The last `lines` lines of the server log (empty if there is no log).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read(&self.log_file)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The postmaster's process id while the server runs (first line of
    /// `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        fs::read_to_string(self.data_dir.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Runs `sql` as `postgres` on database `postgres` over TCP with
    /// `psql -X -q -At -v ON_ERROR_STOP=1` and returns the trimmed output
    /// (one line per row, columns separated by `|`).
    ///
    /// # Errors
    ///
    /// [`HarnessError::Psql`], carrying psql's stderr, when the server is
    /// unreachable or the SQL fails.
    pub fn psql(&self, sql: &str) -> Result<String, HarnessError> {
        let port = self.port.to_string();
        let connection: Vec<OsString> =
            ["-h", HOST, "-p", &port, "-U", SUPERUSER, "-d", "postgres"]
                .into_iter()
                .map(OsString::from)
                .collect();
        psql::run_psql(
            self.binaries.psql(),
            &connection,
            sql,
            &redact_dsn(&self.url()),
            Environment::Clean,
        )
    }

    /// Stops the server (`pg_ctl stop -m fast -w`): sessions are
    /// disconnected and new connections are refused until
    /// [`start_again`](PgServer::start_again). The cluster and port are kept.
    ///
    /// # Errors
    ///
    /// [`HarnessError::CommandFailed`] if `pg_ctl` fails, e.g. because the
    /// server is not running.
    pub fn stop(&self) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        let mut command = self.pg_ctl();
        command.arg("stop").arg("-D").arg(&self.data_dir).args([
            "-m",
            "fast",
            "-w",
            "-t",
            PG_CTL_TIMEOUT_SECS,
        ]);
        process::run(&mut command).map(drop)
    }

    /// Starts the server again after [`stop`](PgServer::stop), on the same
    /// cluster and port, and waits until it accepts TCP connections.
    ///
    /// # Errors
    ///
    /// [`HarnessError::ServerStart`] with the end of the server log, e.g.
    /// when it is already running or the port was taken meanwhile.
    pub fn start_again(&self) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        self.start_postmaster().map_err(|failure| failure.error)
    }

    /// Restarts the server (`pg_ctl restart -m fast -w`), disconnecting every
    /// session, and waits until it accepts TCP connections again. Works on a
    /// stopped server too.
    ///
    /// # Errors
    ///
    /// [`HarnessError::ServerStart`] with the end of the server log.
    pub fn restart(&self) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        let log_offset = self.log_len();
        let mut command = self.pg_ctl();
        command
            .arg("restart")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-m", "fast", "-w", "-t", PG_CTL_TIMEOUT_SECS]);
        let out = process::output(&mut command)?;
        if !out.status.success() {
            return Err(self.start_error(
                format!(
                    "`pg_ctl restart` failed: {}",
                    process::failure(&command, &out)
                ),
                log_offset,
            ));
        }
        self.wait_for_tcp(log_offset)
    }

    /// Whether the server is running, according to `pg_ctl status`.
    pub fn is_running(&self) -> bool {
        let mut command = self.pg_ctl();
        command.arg("status").arg("-D").arg(&self.data_dir);
        process::output(&mut command).is_ok_and(|out| out.status.success())
    }

    /// A server value owning a new, empty directory: dropping it removes
    /// the directory (and stops whatever runs in it).
    pub(crate) fn unstarted(
        binaries: PgBinaries,
        account: ServerAccount,
    ) -> Result<PgServer, HarnessError> {
        let base_dir = scratch::create_unique_dir("tidepool-pg")?;
        let server = PgServer {
            data_dir: base_dir.join("data"),
            socket_dir: base_dir.join("socket"),
            log_file: base_dir.join("server.log"),
            base_dir,
            binaries,
            account,
            port: 0,
            control: Mutex::new(()),
        };
        server.account.give(&server.base_dir)?;
        let socket_path_len = server.socket_dir.as_os_str().len() + "/.s.PGSQL.65535".len();
        if socket_path_len > MAX_SOCKET_PATH {
            return Err(HarnessError::invalid(format!(
                "the socket directory {} is too long for a Unix socket path; point TMPDIR to \
                 a shorter directory",
                server.socket_dir.display()
            )));
        }
        DirBuilder::new()
            .mode(0o700)
            .create(&server.socket_dir)
            .map_err(|e| {
                HarnessError::io(
                    format!("create directory {}", server.socket_dir.display()),
                    e,
                )
            })?;
        server.account.give(&server.socket_dir)?;
        Ok(server)
    }

    /// Appends the harness's settings (with a free port) and `extra` to the
    /// data directory's `postgresql.conf` and starts the server, trying
    /// another port when the chosen one was taken meanwhile.
    pub(crate) fn configure_and_start(
        mut self,
        extra: &[(String, String)],
    ) -> Result<PgServer, HarnessError> {
        let conf_path = self.data_dir.join("postgresql.conf");
        let base_conf = fs::read_to_string(&conf_path)
            .map_err(|e| HarnessError::io(format!("read {}", conf_path.display()), e))?;
        for attempt in 1..=PORT_ATTEMPTS {
            self.port = free_port()?;
            self.write_config(&base_conf, extra)?;
            match self.start_postmaster() {
                Ok(()) => return Ok(self),
                Err(failure) if failure.port_in_use && attempt < PORT_ATTEMPTS => continue,
                Err(failure) => return Err(failure.error),
            }
        }
        unreachable!("the last attempt always returns")
    }

    /// Writes `postgresql.conf`: `base_conf`, then the harness's settings
    /// for this server's port and socket directory, then `extra` (later
    /// lines win).
    pub(crate) fn write_config(
        &self,
        base_conf: &str,
        extra: &[(String, String)],
    ) -> Result<(), HarnessError> {
        let mut settings = config::base_settings(self.port, &self.socket_dir);
        settings.extend(extra.iter().cloned());
        let conf = format!("{base_conf}{}", config::render_settings(&settings));
        write_file(&self.data_dir.join("postgresql.conf"), conf.as_bytes())
    }

    /// Copies the template into the data directory and writes
    /// `pg_hba.conf` and the caller's files.
    fn prepare(&self, template: &Path, builder: &PgServerBuilder) -> Result<(), HarnessError> {
        // `cp -a` keeps the server user's ownership and the 0700 mode.
        process::run(
            Command::new("cp")
                .arg("-a")
                .arg(template)
                .arg(&self.data_dir),
        )?;

        let hba = self.data_dir.join("pg_hba.conf");
        write_file(&hba, config::render_hba(&builder.hba_lines).as_bytes())?;
        self.account.give(&hba)?;

        for file in &builder.files {
            self.write_data_file(file)?;
        }
        Ok(())
    }

    fn write_data_file(&self, file: &DataFile) -> Result<(), HarnessError> {
        let target = self.data_dir.join(&file.path);
        // Create missing parents one by one so each can be handed over.
        let mut dir = self.data_dir.clone();
        if let Some(parent) = file.path.parent() {
            for component in parent.components() {
                dir.push(component);
                if !dir.is_dir() {
                    DirBuilder::new().mode(0o700).create(&dir).map_err(|e| {
                        HarnessError::io(format!("create directory {}", dir.display()), e)
                    })?;
                    self.account.give(&dir)?;
                }
            }
        }
        write_file(&target, &file.contents)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode))
            .map_err(|e| HarnessError::io(format!("set the mode of {}", target.display()), e))?;
        self.account.give(&target)
    }

    /// `pg_ctl start -w`, then waits for the TCP port.
    pub(crate) fn start_postmaster(&self) -> Result<(), StartFailure> {
        let log_offset = self.log_len();
        let mut command = self.pg_ctl();
        command
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", PG_CTL_TIMEOUT_SECS]);
        let out = process::output(&mut command)?;
        if !out.status.success() {
            let new_log = self.log_since(log_offset);
            return Err(StartFailure {
                port_in_use: new_log.contains("Address already in use")
                    || new_log.contains("could not create any TCP/IP sockets"),
                error: self.start_error(
                    format!(
                        "`pg_ctl start` failed: {}",
                        process::failure(&command, &out)
                    ),
                    log_offset,
                ),
            });
        }
        Ok(self.wait_for_tcp(log_offset)?)
    }

    /// Polls until `127.0.0.1:port` accepts a TCP connection.
    fn wait_for_tcp(&self, log_offset: u64) -> Result<(), HarnessError> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let ready = process::wait_until(TCP_READY_TIMEOUT, || {
            TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
        });
        if ready {
            Ok(())
        } else {
            Err(self.start_error(
                format!(
                    "pg_ctl reported the server as started, but {address} did not accept TCP \
                     connections within {} s",
                    TCP_READY_TIMEOUT.as_secs()
                ),
                log_offset,
            ))
        }
    }

    fn start_error(&self, reason: String, log_offset: u64) -> HarnessError {
        let recent = self.log_since(log_offset);
        let lines: Vec<&str> = recent.lines().collect();
        let log_tail = if lines.is_empty() {
            self.log_tail(20)
        } else {
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        HarnessError::ServerStart {
            data_dir: self.data_dir.display().to_string(),
            reason,
            log_tail,
        }
    }

    fn log_len(&self) -> u64 {
        fs::metadata(&self.log_file).map_or(0, |m| m.len())
    }

    /// The part of the log written after byte `offset`.
    fn log_since(&self, offset: u64) -> String {
        let mut text = Vec::new();
        if let Ok(mut file) = OpenOptions::new().read(true).open(&self.log_file) {
            let _ = file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_to_end(&mut text));
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    pub(crate) fn pg_ctl(&self) -> Command {
        self.account.command(self.binaries.pg_ctl())
    }

    pub(crate) fn lock_control(&self) -> std::sync::MutexGuard<'_, ()> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `pg_ctl stop -m immediate`, falling back to `kill -9` of the
    /// postmaster.
    ///
    /// `pg_ctl -w` checks only every 100 ms, so this sends the signal with
    /// `-W` and polls for the postmaster's exit itself, which typically
    /// takes a few milliseconds.
    pub(crate) fn stop_immediately(&self) {
        let Some(pid) = self.postmaster_pid() else {
            return;
        };
        let mut command = self.pg_ctl();
        command
            .arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "immediate", "-W"]);
        let signalled = process::output(&mut command).is_ok_and(|out| out.status.success());
        let stopped = signalled
            && process::wait_until(KILL_TIMEOUT, || {
                !process::process_alive(pid, Some("postgres"))
            });
        if !stopped && !process::kill_and_wait(pid, "postgres", KILL_TIMEOUT) {
            eprintln!(
                "tidepool-testdb: could not stop the PostgreSQL server (pid {pid}) in {}",
                self.data_dir.display()
            );
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop_immediately();
        if let Err(e) = fs::remove_dir_all(&self.base_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "tidepool-testdb: could not remove {}: {e}",
                self.base_dir.display()
            );
        }
    }
}

/// Points at the cached template in a start error: a template damaged by a
/// temporary-file cleaner would make every start fail.
fn with_template_hint(error: HarnessError, template: &Path) -> HarnessError {
    match error {
        HarnessError::ServerStart {
            data_dir,
            reason,
            log_tail,
        } => HarnessError::ServerStart {
            data_dir,
            reason: format!(
                "{reason}\n(the cluster is a copy of the cached template {}; delete that \
                 directory if the log suggests it is damaged)",
                template.display()
            ),
            log_tail,
        },
        other => other,
    }
}

/// A port on 127.0.0.1 that was free a moment ago (never 5432, nor
/// PgBouncer's 6432).
pub(crate) fn free_port() -> Result<u16, HarnessError> {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::io("bind a TCP listener to 127.0.0.1:0", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::io("read the address of a TCP listener", e))?
            .port();
        if port != FORBIDDEN_PORT && port != FORBIDDEN_BOUNCER_PORT {
            return Ok(port);
        }
    }
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), HarnessError> {
    fs::write(path, contents).map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
}
