//! The pool handle.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::error::Error;
use crate::guard::Pooled;
use crate::inner::PoolInner;
use crate::manager::Manager;
use crate::stats::Stats;

/// A pool of connections opened by a [`Manager`].
///
/// Cheap to clone: every clone is a handle to the same pool. The pool
/// closes when [`close`](Pool::close) is called or the last handle is
/// dropped.
pub struct Pool<M: Manager> {
    inner: Arc<PoolInner<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self::from_inner(Arc::clone(&self.inner))
    }
}

impl<M: Manager> Drop for Pool<M> {
    fn drop(&mut self) {
        self.inner.handle_dropped();
    }
}

impl<M: Manager> Pool<M> {
    /// A new handle to the pool of `inner`.
    pub(crate) fn from_inner(inner: Arc<PoolInner<M>>) -> Self {
        inner.handle_made();
        Self { inner }
    }

    /// Checks out a connection, waiting at most the pool's `timeout`.
    ///
    /// Requests are served first come, first served. A request that finds no
    /// idle connection waits for whichever comes first: a connection
    /// returned by another user, or a new one opened in the background (if
    /// the pool is below `max_size`).
    ///
    /// The checkout remembers where it was called, for the warnings of
    /// `slow_checkout_warning` and `leak_detection_threshold`. It runs in a
    /// `checkout` span (level DEBUG) whose fields say how long it waited
    /// (`wait_ms`) and how it ended (`outcome`: `ok`, `timeout`, `rejected`,
    /// `connect_failed` or `closed`).
    ///
    /// # Errors
    ///
    /// A timeout error (saying how long it waited and how busy the pool
    /// was, with the last connection error if connects have been failing), a
    /// "too many requests" error at once when `max_waiting` requests already
    /// wait, a connect error ([`Error::is_connect`]) as soon as a connect
    /// fails with an error that retrying cannot fix while the pool has no
    /// connection (a wrong password, say: see
    /// [`Manager::is_permanent`]), or a closed error.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future gives up the request's
    /// place in the queue and never loses a connection.
    #[track_caller]
    pub fn get(&self) -> impl Future<Output = Result<Pooled<M>, Error>> + Send + '_ {
        self.inner
            .checkout(self.inner.config.timeout, Location::caller())
    }

    /// Like [`get`](Pool::get), with a different limit for this checkout.
    ///
    /// # Errors
    ///
    /// As for [`get`](Pool::get).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`get`](Pool::get) is.
    #[track_caller]
    pub fn get_timeout(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Pooled<M>, Error>> + Send + '_ {
        self.inner.checkout(timeout, Location::caller())
    }

    /// Waits until `min_size` connections are open, at most the pool's
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// A timeout error, with the last connection error when connects
    /// failed; a connect error ([`Error::is_connect`]) when the pool's last
    /// connect failed, or one fails while it waits, with an error that
    /// retrying cannot fix (a wrong password, a missing database); or a
    /// closed error.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: it only watches the pool.
    pub async fn wait(&self) -> Result<(), Error> {
        self.wait_timeout(self.inner.config.timeout).await
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
        let started = Instant::now();
        let deadline = started + timeout;
        let books = &self.inner.books;
        loop {
            let progress = books.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            {
                let state = books.lock();
                if state.closed {
                    return Err(Error::closed(&books.name));
                }
                if state.open >= state.min_size {
                    return Ok(());
                }
                // The pool's last connect failed with an error that
                // waiting cannot fix: say so now.
                if state.last_error_permanent
                    && let Some(cause) = &state.last_error
                {
                    return Err(Error::connect_failed(
                        &books.name,
                        started.elapsed(),
                        Arc::clone(cause),
                    ));
                }
            }
            if tokio::time::timeout_at(deadline, progress).await.is_err() {
                let (state, cause) = self
                    .inner
                    .exhausted(started.elapsed(), books.waiting.load());
                return Err(Error::wait_timeout(state, cause));
            }
        }
    }

    /// Closes the pool: waiting requests fail with a closed error, idle
    /// connections close at once, connections in use close when they are
    /// returned, and no connection is opened again.
    pub fn close(&self) {
        self.inner.shut();
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
        let started = Instant::now();
        self.inner.shut();
        let remaining = self.inner.wait_all_closed(started + timeout).await;
        if remaining == 0 {
            Ok(())
        } else {
            Err(Error::close_timeout(
                self.name(),
                remaining,
                started.elapsed(),
            ))
        }
    }

    /// Tests every idle connection now with [`Manager::check`], closing
    /// those that fail (the pool then opens replacements). Returns how many
    /// were closed. Requests that arrive meanwhile wait for the tested
    /// connections.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: connections not yet tested go back to
    /// the pool untested.
    pub async fn check(&self) -> usize {
        self.inner.check_idle().await
    }

    /// Replaces every connection: idle ones close now, those in use close
    /// when they are returned, and new ones are opened as needed. Use it
    /// after rotating credentials or a failover.
    pub fn drain(&self) {
        self.inner.drain();
    }

    /// Changes `min_size` and `max_size` at run time. Growing opens
    /// connections in the background; shrinking closes idle connections at
    /// once and connections in use when they are returned, until the pool
    /// fits.
    ///
    /// # Errors
    ///
    /// A configuration error for impossible sizes (`max_size` 0, `min_size`
    /// above `max_size`, ...); the pool keeps its sizes then.
    pub fn resize(&self, min_size: usize, max_size: usize) -> Result<(), Error> {
        self.inner.resize(min_size, max_size)
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.books.is_closed()
    }

    /// The pool's gauges and counters now.
    pub fn stats(&self) -> Stats {
        self.inner.stats(false)
    }

    /// The pool's gauges and counters now, setting the counters back to zero.
    pub fn pop_stats(&self) -> Stats {
        self.inner.stats(true)
    }

    /// The settings the pool was built with.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.books.name
    }

    /// The manager that opens the pool's connections.
    pub fn manager(&self) -> &M {
        &self.inner.manager
    }
}

impl<M: Manager> fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.inner.books.name)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
