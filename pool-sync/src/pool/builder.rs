//! Building a blocking pool in code.

use std::fmt;
use std::time::Duration;

use std::sync::Arc;

use tidepool_async::{Error, RowFactory, TupleRow};
// The settings' setters link to `PoolConfig`'s fields in their docs.
#[allow(unused_imports)]
use tidepool_async::PoolConfig;

use crate::pool::callback::{CallbackConnection, to_async};
use crate::pool::handle::Pool;
use crate::pool::runtime::Blocker;

impl Pool {
    /// Starts building a pool for a libpq connection string (a URL or
    /// key=value pairs, as for [`tidepool_async::Pool::builder`]).
    pub fn builder(dsn: &str) -> PoolBuilder {
        PoolBuilder::new(tidepool_async::Pool::builder(dsn))
    }

    /// Starts building a pool from a tokio-postgres configuration.
    pub fn builder_from_config(config: tidepool_async::tokio_postgres::Config) -> PoolBuilder {
        PoolBuilder::new(tidepool_async::Pool::builder_from_config(config))
    }

    /// Starts building a pool whose connection string is asked for at every
    /// connect, as [`tidepool_async::Pool::builder_from_fn`].
    pub fn builder_from_fn(dsn: impl Fn() -> String + Send + Sync + 'static) -> PoolBuilder {
        PoolBuilder::new(tidepool_async::Pool::builder_from_fn(dsn))
    }

    /// Builds a blocking pool from settings read from files and the
    /// environment ([`Settings::load`](crate::Settings::load)).
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`], and when the connection is given both as
    /// `url` and as separate fields.
    pub fn from_settings(settings: &crate::Settings) -> Result<Pool, Error> {
        PoolBuilder::new(settings.pool_builder()?).build()
    }
}

/// Builds a blocking [`Pool`]: start from [`Pool::builder`], set what
/// differs from the defaults, then call [`build`](PoolBuilder::build).
///
/// `R` is the row factory of the pool's connections, set with
/// [`row_factory`](PoolBuilder::row_factory).
pub struct PoolBuilder<R = TupleRow> {
    inner: tidepool_async::PoolBuilder<R>,
    worker_threads: usize,
}

impl PoolBuilder {
    pub(crate) fn new(inner: tidepool_async::PoolBuilder) -> Self {
        Self {
            inner,
            worker_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl<R> PoolBuilder<R> {
    /// Sets the row factory of the pool's connections, as
    /// [`tidepool_async::PoolBuilder::row_factory`]. Defaults to
    /// [`TupleRow`], the protocol row.
    pub fn row_factory<F: RowFactory + Clone>(self, rows: F) -> PoolBuilder<F> {
        PoolBuilder {
            inner: self.inner.row_factory(rows),
            worker_threads: self.worker_threads,
        }
    }

    tidepool_async::__pool_config_setters!(delegate);

    /// Sets a function called (on a background thread) when connects have
    /// failed for longer than `reconnect_timeout`. Defaults to none.
    pub fn reconnect_failed(self, callback: impl Fn() + Send + Sync + 'static) -> Self {
        self.map(|b| b.reconnect_failed(move |_| callback()))
    }

    /// Sets a callback run once on every new connection before the pool
    /// uses it; an error closes the connection and counts as a failed
    /// connect. Defaults to none.
    pub fn configure(
        self,
        callback: impl Fn(&mut CallbackConnection<'_>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        let callback = to_async(Arc::new(callback));
        self.map(|b| b.configure(callback))
    }

    /// Sets the health check run on idle connections when the
    /// `health_check` policy asks, instead of the default empty query; an
    /// error closes the connection. Defaults to the empty query.
    pub fn check(
        self,
        callback: impl Fn(&mut CallbackConnection<'_>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        let callback = to_async(Arc::new(callback));
        self.map(|b| b.check(callback))
    }

    /// Sets a callback run on every returned connection, on a background
    /// thread, after the rollback and the reset SQL; an error closes the
    /// connection. Defaults to none.
    pub fn reset(
        self,
        callback: impl Fn(&mut CallbackConnection<'_>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        let callback = to_async(Arc::new(callback));
        self.map(|b| b.reset(callback))
    }

    /// Sets SQL run on every returned connection, such as `DISCARD ALL`.
    /// Defaults to none: a returned connection is only rolled back, and only
    /// when it may be inside a transaction.
    pub fn reset_sql(self, sql: impl Into<String>) -> Self {
        self.map(|b| b.reset_sql(sql))
    }

    /// Sets a function given every notice the server sends on the pool's
    /// connections and listeners (`RAISE NOTICE`, `RAISE WARNING`, ...), as
    /// [`tidepool_async::PoolBuilder::notice_handler`] (psycopg's
    /// `add_notice_handler`); it runs on a background thread and should
    /// return at once. Every notice is also a `tracing` event of target
    /// `tidepool::notice`. Defaults to none.
    pub fn notice_handler(
        self,
        handler: impl Fn(&tidepool_async::DbError) + Send + Sync + 'static,
    ) -> Self {
        self.map(|b| b.notice_handler(handler))
    }

    /// Sets a function that gives the password at every connect, as
    /// [`tidepool_async::PoolBuilder::password_fn`]. Defaults to none.
    pub fn password_fn(self, password: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.map(|b| b.password_fn(password))
    }

    /// Replaces every session setting at once, as
    /// [`tidepool_async::PoolBuilder::session`].
    pub fn session(self, session: tidepool_async::SessionSettings) -> Self {
        self.map(|b| b.session(session))
    }

    /// Sets the longest a statement may run before it is cancelled, as
    /// [`tidepool_async::PoolBuilder::query_timeout`]. Defaults to none.
    pub fn query_timeout(self, timeout: Option<Duration>) -> Self {
        self.map(|b| b.query_timeout(timeout))
    }

    /// Sets how many executions of a statement on a connection come before
    /// it is kept prepared, as
    /// [`tidepool_async::PoolBuilder::prepare_threshold`]; `None` turns the
    /// statement cache off. Defaults to `Some(5)`.
    pub fn prepare_threshold(self, threshold: Option<u32>) -> Self {
        self.map(|b| b.prepare_threshold(threshold))
    }

    /// Makes the pool safe behind a transaction pooler (PgBouncer in
    /// transaction mode): no named prepared statement outside a
    /// transaction, the statement cache off, as
    /// [`tidepool_async::PoolBuilder::pgbouncer`]. Defaults to false.
    pub fn pgbouncer(self, pgbouncer: bool) -> Self {
        self.map(|b| b.pgbouncer(pgbouncer))
    }

    /// Sets how many statements each connection keeps prepared at most, as
    /// [`tidepool_async::PoolBuilder::prepared_max`]. Defaults to 100.
    pub fn prepared_max(self, max: usize) -> Self {
        self.map(|b| b.prepared_max(max))
    }

    /// Sets how many threads drive the pool's connections in the
    /// background. Defaults to the number of CPU cores.
    pub fn worker_threads(mut self, worker_threads: usize) -> Self {
        self.worker_threads = worker_threads;
        self
    }

    /// The async builder and the number of threads, for a pool built
    /// beside others on one runtime.
    pub(crate) fn into_parts(self) -> (tidepool_async::PoolBuilder<R>, usize) {
        (self.inner, self.worker_threads)
    }

    fn map(
        mut self,
        f: impl FnOnce(tidepool_async::PoolBuilder<R>) -> tidepool_async::PoolBuilder<R>,
    ) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Checks the settings, starts the pool's background threads, and
    /// begins opening `min_size` connections. Use [`Pool::wait`] to wait
    /// for them.
    ///
    /// # Errors
    ///
    /// A configuration error for an unparseable connection string,
    /// certificate files that cannot be used, or impossible settings
    /// (including `worker_threads` 0).
    pub fn build(self) -> Result<Pool<R>, Error>
    where
        R: RowFactory + Clone,
    {
        let blocker = Blocker::start(self.worker_threads)?;
        let pool = {
            let _context = blocker.handle().enter();
            self.inner.build()?
        };
        Ok(Pool::new(pool, blocker))
    }
}

impl<R> fmt::Debug for PoolBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("inner", &self.inner)
            .field("worker_threads", &self.worker_threads)
            .finish()
    }
}
