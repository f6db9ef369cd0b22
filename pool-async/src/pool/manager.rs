//! Opening, checking and resetting PostgreSQL connections for the engine.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tidepool_core::Sweeper;
use tokio_postgres::Config;
use tokio_postgres::config::Host;

use crate::error::Error;
use crate::hosts::{Role, RoleWatch, SessionAttrs};
use crate::pool::hooks::Hooks;
use crate::pool::roster::{ConnectionInfo, Listed, Roster};
use crate::pool::source::ConnectSettings;
use crate::session::cache::CacheSettings;
use crate::session::cancel::{CancelTarget, Canceller};
use crate::session::connection::Connection;
use crate::session::notice::Notices;

/// Opens tokio-postgres connections for the engine, checks and resets them.
pub(crate) struct PgManager {
    settings: Arc<ConnectSettings>,
    /// Where connections go ("db:5432"), when that is fixed; never holds
    /// a password.
    target: Option<String>,
    hooks: Hooks,
    query_timeout: Option<Duration>,
    cache: CacheSettings,
    /// Where the server's notices go.
    notices: Notices,
    /// Listener connections open now (`Stats::listeners`).
    listeners: Arc<AtomicUsize>,
    /// Whether statements' durations are recorded as metrics.
    statement_metrics: bool,
    /// The open connections and the server each reached.
    roster: Arc<Roster>,
    /// Asks the pool to close idle connections whose server no longer
    /// fits, given by the pool when it is built.
    sweeper: OnceLock<Sweeper>,
}

impl PgManager {
    pub(crate) fn new(
        settings: ConnectSettings,
        hooks: Hooks,
        query_timeout: Option<Duration>,
        cache: CacheSettings,
    ) -> Self {
        let target = settings.fixed_config().map(describe_target);
        Self {
            settings: Arc::new(settings),
            target,
            hooks,
            query_timeout,
            cache,
            notices: Notices::new("tidepool", None),
            listeners: Arc::default(),
            statement_metrics: false,
            roster: Arc::default(),
            sweeper: OnceLock::new(),
        }
    }

    /// Records every statement's duration in the
    /// `db.client.operation.duration` histogram.
    pub(crate) fn with_statement_metrics(mut self, on: bool) -> Self {
        self.statement_metrics = on;
        self
    }

    /// Sends the server's notices to `notices`.
    pub(crate) fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = notices;
        self
    }

    /// Where the server's notices go.
    pub(crate) fn notices(&self) -> &Notices {
        &self.notices
    }

    /// The connection settings, for a listener's connections.
    pub(crate) fn connect_settings(&self) -> Arc<ConnectSettings> {
        Arc::clone(&self.settings)
    }

    /// The gauge of open listener connections, for a listener to keep.
    pub(crate) fn listeners(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.listeners)
    }

    /// The open connections now, each with the server it reached.
    pub(crate) fn connections(&self) -> Vec<ConnectionInfo> {
        self.roster.snapshot()
    }

    /// How many listener connections are open now.
    pub(crate) fn open_listeners(&self) -> usize {
        self.listeners.load(Relaxed)
    }
}

/// "host:port" for each host of the configuration, joined by ", ".
fn describe_target(config: &Config) -> String {
    let ports = config.get_ports();
    let targets: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    if !targets.is_empty() {
        return targets.join(", ");
    }
    let addresses: Vec<String> = config
        .get_hostaddrs()
        .iter()
        .enumerate()
        .map(|(i, address)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            std::net::SocketAddr::new(*address, port).to_string()
        })
        .collect();
    if addresses.is_empty() {
        "the default host".to_owned()
    } else {
        addresses.join(", ")
    }
}

/// A connection's place in the pool: empty while the connection is checked
/// out (its guard owns it then, with the row factory of the checkout).
pub(crate) struct Parked {
    conn: Option<Connection>,
    /// What the connection's server is, kept up to date by its task.
    role: Arc<Role>,
    /// What the connection string asked of the server.
    attrs: SessionAttrs,
    /// The connection's entry in [`Pool::connections`](crate::Pool::connections).
    listed: Listed,
}

impl Parked {
    /// Takes the connection out for a checkout.
    pub(crate) fn take(&mut self) -> Option<Connection> {
        self.listed.set_in_use(true);
        self.conn.take()
    }

    /// Puts the connection back at the end of a checkout.
    pub(crate) fn put_back(&mut self, conn: Connection) {
        self.listed.set_in_use(false);
        self.conn = Some(conn);
    }

    /// The connection, for the pool's own work on an idle connection.
    fn conn(&mut self) -> Result<&mut Connection, Error> {
        self.conn
            .as_mut()
            .ok_or_else(|| Error::config("a connection was missing from its slot in the pool"))
    }

    /// Asks the server for its role, where the pool asked for one, and
    /// fails when it no longer fits (a standby promoted, a primary turned
    /// read-only).
    async fn check_role(&mut self) -> Result<(), Error> {
        let (role, attrs) = (Arc::clone(&self.role), self.attrs);
        if !attrs.is_strict() {
            return Ok(());
        }
        let conn = self.conn()?;
        role.refresh(conn.client_unmarked())
            .await
            .map_err(Error::db)?;
        if role.no_longer_fits(attrs) {
            return Err(Error::wrong_role(
                attrs,
                conn.server().to_owned(),
                role.describe(),
            ));
        }
        Ok(())
    }
}

impl tidepool_core::Manager for PgManager {
    type Connection = Parked;
    type Error = Error;

    async fn connect(&self) -> Result<Parked, Error> {
        let target = self.settings.resolve()?;
        let attrs = target.routing.attrs;
        let connector = target.tls.connector.clone();
        let opened = target
            .connect()
            .await
            .map_err(|attempts| Error::hosts(attrs, attempts))?;
        // The connect span (the current one) names the host reached.
        tracing::Span::current().record("server", opened.server.as_str());
        let connection = opened.connection;
        let canceller = Canceller {
            token: opened.client.cancel_token(),
            target: CancelTarget::of(&opened.config),
            tls: connector,
            server: opened.server,
        };
        let mut conn = Connection::new(opened.client, canceller, self.query_timeout, self.cache);
        conn.set_peer(
            crate::session::span::Peer::of(&opened.config),
            self.statement_metrics,
        );
        // Only a pool that asks for a role gives up a connection whose
        // server changed role; the others need not read the reports.
        let watch = attrs.is_strict().then(|| RoleWatch {
            role: Arc::clone(&opened.role),
            attrs,
            sweeper: self.sweeper.get().cloned(),
        });
        crate::session::notice::spawn_driver(connection, self.notices.clone(), conn.id(), watch);
        if let Some(configure) = &self.hooks.configure {
            configure(&mut conn)
                .await
                .map_err(|e| Error::callback("configure", e))?;
            conn.settle().await?;
        }
        let listed = self.roster.list(conn.id(), conn.server());
        Ok(Parked {
            conn: Some(conn),
            role: opened.role,
            attrs,
            listed,
        })
    }

    fn attach(&self, sweeper: Sweeper) {
        // Set once: a pool attaches its manager once.
        let _ = self.sweeper.set(sweeper);
    }

    fn is_permanent(&self, error: &Error) -> bool {
        error.is_permanent_connect()
    }

    fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    fn is_broken(&self, parked: &Parked) -> bool {
        parked.conn.as_ref().is_none_or(Connection::is_unusable)
            || parked.role.no_longer_fits(parked.attrs)
    }

    async fn check(&self, parked: &mut Parked) -> Result<(), Error> {
        let strict = parked.attrs.is_strict();
        let conn = parked.conn()?;
        match &self.hooks.check {
            Some(check) => {
                check(conn).await.map_err(|e| Error::callback("check", e))?;
                conn.settle().await?;
            }
            // The role query is a round trip of its own.
            None if strict => {}
            None => conn.ping().await?,
        }
        parked.check_role().await
    }

    fn needs_reset(&self, parked: &Parked) -> bool {
        self.hooks.reset_always()
            || parked.conn.as_ref().is_some_and(|conn| {
                conn.needs_reset() || (parked.attrs.is_strict() && conn.write_refused())
            })
    }

    async fn reset(&self, parked: &mut Parked) -> Result<(), Error> {
        let strict = parked.attrs.is_strict();
        let conn = parked.conn()?;
        // A write refused as read-only (SQLSTATE 25006) may mean that the
        // server turned read-only without reporting it (a server before
        // PostgreSQL 14, or a pooler that does not pass the reports on):
        // a pool that needs a certain role asks the server again, after
        // the rollback, so that a transaction the user made read-only
        // (`SET TRANSACTION READ ONLY`) does not count.
        let recheck_role = conn.take_write_refused() && strict;
        if conn.has_statement_in_flight() {
            // The server runs statements in order: the rollback below would
            // wait for the running one. Cancel it instead of waiting.
            conn.cancel_running().await;
        }
        conn.settle().await?;
        if let Some(sql) = &self.hooks.reset_sql {
            conn.run_reset_sql(sql).await?;
        }
        if let Some(reset) = &self.hooks.reset {
            reset(conn).await.map_err(|e| Error::callback("reset", e))?;
            conn.settle().await?;
        }
        if recheck_role {
            parked.check_role().await?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgManager")
            .field("settings", &self.settings)
            .field("hooks", &self.hooks)
            .field("query_timeout", &self.query_timeout)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}
