//! The handlers' checkouts, timed and counted: what the dashboard's wait
//! percentiles and in-use peaks are computed from.

use std::ops::Deref;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tidepool_async::{Pool, PooledConnection};

/// Connections the handlers hold now, and how long each checkout since the
/// last [`take_waits`](Checkouts::take_waits) waited.
#[derive(Debug, Default)]
pub(crate) struct Checkouts {
    held: AtomicUsize,
    waits: Mutex<Vec<Duration>>,
}

impl Checkouts {
    /// Checks out a connection from `pool`, recording how long it took
    /// (when it got one or timed out; a request turned away at once did not
    /// wait).
    pub(crate) async fn get<'a>(&'a self, pool: &Pool) -> Result<Held<'a>, tidepool_async::Error> {
        let started = Instant::now();
        let result = pool.get().await;
        if !matches!(&result, Err(e) if e.is_too_many_requests()) {
            self.lock_waits().push(started.elapsed());
        }
        let conn = result?;
        self.held.fetch_add(1, Ordering::SeqCst);
        Ok(Held {
            conn,
            checkouts: self,
        })
    }

    /// Connections the handlers hold now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// The waits recorded since the last call.
    pub(crate) fn take_waits(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.lock_waits())
    }

    fn lock_waits(&self) -> std::sync::MutexGuard<'_, Vec<Duration>> {
        self.waits.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection a handler holds; counted until it is dropped.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    conn: PooledConnection,
    checkouts: &'a Checkouts,
}

impl Deref for Held<'_> {
    type Target = PooledConnection;

    fn deref(&self) -> &PooledConnection {
        &self.conn
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.checkouts.held.fetch_sub(1, Ordering::SeqCst);
    }
}
