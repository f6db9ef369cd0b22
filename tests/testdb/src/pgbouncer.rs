//! A private PgBouncer in front of a private PostgreSQL server.
//!
//! It runs in transaction pooling mode by default, with fewer server
//! connections than the pools under test (`default_pool_size`, 2 by
//! default), so that consecutive transactions of one client really land on
//! different server connections. Clients log in as a role the harness
//! creates on the server, with a password checked by PgBouncer
//! (`scram-sha-256`) and again by the server; an admin user reaches the
//! console (`SHOW POOLS`, `SHOW SERVERS`, ...). When the tests run as root,
//! PgBouncer runs as the OS user `postgres`, as the server does.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::conninfo::percent_encode;
use crate::error::HarnessError;
use crate::process::{self, ServerAccount};
use crate::psql::{self, Environment};
use crate::scratch;
use crate::server::{PgServer, free_port};

/// The address PgBouncer listens on.
const HOST: &str = "127.0.0.1";
/// The admin console's user; it exists only in PgBouncer's auth file.
const ADMIN_USER: &str = "tidepool_admin";
/// Where Debian's package installs PgBouncer.
const DEFAULT_BINARY: &str = "/usr/sbin/pgbouncer";
/// How many ports to try when the chosen one is taken before PgBouncer
/// binds it.
const PORT_ATTEMPTS: usize = 5;
/// How long to wait for PgBouncer to accept connections, or to exit.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Configuration for a [`PgBouncer`]; obtained from [`PgBouncer::builder`].
///
/// ```no_run
/// use tidepool_testdb::{PgBouncer, PgServer};
///
/// let server = PgServer::start()?;
/// let bouncer = PgBouncer::builder().default_pool_size(3).start(&server)?;
/// assert_eq!(tidepool_testdb::psql_url(&bouncer.url(), "select 1")?, "1");
/// # Ok::<(), tidepool_testdb::HarnessError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PgBouncerBuilder {
    pool_mode: String,
    default_pool_size: u32,
    settings: Vec<(String, String)>,
}

impl Default for PgBouncerBuilder {
    fn default() -> Self {
        Self {
            pool_mode: "transaction".to_owned(),
            default_pool_size: 2,
            settings: Vec::new(),
        }
    }
}

impl PgBouncerBuilder {
    /// Sets `pool_mode`: `transaction` (the default), `session` or
    /// `statement`.
    pub fn pool_mode(mut self, mode: impl Into<String>) -> Self {
        self.pool_mode = mode.into();
        self
    }

    /// Sets `default_pool_size`, the server connections per database and
    /// user. Defaults to 2: smaller than the pools under test, so that
    /// server connections switch between clients' transactions.
    pub fn default_pool_size(mut self, size: u32) -> Self {
        self.default_pool_size = size;
        self
    }

    /// Adds a setting to the `[pgbouncer]` section, written after the
    /// harness's own (the later one wins), e.g. `("server_round_robin",
    /// "1")`.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Creates the login role on `server`, writes the configuration and the
    /// auth file, and starts PgBouncer on a free port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// [`HarnessError::PgBouncerNotFound`] without the binary, an invalid
    /// setting, a failure to create the role, or a PgBouncer that does not
    /// start (the error carries the end of its log).
    pub fn start(&self, server: &PgServer) -> Result<PgBouncer, HarnessError> {
        self.validate()?;
        let binary = locate()?;
        let account = ServerAccount::get()?;
        let base_dir = scratch::create_unique_dir("tidepool-bouncer")?;
        let user = format!("bouncer_{}_{}", std::process::id(), next_number());
        let mut bouncer = PgBouncer {
            binary,
            account,
            config_file: base_dir.join("pgbouncer.ini"),
            auth_file: base_dir.join("userlist.txt"),
            log_file: base_dir.join("pgbouncer.log"),
            pid_file: base_dir.join("pgbouncer.pid"),
            socket_dir: base_dir.join("socket"),
            base_dir,
            port: 0,
            server_port: server.port(),
            user,
            password: random_secret()?,
            admin_password: random_secret()?,
            pool_size: self.default_pool_size,
            control: Mutex::new(()),
        };
        bouncer.prepare(server)?;
        for attempt in 1..=PORT_ATTEMPTS {
            bouncer.port = free_port()?;
            bouncer.write_config(self)?;
            match bouncer.launch() {
                Ok(()) => return Ok(bouncer),
                Err(failure) if failure.port_in_use && attempt < PORT_ATTEMPTS => continue,
                Err(failure) => return Err(failure.error),
            }
        }
        unreachable!("the last attempt always returns")
    }

    fn validate(&self) -> Result<(), HarnessError> {
        if !matches!(
            self.pool_mode.as_str(),
            "session" | "transaction" | "statement"
        ) {
            return Err(HarnessError::invalid(format!(
                "pool_mode {:?} is not one of session, transaction, statement",
                self.pool_mode
            )));
        }
        if self.default_pool_size == 0 {
            return Err(HarnessError::invalid(
                "default_pool_size is 0: PgBouncer would open no server connection",
            ));
        }
        for (name, value) in &self.settings {
            let valid_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name || value.contains(['\n', '\r']) {
                return Err(HarnessError::invalid(format!(
                    "{name:?} = {value:?} is not a valid PgBouncer setting"
                )));
            }
        }
        Ok(())
    }
}

/// A private PgBouncer, in transaction pooling mode by default, in front
/// of a [`PgServer`].
///
/// It listens on `127.0.0.1` on a free port (never 5432 or 6432) and on a
/// Unix socket in its own directory. Every database name is forwarded to
/// the server's database of the same name. Clients log in as
/// [`user`](PgBouncer::user) with [`password`](PgBouncer::password); the
/// admin console ([`admin`](PgBouncer::admin), [`show`](PgBouncer::show))
/// has a user of its own.
///
/// Dropping the value (also while unwinding from a panic) stops PgBouncer
/// and deletes its directory; the server is left alone.
/// [`stop`](PgBouncer::stop), [`start_again`](PgBouncer::start_again) and
/// [`restart`](PgBouncer::restart) keep the port.
pub struct PgBouncer {
    binary: PathBuf,
    account: ServerAccount,
    base_dir: PathBuf,
    config_file: PathBuf,
    auth_file: PathBuf,
    log_file: PathBuf,
    pid_file: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    server_port: u16,
    user: String,
    password: String,
    admin_password: String,
    pool_size: u32,
    control: Mutex<()>,
}

/// A failed start, and whether it failed because the port was taken.
struct LaunchFailure {
    port_in_use: bool,
    error: HarnessError,
}

impl From<HarnessError> for LaunchFailure {
    fn from(error: HarnessError) -> Self {
        LaunchFailure {
            port_in_use: false,
            error,
        }
    }
}

impl PgBouncer {
    /// A builder for a PgBouncer with other settings.
    pub fn builder() -> PgBouncerBuilder {
        PgBouncerBuilder::default()
    }

    /// Starts a PgBouncer with the default settings in front of `server`;
    /// same as `PgBouncer::builder().start(server)`.
    ///
    /// # Errors
    ///
    /// See [`PgBouncerBuilder::start`].
    pub fn start(server: &PgServer) -> Result<PgBouncer, HarnessError> {
        PgBouncerBuilder::default().start(server)
    }

    /// The TCP port PgBouncer listens on; it stays the same across
    /// [`restart`](PgBouncer::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host PgBouncer listens on: `"127.0.0.1"`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The directory of PgBouncer's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// PgBouncer's log file.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The port of the server behind it.
    pub fn server_port(&self) -> u16 {
        self.server_port
    }

    /// The server connections per database and user (`default_pool_size`).
    pub fn pool_size(&self) -> u32 {
        self.pool_size
    }

    /// The role clients log in as (it exists on the server too).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The role's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgresql://USER:PASSWORD@127.0.0.1:PORT/postgres`: database
    /// `postgres` of the server, through PgBouncer.
    pub fn url(&self) -> String {
        self.url_for_database("postgres")
    }

    /// As [`url`](PgBouncer::url), for another database of the server.
    pub fn url_for_database(&self, dbname: &str) -> String {
        format!(
            "postgresql://{}:{}@{HOST}:{}/{}",
            percent_encode(&self.user),
            percent_encode(&self.password),
            self.port,
            percent_encode(dbname)
        )
    }

    /// The admin console's URL (database `pgbouncer`).
    pub fn admin_url(&self) -> String {
        format!(
            "postgresql://{ADMIN_USER}:{}@{HOST}:{}/pgbouncer",
            percent_encode(&self.admin_password),
            self.port
        )
    }

    /// Runs a command on the admin console (`SHOW POOLS`, `RELOAD`, ...)
    /// and returns psql's trimmed output (one line per row, columns
    /// separated by `|`).
    ///
    /// # Errors
    ///
    /// [`HarnessError::Psql`] when PgBouncer is unreachable or refuses the
    /// command.
    pub fn admin(&self, command: &str) -> Result<String, HarnessError> {
        psql::run_psql(
            &crate::binaries::locate_psql()?,
            &[OsString::from("-d"), OsString::from(self.admin_url())],
            command,
            &self.redacted_admin_target(),
            Environment::Clean,
        )
    }

    /// Runs `SHOW <what>` (`POOLS`, `SERVERS`, `CLIENTS`, ...) on the admin
    /// console and returns its rows as maps from column name to value.
    ///
    /// # Errors
    ///
    /// As for [`admin`](PgBouncer::admin).
    pub fn show(&self, what: &str) -> Result<Vec<BTreeMap<String, String>>, HarnessError> {
        if !what.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return Err(HarnessError::invalid(format!(
                "{what:?} is not a SHOW command of PgBouncer"
            )));
        }
        let text = psql::run_psql_table(
            &crate::binaries::locate_psql()?,
            &[OsString::from("-d"), OsString::from(self.admin_url())],
            &format!("SHOW {what}"),
            &self.redacted_admin_target(),
        )?;
        let mut lines = text.lines();
        let Some(header) = lines.next() else {
            return Ok(Vec::new());
        };
        let columns: Vec<&str> = header.split('|').collect();
        Ok(lines
            .map(|line| {
                columns
                    .iter()
                    .map(|c| (*c).to_owned())
                    .zip(line.split('|').map(str::to_owned))
                    .collect()
            })
            .collect())
    }

    /// The server connections PgBouncer holds for the login role
    /// (`SHOW SERVERS`), each as a map from column name to value.
    ///
    /// # Errors
    ///
    /// As for [`admin`](PgBouncer::admin).
    pub fn servers(&self) -> Result<Vec<BTreeMap<String, String>>, HarnessError> {
        Ok(self
            .show("SERVERS")?
            .into_iter()
            .filter(|row| row.get("user").map(String::as_str) == Some(self.user.as_str()))
            .collect())
    }

    /// The last `lines` lines of PgBouncer's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read(&self.log_file)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// PgBouncer's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }

    /// Whether PgBouncer runs.
    pub fn is_running(&self) -> bool {
        self.pid()
            .is_some_and(|pid| process::process_alive(pid, Some("pgbouncer")))
    }

    /// Stops PgBouncer at once (SIGTERM: every client and server connection
    /// is closed). The port is kept for [`start_again`](PgBouncer::start_again).
    ///
    /// # Errors
    ///
    /// When PgBouncer does not exit.
    pub fn stop(&self) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        self.terminate()
    }

    /// Starts PgBouncer again after [`stop`](PgBouncer::stop), on the same
    /// port, and waits until it accepts connections.
    ///
    /// # Errors
    ///
    /// When it does not start (the port taken meanwhile, say), with the end
    /// of its log.
    pub fn start_again(&self) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        self.launch().map_err(|failure| failure.error)
    }

    /// Stops and starts PgBouncer on the same port: every client connection
    /// is closed, and the server connections with them.
    ///
    /// # Errors
    ///
    /// As for [`stop`](PgBouncer::stop) and
    /// [`start_again`](PgBouncer::start_again).
    pub fn restart(&self) -> Result<(), HarnessError> {
        let _control = self.lock_control();
        self.terminate()?;
        self.launch().map_err(|failure| failure.error)
    }

    /// Points PgBouncer at another server, as an operator does after a
    /// failover: rewrites the configuration, reloads it, and has every
    /// server connection replaced once its client is done with it
    /// (`RECONNECT`). Clients stay connected; their next transactions run
    /// on `server`, and PgBouncer does not tell them.
    ///
    /// # Errors
    ///
    /// When the configuration cannot be rewritten, or PgBouncer refuses
    /// `RELOAD` or `RECONNECT`.
    pub fn retarget(&mut self, server: &PgServer) -> Result<(), HarnessError> {
        let io = |e| HarnessError::io(format!("rewrite {}", self.config_file.display()), e);
        let text = fs::read_to_string(&self.config_file).map_err(io)?;
        let from = format!("* = host={HOST} port={}\n", self.server_port);
        let to = format!("* = host={HOST} port={}\n", server.port());
        if !text.contains(&from) {
            return Err(HarnessError::invalid(format!(
                "the configuration does not name port {}",
                self.server_port
            )));
        }
        write_private(&self.config_file, text.replacen(&from, &to, 1).as_bytes())?;
        self.account.give(&self.config_file)?;
        self.server_port = server.port();
        self.admin("RELOAD")?;
        self.admin("RECONNECT")?;
        Ok(())
    }

    /// Creates the role on the server and the directories and auth file.
    fn prepare(&self, server: &PgServer) -> Result<(), HarnessError> {
        server.psql(&format!(
            "CREATE ROLE {user} LOGIN CREATEDB PASSWORD '{password}'; \
             GRANT ALL ON SCHEMA public TO {user}; \
             GRANT pg_read_all_stats, pg_signal_backend TO {user};",
            user = self.user,
            password = self.password,
        ))?;
        self.account.give(&self.base_dir)?;
        DirBuilder::new()
            .mode(0o700)
            .create(&self.socket_dir)
            .map_err(|e| {
                HarnessError::io(format!("create directory {}", self.socket_dir.display()), e)
            })?;
        self.account.give(&self.socket_dir)?;
        // Plain passwords: PgBouncer needs them to log in to the server
        // with SCRAM; clients prove theirs with SCRAM too.
        let auth = format!(
            "\"{}\" \"{}\"\n\"{ADMIN_USER}\" \"{}\"\n",
            self.user, self.password, self.admin_password
        );
        write_private(&self.auth_file, auth.as_bytes())?;
        self.account.give(&self.auth_file)
    }

    fn write_config(&self, builder: &PgBouncerBuilder) -> Result<(), HarnessError> {
        let mut settings: Vec<(String, String)> = [
            ("listen_addr", HOST.to_owned()),
            ("listen_port", self.port.to_string()),
            (
                "unix_socket_dir",
                self.socket_dir.to_string_lossy().into_owned(),
            ),
            ("auth_type", "scram-sha-256".to_owned()),
            ("auth_file", self.auth_file.to_string_lossy().into_owned()),
            ("admin_users", ADMIN_USER.to_owned()),
            ("pool_mode", builder.pool_mode.clone()),
            ("default_pool_size", builder.default_pool_size.to_string()),
            ("min_pool_size", "0".to_owned()),
            ("reserve_pool_size", "0".to_owned()),
            ("max_client_conn", "1000".to_owned()),
            ("logfile", self.log_file.to_string_lossy().into_owned()),
            ("pidfile", self.pid_file.to_string_lossy().into_owned()),
            // Clients such as sqlx and JDBC send it; PgBouncer would refuse
            // them otherwise.
            ("ignore_startup_parameters", "extra_float_digits".to_owned()),
            // Retry a server login after a server restart at once, not in
            // 15 s.
            ("server_login_retry", "1".to_owned()),
            ("log_connections", "0".to_owned()),
            ("log_disconnections", "0".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        settings.extend(builder.settings.iter().cloned());
        let mut text = format!(
            "; Written by the tidepool test harness; later lines win.\n[databases]\n\
             * = host={HOST} port={}\n\n[pgbouncer]\n",
            self.server_port
        );
        for (name, value) in settings {
            text.push_str(&format!("{name} = {value}\n"));
        }
        write_private(&self.config_file, text.as_bytes())?;
        self.account.give(&self.config_file)
    }

    /// Starts the daemon and waits until it accepts TCP connections.
    fn launch(&self) -> Result<(), LaunchFailure> {
        let log_offset = fs::metadata(&self.log_file).map_or(0, |m| m.len());
        let mut command = self.account.command(&self.binary);
        command.arg("-d").arg("-q").arg(&self.config_file);
        let out = process::output(&mut command)?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut exited = false;
        let ready = out.status.success()
            && process::wait_until(READY_TIMEOUT, || {
                if (self.pid().is_some() && !self.is_running())
                    || self.log_since(log_offset).contains("FATAL")
                {
                    exited = true;
                    return true;
                }
                self.is_running()
                    && TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
            })
            && !exited;
        if ready {
            return Ok(());
        }
        let log = self.log_since(log_offset);
        let reason = if out.status.success() {
            format!(
                "it did not accept connections on {address} within {} s",
                READY_TIMEOUT.as_secs()
            )
        } else {
            process::failure(&command, &out).to_string()
        };
        // Whatever started must not outlive the failure.
        let _ = self.terminate();
        Err(LaunchFailure {
            port_in_use: log.contains("Address already in use"),
            error: HarnessError::ServerStart {
                data_dir: self.base_dir.display().to_string(),
                reason: format!("PgBouncer did not start: {reason}"),
                log_tail: last_lines(&log, 30),
            },
        })
    }

    /// SIGTERM (PgBouncer's immediate shutdown), then SIGKILL if it lingers.
    fn terminate(&self) -> Result<(), HarnessError> {
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        if process::process_alive(pid, Some("pgbouncer")) {
            let _ = process::output(Command::new("kill").arg("-TERM").arg(pid.to_string()));
            let gone = process::wait_until(READY_TIMEOUT, || !process::process_alive(pid, None))
                || process::kill_and_wait(pid, "pgbouncer", READY_TIMEOUT);
            if !gone {
                return Err(HarnessError::invalid(format!(
                    "PgBouncer (pid {pid}) did not exit after SIGTERM and SIGKILL"
                )));
            }
        }
        // A killed PgBouncer leaves its pid file, which would stop the
        // next start.
        let _ = fs::remove_file(&self.pid_file);
        Ok(())
    }

    fn log_since(&self, offset: u64) -> String {
        let mut text = Vec::new();
        if let Ok(mut file) = OpenOptions::new().read(true).open(&self.log_file) {
            let _ = file
                .seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_to_end(&mut text));
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    fn redacted_admin_target(&self) -> String {
        format!("the PgBouncer admin console on {HOST}:{}", self.port)
    }

    fn lock_control(&self) -> std::sync::MutexGuard<'_, ()> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for PgBouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBouncer")
            .field("port", &self.port)
            .field("server_port", &self.server_port)
            .field("user", &self.user)
            .field("pool_size", &self.pool_size)
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Err(e) = self.terminate() {
            eprintln!("tidepool-testdb: {e}");
        }
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

/// The PgBouncer binary: `PATH`, then Debian's `/usr/sbin/pgbouncer`.
fn locate() -> Result<PathBuf, HarnessError> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbouncer"))
        .chain(std::iter::once(PathBuf::from(DEFAULT_BINARY)))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .ok_or(HarnessError::PgBouncerNotFound)
}

fn next_number() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// 32 hexadecimal digits from the kernel's random source.
fn random_secret() -> Result<String, HarnessError> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(|e| HarnessError::io("read /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), HarnessError> {
    fs::write(path, contents)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o600)))
        .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
