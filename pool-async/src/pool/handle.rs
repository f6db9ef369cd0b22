//! The PostgreSQL pool handle.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tidepool_core::{PoolConfig, Stats};

use crate::error::Error;
use crate::pool::guard::PooledConnection;
use crate::pool::manager::PgManager;
use crate::pool::roster::ConnectionInfo;
use crate::rows::{RowFactory, TupleRow};

/// A pool of PostgreSQL connections.
///
/// Cheap to clone: every clone is a handle to the same pool, so one pool is
/// shared by all the tasks of a program. It closes when
/// [`close`](Pool::close) is called or the last handle is dropped.
///
/// `R` is the pool's [row factory](RowFactory): what each connection's
/// `query` returns for a row. It is set when the pool is built
/// ([`PoolBuilder::row_factory`](crate::PoolBuilder::row_factory)); the protocol row ([`TupleRow`]) by
/// default.
#[derive(Clone)]
pub struct Pool<R = TupleRow> {
    inner: tidepool_core::Pool<PgManager>,
    rows: R,
}

impl Pool {
    pub(crate) fn from_core(inner: tidepool_core::Pool<PgManager>) -> Self {
        Self {
            inner,
            rows: TupleRow,
        }
    }
}

impl<R: RowFactory + Clone> Pool<R> {
    /// Checks out a connection, waiting at most the pool's `timeout` in all.
    ///
    /// Requests are served first come, first served, by whichever connection
    /// is available first: one returned by another user, or one newly opened
    /// in the background.
    ///
    /// The checkout remembers where it was called, for the warnings of
    /// `slow_checkout_warning` and `leak_detection_threshold`, and runs in a
    /// `checkout` span (see [`tidepool_core::Pool::get`]).
    ///
    /// # Errors
    ///
    /// A timeout error that says how long it waited and how busy the pool
    /// was (with the last connection error when the server cannot be
    /// reached), a "too many requests" error at once when `max_waiting`
    /// requests already wait, or a closed error.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future gives up its place
    /// in the queue and never loses a connection.
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<PooledConnection<R>, Error>> + Send + '_ {
        let checkout = self.inner.get();
        async move {
            let slot = checkout.await.map_err(Error::pool)?;
            Ok(PooledConnection::new(slot, self.rows.clone()))
        }
    }

    /// Like [`get`](Pool::get), with a different limit for this checkout.
    ///
    /// # Errors
    ///
    /// As for [`get`](Pool::get).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe.
    #[track_caller]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<PooledConnection<R>, Error>> + Send + '_ {
        let checkout = self.inner.get_timeout(timeout);
        async move {
            let slot = checkout.await.map_err(Error::pool)?;
            Ok(PooledConnection::new(slot, self.rows.clone()))
        }
    }
}

impl<R> Pool<R> {
    /// A handle to the same pool whose checkouts use another row factory:
    /// one pool, shared, read as tuples here and as `T` there.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tidepool_async::Pool) -> Result<(), tidepool_async::Error> {
    /// use tidepool_async::JsonRow;
    ///
    /// let json_pool = pool.with_row_factory(JsonRow);
    /// let users: Vec<serde_json::Value> =
    ///     json_pool.get().await?.query("SELECT id, name FROM users", &[]).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_row_factory<F: RowFactory + Clone>(&self, rows: F) -> Pool<F> {
        Pool {
            inner: self.inner.clone(),
            rows,
        }
    }

    /// The pool's row factory.
    pub fn row_factory(&self) -> &R {
        &self.rows
    }

    /// Waits until `min_size` connections are open, at most the pool's
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// A timeout error carrying the last connection error (unreachable
    /// server, wrong password, ...), or a closed error.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only watches the pool.
    pub async fn wait(&self) -> Result<(), Error> {
        self.inner.wait().await.map_err(Error::pool)
    }

    /// Like [`wait`](Pool::wait), with a different limit.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Pool::wait).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe.
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.wait_timeout(timeout).await.map_err(Error::pool)
    }

    /// Closes the pool: waiting requests fail, idle connections close at
    /// once, connections in use close when they are returned, and nothing
    /// connects again.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes the pool as [`close`](Pool::close) does, then waits at most
    /// `timeout` for the connections in use to come back and close.
    ///
    /// # Errors
    ///
    /// A timeout error when connections were still in use at the end; they
    /// close whenever they are returned.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: the pool is closed at the first poll,
    /// and dropping the future only stops the waiting.
    pub async fn close_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.close_timeout(timeout).await.map_err(Error::pool)
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Tests every idle connection now (with the health check), closing
    /// those that fail; the pool opens replacements. Returns how many were
    /// closed.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: connections not yet tested go back to
    /// the pool untested.
    pub async fn check(&self) -> usize {
        self.inner.check().await
    }

    /// Replaces every connection: idle ones close now, those in use when
    /// they are returned, and new ones open as needed. Use it after
    /// rotating credentials or a failover.
    pub fn drain(&self) {
        self.inner.drain();
    }

    /// Changes `min_size` and `max_size` at run time: growing opens
    /// connections in the background, shrinking closes idle connections now
    /// and connections in use when they are returned.
    ///
    /// # Errors
    ///
    /// A configuration error for impossible sizes; the pool keeps its sizes.
    pub fn resize(&self, min_size: usize, max_size: usize) -> Result<(), Error> {
        self.inner.resize(min_size, max_size).map_err(Error::pool)
    }

    /// The pool's gauges and counters now (psycopg_pool's names), with the
    /// [listener](crate::Listener) connections open now.
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.stats();
        stats.listeners = self.manager().open_listeners();
        stats
    }

    /// The pool's open connections now, by id: the server each reached
    /// (among a multi-host string's hosts), whether it is checked out, and
    /// its age. A dashboard's view of where the pool's sessions are; a
    /// connection is listed from the end of its connect (after the
    /// `configure` callback) until it closes.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.manager().connections()
    }

    /// The pool's gauges and counters now, setting the counters back to zero.
    pub fn pop_stats(&self) -> Stats {
        let mut stats = self.inner.pop_stats();
        stats.listeners = self.manager().open_listeners();
        stats
    }

    pub(crate) fn manager(&self) -> &PgManager {
        self.inner.manager()
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        self.inner.config()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }
}

impl<R> fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
