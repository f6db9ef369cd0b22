//! psycopg_pool's gauges and counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A snapshot of a pool's gauges and counters, named as in psycopg_pool.
///
/// Gauges (`pool_*`, `requests_waiting`) describe the pool now. Counters
/// (the rest) count since the pool was built or since the last
/// [`Pool::pop_stats`](crate::Pool::pop_stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Gauge: the pool's current `min_size`.
    pub pool_min: usize,
    /// Gauge: the pool's current `max_size`.
    pub pool_max: usize,
    /// Gauge: connections the pool manages now: idle, in use, being reset
    /// or being opened.
    pub pool_size: usize,
    /// Gauge: idle connections, ready to be checked out.
    pub pool_available: usize,
    /// Gauge: requests waiting in the queue for a connection now.
    pub requests_waiting: usize,
    /// Counter: checkouts requested.
    pub requests_num: u64,
    /// Counter: checkouts that had to wait because no connection was idle.
    pub requests_queued: u64,
    /// Counter: total milliseconds that checkouts spent waiting, whether
    /// they were served in the end or not.
    pub requests_wait_ms: u64,
    /// Counter: checkouts that failed (timed out, turned away, pool closed).
    pub requests_errors: u64,
    /// Counter: total milliseconds connections were checked out.
    pub usage_ms: u64,
    /// Counter: connections returned in a state that forced the pool to close
    /// them (broken, or a reset that failed).
    pub returns_bad: u64,
    /// Counter: connection attempts.
    pub connections_num: u64,
    /// Counter: total milliseconds spent opening connections.
    pub connections_ms: u64,
    /// Counter: connection attempts that failed.
    pub connections_errors: u64,
    /// Counter: idle connections found broken and closed.
    pub connections_lost: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests_num: AtomicU64,
    pub(crate) requests_queued: AtomicU64,
    pub(crate) requests_wait_us: AtomicU64,
    pub(crate) requests_errors: AtomicU64,
    pub(crate) usage_us: AtomicU64,
    pub(crate) returns_bad: AtomicU64,
    pub(crate) connections_num: AtomicU64,
    pub(crate) connections_us: AtomicU64,
    pub(crate) connections_errors: AtomicU64,
    pub(crate) connections_lost: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// Adds a duration, in microseconds, to a counter.
pub(crate) fn add_time(counter: &AtomicU64, elapsed: Duration) {
    counter.fetch_add(
        elapsed.as_micros().min(u128::from(u64::MAX)) as u64,
        Relaxed,
    );
}

impl Counters {
    /// Copies the counters into `stats`, zeroing them when `reset` is set.
    pub(crate) fn fill(&self, stats: &mut Stats, reset: bool) {
        let read = |c: &AtomicU64| {
            if reset {
                c.swap(0, Relaxed)
            } else {
                c.load(Relaxed)
            }
        };
        stats.requests_num = read(&self.requests_num);
        stats.requests_queued = read(&self.requests_queued);
        stats.requests_wait_ms = read(&self.requests_wait_us) / 1000;
        stats.requests_errors = read(&self.requests_errors);
        stats.usage_ms = read(&self.usage_us) / 1000;
        stats.returns_bad = read(&self.returns_bad);
        stats.connections_num = read(&self.connections_num);
        stats.connections_ms = read(&self.connections_us) / 1000;
        stats.connections_errors = read(&self.connections_errors);
        stats.connections_lost = read(&self.connections_lost);
    }
}
