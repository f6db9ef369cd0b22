//! psycopg_pool's gauges and counters, and a few of tidepool's own.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::close_reason::CloseReason;
use crate::striped::Striped;

/// A snapshot of a pool's gauges and counters.
///
/// The first fields keep psycopg_pool's names and meanings; the others
/// (marked "tidepool's own") add what dashboards need: the longest current
/// wait, timeouts and rejections apart, resets, and closes by reason.
///
/// Gauges describe the pool now. Counters count since the pool was built
/// or since the last [`Pool::pop_stats`](crate::Pool::pop_stats), which
/// sets the counters, not the gauges, back to zero.
///
/// It serializes with serde under the same names, for a `/stats` endpoint
/// in one line (`serde_json::to_string(&pool.stats())`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
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
    /// Gauge (tidepool's own): connections checked out by users now (not
    /// those being opened, health-checked or reset).
    pub in_use: usize,
    /// Gauge: requests waiting in the queue for a connection now.
    pub requests_waiting: usize,
    /// Gauge (tidepool's own, PgBouncer's `maxwait`): how many milliseconds
    /// the request waiting longest has waited so far; 0 when no request
    /// waits.
    pub requests_max_wait_ms: u64,
    /// Counter: checkouts requested.
    pub requests_num: u64,
    /// Counter: checkouts that had to wait because no connection was idle.
    pub requests_queued: u64,
    /// Counter: total milliseconds that checkouts spent waiting, whether
    /// they were served in the end or not.
    pub requests_wait_ms: u64,
    /// Counter: checkouts that failed (timed out, turned away, pool closed).
    pub requests_errors: u64,
    /// Counter (tidepool's own): checkouts that timed out; part of
    /// `requests_errors`.
    pub requests_timeouts: u64,
    /// Counter (tidepool's own): checkouts turned away at once because
    /// `max_waiting` requests were waiting; part of `requests_errors`.
    pub requests_rejected: u64,
    /// Counter: total milliseconds connections were checked out.
    pub usage_ms: u64,
    /// Counter: connections returned in a state that forced the pool to close
    /// them (broken, or a reset that failed).
    pub returns_bad: u64,
    /// Counter (tidepool's own): returned connections that had to be reset
    /// (rolled back, for example) before anyone else could use them.
    pub returns_reset: u64,
    /// Counter: connection attempts.
    pub connections_num: u64,
    /// Counter: total milliseconds spent opening connections.
    pub connections_ms: u64,
    /// Counter: connection attempts that failed.
    pub connections_errors: u64,
    /// Counter: idle connections found broken, or failing their health
    /// check, and closed.
    pub connections_lost: u64,
    /// Counter (tidepool's own): connections closed because they lived
    /// longer than `max_lifetime`.
    pub connections_closed_lifetime: u64,
    /// Counter (tidepool's own): connections above `min_size` closed
    /// because they were idle longer than `max_idle`.
    pub connections_closed_idle: u64,
    /// Counter (tidepool's own): connections closed because they were found
    /// broken, idle or when returned.
    pub connections_closed_broken: u64,
    /// Counter (tidepool's own): connections closed because they failed a
    /// health check.
    pub connections_closed_check_failed: u64,
    /// Counter (tidepool's own): returned connections closed because their
    /// reset failed or took longer than `reset_timeout`.
    pub connections_closed_reset_failed: u64,
    /// Counter (tidepool's own): connections closed by
    /// [`Pool::drain`](crate::Pool::drain).
    pub connections_closed_drained: u64,
    /// Counter (tidepool's own): connections closed because the pool held
    /// more than a lowered `max_size` ([`Pool::resize`](crate::Pool::resize)).
    pub connections_closed_shrunk: u64,
    /// Gauge (tidepool's own): connections open now for listeners
    /// (`LISTEN`/`NOTIFY` in the PostgreSQL pool), which are the pool's
    /// own but not counted in `pool_size` or bound by `max_size`. The
    /// engine leaves it 0; the PostgreSQL pool fills it.
    pub listeners: usize,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    // Added to by every checkout or return: spread over cache lines.
    pub(crate) requests_num: Striped,
    pub(crate) requests_queued: Striped,
    pub(crate) requests_wait_us: Striped,
    pub(crate) usage_us: Striped,
    pub(crate) requests_errors: AtomicU64,
    pub(crate) requests_timeouts: AtomicU64,
    pub(crate) requests_rejected: AtomicU64,
    pub(crate) returns_bad: AtomicU64,
    pub(crate) returns_reset: AtomicU64,
    pub(crate) connections_num: AtomicU64,
    pub(crate) connections_us: AtomicU64,
    pub(crate) connections_errors: AtomicU64,
    pub(crate) connections_lost: AtomicU64,
    /// Closes by reason, in the order of [`CloseReason::LABELS`].
    pub(crate) closed: [AtomicU64; CloseReason::LABELS.len()],
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// Adds a duration, in microseconds, to a counter.
pub(crate) fn add_time(counter: &AtomicU64, elapsed: Duration) {
    counter.fetch_add(micros(elapsed), Relaxed);
}

/// A duration in whole microseconds, as the time counters keep it.
pub(crate) fn micros(elapsed: Duration) -> u64 {
    elapsed.as_micros().min(u128::from(u64::MAX)) as u64
}

impl Counters {
    /// Counts a connection closed for `reason`.
    pub(crate) fn closed(&self, reason: CloseReason) {
        bump(&self.closed[reason.label_index()]);
        match reason {
            CloseReason::Lost | CloseReason::CheckFailed => bump(&self.connections_lost),
            CloseReason::ReturnedBroken | CloseReason::ResetFailed => bump(&self.returns_bad),
            _ => {}
        }
    }

    /// Copies the counters into `stats`, zeroing them when `reset` is set.
    pub(crate) fn fill(&self, stats: &mut Stats, reset: bool) {
        let read = |c: &AtomicU64| {
            if reset {
                c.swap(0, Relaxed)
            } else {
                c.load(Relaxed)
            }
        };
        let read_striped = |c: &Striped| if reset { c.take() } else { c.sum() };
        stats.requests_num = read_striped(&self.requests_num);
        stats.requests_queued = read_striped(&self.requests_queued);
        stats.requests_wait_ms = read_striped(&self.requests_wait_us) / 1000;
        stats.requests_errors = read(&self.requests_errors);
        stats.requests_timeouts = read(&self.requests_timeouts);
        stats.requests_rejected = read(&self.requests_rejected);
        stats.usage_ms = read_striped(&self.usage_us) / 1000;
        stats.returns_bad = read(&self.returns_bad);
        stats.returns_reset = read(&self.returns_reset);
        stats.connections_num = read(&self.connections_num);
        stats.connections_ms = read(&self.connections_us) / 1000;
        stats.connections_errors = read(&self.connections_errors);
        stats.connections_lost = read(&self.connections_lost);
        let closed = |reason: CloseReason| read(&self.closed[reason.label_index()]);
        stats.connections_closed_lifetime = closed(CloseReason::Lifetime);
        stats.connections_closed_idle = closed(CloseReason::Idle);
        stats.connections_closed_broken = closed(CloseReason::Lost);
        stats.connections_closed_check_failed = closed(CloseReason::CheckFailed);
        stats.connections_closed_reset_failed = closed(CloseReason::ResetFailed);
        stats.connections_closed_drained = closed(CloseReason::Drained);
        stats.connections_closed_shrunk = closed(CloseReason::Shrunk);
    }
}
