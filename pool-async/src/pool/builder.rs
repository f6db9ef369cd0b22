//! Building a PostgreSQL pool in code.

use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use tidepool_core::PoolConfig;

use crate::conninfo::{ConnInfo, parse_dsn};
use crate::error::Error;
use crate::pool::handle::Pool;
use crate::pool::hooks::{HookFuture, Hooks};
use crate::pool::manager::PgManager;
use crate::pool::session_settings::SessionSettings;
use crate::pool::source::{ConnectSettings, Source, StringFn};
use crate::rows::{RowFactory, TupleRow};
use crate::session::cache::CacheSettings;
use crate::session::connection::Connection;
use crate::session::notice::Notices;

/// Builds a [`Pool`]: start from [`Pool::builder`], set what differs from
/// the defaults, then call [`build`](PoolBuilder::build).
///
/// `R` is the row factory of the pool's connections, set with
/// [`row_factory`](PoolBuilder::row_factory).
pub struct PoolBuilder<R = TupleRow> {
    source: Result<Source, Error>,
    password: Option<StringFn>,
    query_timeout: Option<Duration>,
    cache: CacheSettings,
    config: PoolConfig,
    hooks: Hooks,
    reconnect_failed: Option<ReconnectFailed>,
    statement_metrics: bool,
    rows: R,
}

/// The callback run when connects kept failing for `reconnect_timeout`.
type ReconnectFailed = Arc<dyn Fn(&Pool) + Send + Sync>;

impl Pool {
    /// Starts building a pool for a libpq connection string: a URL
    /// (`postgresql://user:password@host:5432/dbname?sslmode=verify-full`)
    /// or key=value pairs (`host=/run/postgresql user=app dbname=app`; a
    /// host that starts with `/` is a Unix socket directory). A string that
    /// cannot be parsed is reported by [`PoolBuilder::build`].
    ///
    /// Besides tokio-postgres's keys (several hosts and ports, walked in
    /// libpq's order with libpq's `target_session_attrs` — `any`,
    /// `read-write`, `read-only`, `primary`, `standby`, `prefer-standby`,
    /// default `any` — and `load_balance_hosts` — `disable`, `random`,
    /// default `disable`; `application_name`, `connect_timeout`,
    /// keepalives, `options`, ...), the string takes libpq's TLS keys:
    ///
    /// - `sslmode`: `disable` (plain only), `allow` (plain, then TLS if the
    ///   server refuses plain), `prefer` (TLS if the server offers it, the
    ///   default), `require` (TLS only), `verify-ca` (TLS, the certificate
    ///   must chain to a trusted root) or `verify-full` (also naming the
    ///   host). `prefer` and `require` check the certificate's chain only
    ///   when `sslrootcert` is given, as libpq does. Ignored over Unix
    ///   sockets.
    /// - `sslrootcert`: the trusted roots, a PEM file, or `system` for the
    ///   operating system's store (then `sslmode` must be `verify-full`, its
    ///   default). Without it, `verify-ca` and `verify-full` use the
    ///   system's store.
    /// - `sslcert` and `sslkey`: a client certificate and its unencrypted
    ///   private key (PEM), for `cert` authentication.
    ///
    /// libpq's environment variables (`PGHOST`, `PGUSER`, `PGSSLMODE`,
    /// ...), a service file (`service=`), the password file (`.pgpass`) and
    /// libpq's defaults fill what the string leaves out; the README's
    /// "The connection string" lists every key and variable read. The
    /// certificate files are read once, when the pool is built.
    pub fn builder(dsn: &str) -> PoolBuilder {
        PoolBuilder::new(parse_dsn(dsn).map(|info| Source::Fixed(Box::new(info))))
    }

    /// Starts building a pool from a tokio-postgres configuration. Its
    /// `ssl_mode` means what libpq's does (`prefer` and `require` use TLS
    /// without checking the server's certificate); no environment variable
    /// is read.
    pub fn builder_from_config(config: tokio_postgres::Config) -> PoolBuilder {
        PoolBuilder::new(Ok(Source::Fixed(Box::new(ConnInfo::from_config(config)))))
    }

    /// Starts building a pool whose connection string is asked for at every
    /// connect, as psycopg_pool allows: for credentials or hosts that change
    /// while the program runs. A string that cannot be parsed fails that
    /// connect, with the parse error in the pool's connection error. The
    /// string is read as for [`builder`](Pool::builder); the certificate
    /// files are read again whenever its TLS keys change.
    ///
    /// The function should return at once (read a value kept up to date
    /// elsewhere); it runs on the pool's background task.
    pub fn builder_from_fn(dsn: impl Fn() -> String + Send + Sync + 'static) -> PoolBuilder {
        PoolBuilder::new(Ok(Source::Dynamic(std::sync::Arc::new(dsn))))
    }
}

impl PoolBuilder {
    /// A builder with every default: [`PoolConfig::default`] and
    /// [`SessionSettings::default`], the one source of both.
    pub(crate) fn new(source: Result<Source, Error>) -> Self {
        Self {
            source,
            password: None,
            query_timeout: None,
            cache: CacheSettings {
                threshold: None,
                max: 0,
                pgbouncer: false,
            },
            config: PoolConfig::default(),
            hooks: Hooks::default(),
            reconnect_failed: None,
            statement_metrics: false,
            rows: TupleRow,
        }
        .session(SessionSettings::default())
    }
}

impl<R> PoolBuilder<R> {
    tidepool_core::__pool_config_setters!();

    /// Replaces every session setting at once ([`SessionSettings`], as a
    /// settings file holds them): `query_timeout`, `prepare_threshold`,
    /// `prepared_max`, `reset_sql`, `pgbouncer` and `statement_metrics`.
    pub fn session(mut self, session: SessionSettings) -> Self {
        let SessionSettings {
            query_timeout,
            prepare_threshold,
            prepared_max,
            reset_sql,
            pgbouncer,
            statement_metrics,
        } = session;
        self.query_timeout = query_timeout;
        self.cache = CacheSettings {
            threshold: prepare_threshold,
            max: prepared_max,
            pgbouncer,
        };
        self.hooks.reset_sql = reset_sql;
        self.statement_metrics = statement_metrics;
        self
    }

    /// Sets the row factory of the pool's connections: what `query`,
    /// `query_one`, `query_opt` and cursors return for each row. Defaults
    /// to [`TupleRow`], the protocol row.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tidepool_async::Error> {
    /// use tidepool_async::{Pool, class_row};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct User {
    ///     id: i64,
    ///     name: String,
    /// }
    ///
    /// let pool = Pool::builder("postgresql://app@localhost/app")
    ///     .row_factory(class_row::<User>())
    ///     .build()?;
    /// let users: Vec<User> = pool.get().await?.query("SELECT id, name FROM users", &[]).await?;
    /// # Ok(()) }
    /// ```
    pub fn row_factory<F: RowFactory + Clone>(self, rows: F) -> PoolBuilder<F> {
        PoolBuilder {
            source: self.source,
            password: self.password,
            query_timeout: self.query_timeout,
            cache: self.cache,
            config: self.config,
            hooks: self.hooks,
            reconnect_failed: self.reconnect_failed,
            statement_metrics: self.statement_metrics,
            rows,
        }
    }

    /// Sets a function called when connects have failed for longer than
    /// `reconnect_timeout` (once per run of failures; the pool keeps
    /// retrying), given a handle to the pool (with the protocol row as its
    /// row factory). Defaults to none: the failure is logged.
    pub fn reconnect_failed(mut self, callback: impl Fn(&Pool) + Send + Sync + 'static) -> Self {
        self.reconnect_failed = Some(Arc::new(callback));
        self
    }

    /// Sets a callback run once on every new connection before the pool
    /// uses it (to set `search_path`, time zones, prepared statements, ...).
    /// An error closes the connection and counts as a failed connect.
    /// Defaults to none.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), tidepool_async::Error> {
    /// let pool = tidepool_async::Pool::builder("postgresql://app@localhost/app")
    ///     .configure(|conn| Box::pin(async move {
    ///         conn.batch_execute("SET search_path TO app, public").await
    ///     }))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn configure(
        mut self,
        callback: impl for<'a> Fn(&'a mut Connection) -> HookFuture<'a> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.configure = Some(Arc::new(callback));
        self
    }

    /// Sets the health check run on idle connections when the
    /// [`health_check`](PoolBuilder::health_check) policy asks, instead of
    /// the default empty query. An error closes the connection. Defaults
    /// to the empty query.
    pub fn check(
        mut self,
        callback: impl for<'a> Fn(&'a mut Connection) -> HookFuture<'a> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.check = Some(Arc::new(callback));
        self
    }

    /// Sets a callback run on every returned connection, in the background,
    /// after the rollback and the [`reset_sql`](PoolBuilder::reset_sql). An
    /// error closes the connection. Defaults to none.
    pub fn reset(
        mut self,
        callback: impl for<'a> Fn(&'a mut Connection) -> HookFuture<'a> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.reset = Some(Arc::new(callback));
        self
    }

    /// Sets SQL run on every returned connection, in the background, such as
    /// `DISCARD ALL` (which clears settings, temporary tables, prepared
    /// statements and advisory locks) or `RESET ALL`. An error closes the
    /// connection. Defaults to none: a returned connection is only rolled
    /// back, and only when it may be inside a transaction.
    pub fn reset_sql(mut self, sql: impl Into<String>) -> Self {
        self.hooks.reset_sql = Some(sql.into());
        self
    }

    /// Sets a function given every notice the server sends on the pool's
    /// connections and listeners (`RAISE NOTICE`, `RAISE WARNING`, ...), as
    /// psycopg's `add_notice_handler`: its severity
    /// ([`DbError::severity`](crate::DbError::severity)), SQLSTATE
    /// ([`code`](crate::DbError::code)) and message. It runs on the task
    /// that drives the connection, so it should return at once; a panic in
    /// it is caught and logged. Defaults to none.
    ///
    /// Whether or not it is set, every notice is also a `tracing` event of
    /// target `tidepool::notice`, at level WARN for `WARNING`, INFO for
    /// `NOTICE` and `INFO`, DEBUG for `DEBUG` and `LOG`, with the fields
    /// `pool` (the pool's name), `connection` (the connection's
    /// [`id`](Connection::id), 0 for a listener's), `severity` and `code`
    /// (SQLSTATE), and the server's message as the event's message.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), tidepool_async::Error> {
    /// let pool = tidepool_async::Pool::builder("postgresql://app@localhost/app")
    ///     .notice_handler(|notice| eprintln!("{}: {}", notice.severity(), notice.message()))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn notice_handler(
        mut self,
        handler: impl Fn(&crate::DbError) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.notice = Some(Arc::new(handler));
        self
    }

    /// Sets a function that gives the password at every connect, instead of
    /// the connection string's (credential rotation: after the password
    /// changes, [`Pool::drain`] replaces the connections opened with the
    /// old one). Defaults to none: the connection string's password.
    ///
    /// The function should return at once (read a value kept up to date
    /// elsewhere); it runs on the pool's background task.
    pub fn password_fn(mut self, password: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.password = Some(Arc::new(password));
        self
    }

    /// Sets the longest a statement may run: past it, the statement is
    /// cancelled on the server and the call fails with an error for which
    /// [`Error::is_query_timeout`] is true. It bounds every operation of
    /// the pool's connections (queries, transactions' commands), so that a
    /// stalled network or server cannot hang a caller. Each connection can
    /// change it ([`Connection::set_query_timeout`]) until it is returned.
    /// Defaults to none (PostgreSQL's `statement_timeout` bounds statements
    /// on the server side, if set).
    ///
    /// The call waits for the server to act on the cancel, as long again
    /// at most, so it ends within twice the limit even when the network
    /// stalls. A connection whose cancel got no answer in time is closed
    /// when it is returned: the cancel might still arrive and cancel the
    /// next user's statement.
    pub fn query_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Sets how many times a statement runs on a connection before the
    /// connection keeps it prepared, as psycopg's `prepare_threshold`: with
    /// 5, its first five executions run unnamed (Parse, Bind, Describe,
    /// Execute and Sync sent together: one round trip), its sixth prepares
    /// it, and from then on each execution is one round trip that the
    /// server need not parse or plan again. 0 prepares every statement at
    /// its first execution. `None` turns the cache off: statements always
    /// run unnamed.
    ///
    /// Parameters are typed as psycopg and libpq type them, unnamed or
    /// prepared alike: a string (`&str`, `String`) is sent with no type, as
    /// text, and the server takes its type from the statement (compared
    /// with a `uuid`, `date`, `numeric` or enum column, it is one); other
    /// values are typed by their Rust type. A statement with a parameter of
    /// a type of your own (whose type cannot be taken from its value) is
    /// prepared first for the server to say the types: two round trips.
    /// Defaults to `Some(5)`.
    pub fn prepare_threshold(mut self, threshold: Option<u32>) -> Self {
        self.cache.threshold = threshold;
        self
    }

    /// Makes the pool safe behind a transaction pooler: PgBouncer (or
    /// another pooler, such as Supavisor or RDS Proxy) in transaction mode,
    /// which hands each transaction to any of its server connections. With
    /// it, no named prepared statement is used outside a transaction, ever:
    /// the statement cache is off whatever
    /// [`prepare_threshold`](PoolBuilder::prepare_threshold) says (plain
    /// statements and pipelines run unnamed, in one round trip each, typed
    /// as [`prepare_threshold`](PoolBuilder::prepare_threshold) says), a COPY outside a
    /// transaction runs inside one of its own, and cursors are SQL cursors
    /// (`DECLARE`, `FETCH`) that live in their transaction. The health check
    /// (an empty query) and cancel requests (which PgBouncer forwards to the
    /// server connection running the statement) work as they are.
    ///
    /// Nothing else may rely on session state between transactions:
    /// [`configure`](PoolBuilder::configure) runs on a PgBouncer client
    /// connection, whose server session changes at every transaction, and
    /// [`reset_sql`](PoolBuilder::reset_sql) is PgBouncer's job
    /// (`server_reset_query`); [`build`](PoolBuilder::build) logs a warning
    /// when either is set. PgBouncer 1.21 and later can keep protocol-level
    /// prepared statements across server connections
    /// (`max_prepared_statements`); the cache may then stay on instead.
    /// Defaults to false.
    pub fn pgbouncer(mut self, pgbouncer: bool) -> Self {
        self.cache.pgbouncer = pgbouncer;
        self
    }

    /// Records every statement's duration in the histogram
    /// `db.client.operation.duration` (seconds), labelled as OpenTelemetry's
    /// conventions ask: `db.system.name`, `db.namespace`,
    /// `db.operation.name` and `db.collection.name` (where the statement's
    /// first words tell them), `server.address`, `server.port` and, on
    /// error, `error.type` (the SQLSTATE). A histogram look-up per
    /// statement, so off unless asked for; the statement spans (target
    /// `tidepool::statement`) carry the same attributes at no cost when
    /// unused. Defaults to false.
    pub fn statement_metrics(mut self, on: bool) -> Self {
        self.statement_metrics = on;
        self
    }

    /// Sets how many statements each connection keeps prepared at most; the
    /// least recently used is closed on the server to make room. Defaults
    /// to 100.
    pub fn prepared_max(mut self, max: usize) -> Self {
        self.cache.max = max;
        self
    }

    /// Checks the settings and starts the pool, which begins opening
    /// `min_size` connections in the background. Use [`Pool::wait`] to
    /// wait for them.
    ///
    /// # Errors
    ///
    /// A configuration error for an unparseable connection string, one
    /// without a host or user, certificate files that cannot be read or
    /// used (or no trusted root for `verify-ca`/`verify-full`), impossible
    /// pool settings, or a call outside a tokio runtime.
    pub fn build(self) -> Result<Pool<R>, Error>
    where
        R: RowFactory + Clone,
    {
        let source = self.source?;
        if self.query_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::config(
                "query_timeout is 0; give it a positive duration, or None for no limit",
            ));
        }
        if self.cache.pgbouncer {
            warn_about_session_state(&self.config.name, &self.hooks);
        }
        let settings = ConnectSettings::new(source, self.password)?;
        let notices = Notices::new(&self.config.name, self.hooks.notice.clone());
        let manager = PgManager::new(settings, self.hooks, self.query_timeout, self.cache)
            .with_notices(notices)
            .with_statement_metrics(self.statement_metrics);
        if self.statement_metrics {
            crate::session::span::describe_metrics();
        }
        let mut builder = tidepool_core::Pool::builder(manager).config(self.config);
        if let Some(callback) = self.reconnect_failed {
            builder =
                builder.reconnect_failed(move |core| callback(&Pool::from_core(core.clone())));
        }
        let pool = Pool::from_core(builder.build().map_err(Error::pool)?);
        Ok(pool.with_row_factory(self.rows))
    }
}

/// Warns about settings that rely on session state between transactions,
/// which a transaction pooler does not keep.
fn warn_about_session_state(pool: &str, hooks: &Hooks) {
    if hooks.configure.is_some() {
        tracing::warn!(
            pool,
            "pgbouncer is set and so is a configure callback: it runs on a connection to \
             the pooler, whose server session changes at every transaction, so what it sets \
             (SET, PREPARE, temporary tables) reaches one server connection and is gone for \
             the next transaction; give such settings to the pooler or the role instead \
             (ALTER ROLE ... SET, PgBouncer's connect_query)"
        );
    }
    if let Some(sql) = &hooks.reset_sql
        && !crate::session::sql::is_discard_all(sql)
    {
        tracing::warn!(
            pool,
            "pgbouncer is set and so is reset_sql: it runs on whichever server connection \
             the pooler gives it, not on the one the connection used; resetting server \
             sessions is the pooler's job (PgBouncer's server_reset_query)"
        );
    }
}

impl<R> fmt::Debug for PoolBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("source", &self.source.as_ref().ok())
            .field("password_fn", &self.password.is_some())
            .field("query_timeout", &self.query_timeout)
            .field("cache", &self.cache)
            .field("config", &self.config)
            .field("hooks", &self.hooks)
            .field("row_factory", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}
