//! The blocking pool handle.

use std::fmt;
use std::time::Duration;

use tidepool_async::{ConnectionInfo, Error, PoolConfig, RowFactory, Stats, TupleRow};

use crate::pool::guard::PooledConnection;
use crate::pool::runtime::Blocker;

/// A blocking pool of PostgreSQL connections, to share between threads.
///
/// The same pool as [`tidepool_async::Pool`], with blocking methods: a few
/// background threads drive the connections, and each call blocks the
/// calling thread until it is done. Cheap to clone; every clone is a
/// handle to the same pool.
///
/// Its methods work from a thread of your own, and in async code from
/// `spawn_blocking` or `block_in_place`, the usual bridges. On a
/// multi-thread runtime they work from any thread, a worker included,
/// which hands its other tasks to the other workers for the time of the
/// call. On a current-thread runtime, a call made in the future the runtime
/// runs on its only thread (an async `main` or test body) returns an error
/// ([`Error::is_blocking_in_async`]), since it would stall the whole
/// runtime; a call from a task works, with a warning once per pool, since
/// tokio cannot tell a task on that thread from a `spawn_blocking` closure.
/// The work itself runs on the pool's own runtime, which a call never
/// blocks: made inside one of the pool's callbacks, a call returns the
/// same error instead of waiting for itself. Nothing panics, and dropping
/// the last handle is safe on any thread.
///
/// `R` is the pool's row factory, as for [`tidepool_async::Pool`].
#[derive(Clone)]
pub struct Pool<R = TupleRow> {
    inner: tidepool_async::Pool<R>,
    blocker: Blocker,
}

impl<R: RowFactory + Clone> Pool<R> {
    /// Checks out a connection, blocking at most the pool's `timeout`. The
    /// checkout remembers where it was called, for the warnings of
    /// `slow_checkout_warning` and `leak_detection_threshold`.
    ///
    /// # Errors
    ///
    /// As [`tidepool_async::Pool::get`], and an error when called inside a
    /// pool callback.
    #[track_caller]
    pub fn get(&self) -> Result<PooledConnection<R>, Error> {
        let conn = self.blocker.block_on("Pool::get", self.inner.get())?;
        Ok(PooledConnection::new(conn, self.blocker.clone()))
    }

    /// Like [`get`](Pool::get), with a different limit for this checkout.
    ///
    /// # Errors
    ///
    /// As for [`get`](Pool::get).
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection<R>, Error> {
        let conn = self
            .blocker
            .block_on("Pool::get_timeout", self.inner.get_timeout(timeout))?;
        Ok(PooledConnection::new(conn, self.blocker.clone()))
    }
}

impl<R> Pool<R> {
    pub(crate) fn new(inner: tidepool_async::Pool<R>, blocker: Blocker) -> Self {
        Self { inner, blocker }
    }

    /// A handle to the same pool whose checkouts use another row factory,
    /// as [`tidepool_async::Pool::with_row_factory`].
    pub fn with_row_factory<F: RowFactory + Clone>(&self, rows: F) -> Pool<F> {
        Pool {
            inner: self.inner.with_row_factory(rows),
            blocker: self.blocker.clone(),
        }
    }

    /// The pool's row factory.
    pub fn row_factory(&self) -> &R {
        self.inner.row_factory()
    }

    /// Blocks until `min_size` connections are open, at most the pool's
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// As [`tidepool_async::Pool::wait`], and an error when called inside a
    /// pool callback.
    pub fn wait(&self) -> Result<(), Error> {
        self.blocker.block_on("Pool::wait", self.inner.wait())
    }

    /// Like [`wait`](Pool::wait), with a different limit.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Pool::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.blocker
            .block_on("Pool::wait_timeout", self.inner.wait_timeout(timeout))
    }

    /// The pool's open connections now, by id, each with the server it
    /// reached, as [`tidepool_async::Pool::connections`].
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.inner.connections()
    }

    /// Closes the pool, as [`tidepool_async::Pool::close`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes the pool, then blocks at most `timeout` until the connections
    /// in use come back and close, as [`tidepool_async::Pool::close_timeout`].
    ///
    /// # Errors
    ///
    /// A timeout error when connections were still in use at the end, or an
    /// error when called inside a pool callback (the pool is closed then).
    pub fn close_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.inner.close();
        self.blocker
            .block_on("Pool::close_timeout", self.inner.close_timeout(timeout))
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Tests every idle connection now, closing those that fail, as
    /// [`tidepool_async::Pool::check`]. Returns how many were closed.
    ///
    /// # Errors
    ///
    /// An error when called inside a pool callback.
    pub fn check(&self) -> Result<usize, Error> {
        self.blocker
            .block_on("Pool::check", async { Ok(self.inner.check().await) })
    }

    /// Replaces every connection, as [`tidepool_async::Pool::drain`].
    pub fn drain(&self) {
        self.inner.drain();
    }

    /// Changes `min_size` and `max_size` at run time, as
    /// [`tidepool_async::Pool::resize`].
    ///
    /// # Errors
    ///
    /// A configuration error for impossible sizes.
    pub fn resize(&self, min_size: usize, max_size: usize) -> Result<(), Error> {
        self.inner.resize(min_size, max_size)
    }

    /// The pool's gauges and counters now (psycopg_pool's names).
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The pool's gauges and counters now, setting the counters back to zero.
    pub fn pop_stats(&self) -> Stats {
        self.inner.pop_stats()
    }

    /// The pool's settings.
    pub fn config(&self) -> &PoolConfig {
        self.inner.config()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The async pool behind this one, to share it with async code.
    pub fn as_async(&self) -> &tidepool_async::Pool<R> {
        &self.inner
    }

    pub(crate) fn blocker(&self) -> &Blocker {
        &self.blocker
    }
}

impl<R> fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
