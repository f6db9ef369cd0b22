//! The state behind every pool handle, and what reads it whole: the
//! pool's description for errors, its statistics, and shutting it.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::books::Books;
use crate::config::PoolConfig;
use crate::error::{BoxedCause, Error, Exhausted};
use crate::manager::Manager;
use crate::slot::{Idle, WaitQueue};
use crate::stats::Stats;
use crate::striped::Alone;

/// The callback run when connects kept failing for `reconnect_timeout`,
/// given the pool's state (the builder wraps the user's callback, which
/// takes a [`Pool`](crate::Pool) handle).
pub(crate) type ReconnectFailed<M> = Arc<dyn Fn(&Arc<PoolInner<M>>) + Send + Sync>;

/// The state behind every [`Pool`](crate::Pool) handle.
pub(crate) struct PoolInner<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: PoolConfig,
    pub(crate) idle: Idle<M::Connection>,
    /// The requests waiting for a connection, first come, first served.
    pub(crate) waiters: WaitQueue<M::Connection>,
    pub(crate) books: Arc<Books>,
    pub(crate) runtime: Handle,
    pub(crate) reconnect_failed: Option<ReconnectFailed<M>>,
    /// The [`Pool`](crate::Pool) handles alive: the pool shuts when the
    /// last goes. (The connections checked out hold the state too, so
    /// that a return costs no more than dropping that hold, but they do
    /// not keep the pool open.)
    handles: Alone<AtomicUsize>,
}

impl<M: Manager> PoolInner<M> {
    pub(crate) fn timeout_error(&self, waited: Duration, waiting: usize) -> Error {
        let (state, cause) = self.exhausted(waited, waiting);
        Error::timeout(state, cause)
    }

    /// Whether the pool may be below `max_size`, read without the lock: it
    /// counts the connections on the idle stack or checked out, never more
    /// than those open, so it is never `false` while the pool has room (a
    /// connection being reset or opened may make it `true` without room).
    pub(crate) fn may_grow(&self) -> bool {
        self.idle.status().size < self.books.max_size.load(Relaxed)
    }

    /// Describes the pool for an error after a wait of `waited`.
    pub(crate) fn exhausted(
        &self,
        waited: Duration,
        waiting: usize,
    ) -> (Exhausted, Option<BoxedCause>) {
        let idle = self.idle.status().available;
        let state = self.books.lock();
        let exhausted = Exhausted {
            pool: self.books.name.clone(),
            waited,
            in_use: state.open.saturating_sub(idle),
            open: state.open,
            min_size: state.min_size,
            max_size: state.max_size,
            waiting,
        };
        (exhausted, state.last_error.clone())
    }

    /// A new state, with no handle yet.
    pub(crate) fn new(
        manager: M,
        config: PoolConfig,
        idle: Idle<M::Connection>,
        books: Arc<Books>,
        runtime: Handle,
        reconnect_failed: Option<ReconnectFailed<M>>,
    ) -> Self {
        Self {
            manager,
            config,
            idle,
            waiters: WaitQueue::default(),
            books,
            runtime,
            reconnect_failed,
            handles: Alone(AtomicUsize::new(0)),
        }
    }

    /// Counts one more [`Pool`](crate::Pool) handle.
    pub(crate) fn handle_made(&self) {
        self.handles.fetch_add(1, Relaxed);
    }

    /// Counts a [`Pool`](crate::Pool) handle dropped; the last shuts the
    /// pool.
    pub(crate) fn handle_dropped(&self) {
        if self.handles.fetch_sub(1, AcqRel) == 1 {
            self.shut();
        }
    }

    /// Closes the pool: waiters fail, idle connections close now, connections
    /// in use close when they come back, and nothing connects again.
    pub(crate) fn shut(&self) {
        {
            let mut state = self.books.lock();
            if !std::mem::replace(&mut state.closed, true) {
                // A closed pool has no sizes to report.
                self.books
                    .metrics
                    .sizes_changed(-(state.min_size as f64), -(state.max_size as f64));
            }
        }
        self.idle.close();
        // The store is closed first: no request enters after this.
        self.waiters.close_all();
        self.books.wake.notify_one();
        self.books.progress.notify_waiters();
    }

    pub(crate) fn stats(&self, reset: bool) -> Stats {
        let mut stats = Stats::default();
        {
            let state = self.books.lock();
            stats.pool_min = state.min_size;
            stats.pool_max = state.max_size;
            stats.pool_size = state.open + state.connecting;
        }
        stats.pool_available = self.idle.status().available;
        stats.in_use = self.books.in_use.gauge();
        stats.requests_waiting = self.books.waiting.load();
        stats.requests_max_wait_ms =
            u64::try_from(self.waiters.longest_wait(Instant::now()).as_millis())
                .unwrap_or(u64::MAX);
        self.books.counters.fill(&mut stats, reset);
        stats
    }
}

impl<M: Manager> Drop for PoolInner<M> {
    fn drop(&mut self) {
        self.shut();
    }
}
