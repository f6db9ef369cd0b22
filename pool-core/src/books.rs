//! The books of a pool, shared by the pool, its connections and its workers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

use tokio::sync::Notify;

use crate::error::BoxedCause;
use crate::instruments::Instruments;
use crate::stats::Counters;
use crate::striped::{Striped, WaitingCount};
use crate::throttle::Throttle;

/// What the pool's background workers, its connections and its callers share.
///
/// It holds no connection, so a connection can point back at it without a
/// reference cycle.
pub(crate) struct Books {
    pub(crate) name: String,
    state: Mutex<State>,
    /// Requests waiting for a connection now.
    pub(crate) waiting: WaitingCount,
    /// Connections checked out by users now (a gauge for the statistics,
    /// changed by every checkout and return).
    pub(crate) in_use: Striped,
    /// `max_size`, also readable without the lock (written under it).
    pub(crate) max_size: AtomicUsize,
    pub(crate) counters: Counters,
    /// The pool's metric handles.
    pub(crate) metrics: Instruments,
    /// Rate-limits the warning about requests turned away (`max_waiting`).
    pub(crate) rejections: Throttle,
    /// Rate-limits the warning about slow checkouts.
    pub(crate) slow_checkouts: Throttle,
    /// Bumped by `drain()`: connections of an older generation are closed.
    pub(crate) generation: AtomicU64,
    /// Set while the pool holds more connections than a lowered `max_size`,
    /// so that returns check whether to close.
    pub(crate) shrinking: AtomicBool,
    /// Set by [`Sweeper::sweep_soon`](crate::Sweeper::sweep_soon): the
    /// worker sweeps the idle connections at its next turn.
    pub(crate) sweep_requested: AtomicBool,
    /// Wakes the maintenance worker: demand, a closed connection, a resize.
    pub(crate) wake: Notify,
    /// Wakes [`Pool::wait`](crate::Pool::wait) callers when a connection
    /// opened, failed to open or closed.
    pub(crate) progress: Notify,
}

/// The sizes that must change together, under one lock.
#[derive(Debug)]
pub(crate) struct State {
    /// Connections open: idle, in use, or being reset.
    pub(crate) open: usize,
    /// Connections being opened.
    pub(crate) connecting: usize,
    pub(crate) min_size: usize,
    pub(crate) max_size: usize,
    pub(crate) closed: bool,
    /// The error of the last failed connect, until a connect succeeds.
    pub(crate) last_error: Option<BoxedCause>,
    /// Whether `last_error` is one that retrying cannot fix (see
    /// [`Manager::is_permanent`](crate::Manager::is_permanent)).
    pub(crate) last_error_permanent: bool,
    /// Connects that failed in a row.
    pub(crate) failures: u32,
    /// No new connect before this instant (backoff after failures).
    pub(crate) retry_at: Option<Instant>,
    /// When the last connect failed.
    pub(crate) failed_at: Option<Instant>,
    /// Whether a connect ever succeeded: a pool that had connections and
    /// lost them retries quickly at first (see `backoff::QUICK_RETRY`).
    pub(crate) connected_before: bool,
    /// When the current run of failed connects began.
    pub(crate) failing_since: Option<Instant>,
    /// Whether this run of failures was reported (`reconnect_timeout`).
    pub(crate) reconnect_reported: bool,
}

impl Books {
    /// The books of a new pool; registers its metrics, under `names`, with
    /// the current recorder.
    pub(crate) fn new(
        name: String,
        min_size: usize,
        max_size: usize,
        names: crate::metrics::MetricNames,
    ) -> Self {
        let metrics = Instruments::register(&name, names);
        metrics.sizes_changed(min_size as f64, max_size as f64);
        Self {
            name,
            state: Mutex::new(State {
                open: 0,
                connecting: 0,
                min_size,
                max_size,
                closed: false,
                last_error: None,
                last_error_permanent: false,
                failures: 0,
                retry_at: None,
                failed_at: None,
                connected_before: false,
                failing_since: None,
                reconnect_reported: false,
            }),
            waiting: WaitingCount::default(),
            in_use: Striped::default(),
            max_size: AtomicUsize::new(max_size),
            counters: Counters::default(),
            metrics,
            rejections: Throttle::new(),
            slow_checkouts: Throttle::new(),
            generation: AtomicU64::new(0),
            shrinking: AtomicBool::new(false),
            sweep_requested: AtomicBool::new(false),
            wake: Notify::new(),
            progress: Notify::new(),
        }
    }

    /// Locks the state. A panic while it was held cannot leave the counts
    /// half-updated (every update is a plain assignment), so a poisoned
    /// lock is used as it is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Books the end of a connection and lets the workers refill the pool.
    pub(crate) fn connection_closed(&self) {
        {
            let mut state = self.lock();
            state.open = state.open.saturating_sub(1);
        }
        self.wake.notify_one();
        self.progress.notify_waiters();
    }
}
