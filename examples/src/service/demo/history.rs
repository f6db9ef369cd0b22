//! One point a second of the pool's life: the dashboard's charts.
//!
//! The pool is looked at every [`TICK`]; a point keeps the peaks of the
//! second (in use, waiting, the longest wait), the wait percentiles of the
//! checkouts made during it, and the timeouts and rejections it saw.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tidepool_async::{Pool, Stats};

use super::waits;

/// How often the pool is looked at.
pub(crate) const TICK: Duration = Duration::from_millis(50);
/// How long a point covers.
pub(crate) const POINT: Duration = Duration::from_secs(1);
/// Points kept: two minutes.
const KEPT: usize = 120;

/// One second of the pool's life.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Point {
    /// The end of the second, in milliseconds since the Unix epoch.
    pub(crate) t: u64,
    /// Connections the pool manages (idle, in use, being opened or reset).
    pub(crate) size: usize,
    /// Idle connections, at the end of the second.
    pub(crate) idle: usize,
    /// The most connections checked out at once (`Stats::in_use`).
    pub(crate) in_use: usize,
    /// The most requests waiting at once.
    pub(crate) waiting: usize,
    /// The longest wait seen in progress, in milliseconds.
    pub(crate) max_wait_ms: u64,
    /// Checkouts made (or timed out) during the second.
    pub(crate) checkouts: usize,
    /// Wait percentiles of those checkouts, in milliseconds.
    pub(crate) p50_ms: f64,
    /// See `p50_ms`.
    pub(crate) p95_ms: f64,
    /// See `p50_ms`.
    pub(crate) p99_ms: f64,
    /// Checkouts that timed out during the second.
    pub(crate) timeouts: u64,
    /// Checkouts turned away at once during the second (`max_waiting`).
    pub(crate) rejected: u64,
}

/// The points of the last two minutes.
#[derive(Debug, Default)]
pub(crate) struct History {
    points: Mutex<VecDeque<Point>>,
}

impl History {
    /// The points kept, oldest first.
    pub(crate) fn points(&self) -> Vec<Point> {
        self.lock().iter().cloned().collect()
    }

    /// The latest point, if a second has passed.
    pub(crate) fn latest(&self) -> Option<Point> {
        self.lock().back().cloned()
    }

    fn push(&self, point: Point) {
        let mut points = self.lock();
        if points.len() == KEPT {
            points.pop_front();
        }
        points.push_back(point);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Point>> {
        self.points.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Looks at `pool` every [`TICK`] and adds a point to `history` every
/// [`POINT`], until the pool closes.
pub(crate) async fn record(pool: Pool, history: &History) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ticks_per_point = (POINT.as_millis() / TICK.as_millis()) as usize;
    let mut last = pool.stats();
    let mut point = Point::default();
    let mut ticks = 0;
    while !pool.is_closed() {
        ticker.tick().await;
        let stats = pool.stats();
        point.in_use = point.in_use.max(stats.in_use);
        point.waiting = point.waiting.max(stats.requests_waiting);
        point.max_wait_ms = point.max_wait_ms.max(stats.requests_max_wait_ms);
        ticks += 1;
        if ticks < ticks_per_point {
            continue;
        }
        let waits = waits::take(&pool.config().name)
            .into_iter()
            .map(Duration::from_secs_f64)
            .collect();
        finish(&mut point, &stats, &last, waits);
        history.push(std::mem::take(&mut point));
        last = stats;
        ticks = 0;
    }
}

/// Completes a second's point with its end state, its percentiles and the
/// counters' growth since `last`.
fn finish(point: &mut Point, stats: &Stats, last: &Stats, mut waits: Vec<Duration>) {
    point.t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    point.size = stats.pool_size;
    point.idle = stats.pool_available;
    waits.sort_unstable();
    point.checkouts = waits.len();
    point.p50_ms = percentile_ms(&waits, 50);
    point.p95_ms = percentile_ms(&waits, 95);
    point.p99_ms = percentile_ms(&waits, 99);
    // A `pop_stats` elsewhere would reset the counters: never negative.
    point.timeouts = stats
        .requests_timeouts
        .saturating_sub(last.requests_timeouts);
    point.rejected = stats
        .requests_rejected
        .saturating_sub(last.requests_rejected);
}

/// The `p`th percentile (nearest rank) of sorted durations, in
/// milliseconds; 0 when there are none.
pub(crate) fn percentile_ms(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let waits: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&waits, 50), 50.0);
        assert_eq!(percentile_ms(&waits, 95), 95.0);
        assert_eq!(percentile_ms(&waits, 99), 99.0);
        assert_eq!(percentile_ms(&waits[..1], 99), 1.0);
        assert_eq!(percentile_ms(&[], 50), 0.0);
    }
}
