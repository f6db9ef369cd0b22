//! Warnings that could flood the log under overload, let through at most
//! once per period with a count of what happened in between.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

/// How often a throttled warning may be logged.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);

/// Counts occurrences of something worth a warning and says when to log it:
/// at the first occurrence, then at most once per [`PERIOD`].
#[derive(Debug)]
pub(crate) struct Throttle {
    epoch: Instant,
    /// Milliseconds after `epoch` before which no warning is logged.
    next_ms: AtomicU64,
    /// Occurrences not yet reported.
    count: AtomicU64,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            next_ms: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence. Returns how many occurred since the last
    /// warning (this one included) when a warning is due now, else `None`.
    pub(crate) fn hit(&self) -> Option<u64> {
        self.count.fetch_add(1, Relaxed);
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next_ms = self.next_ms.load(Relaxed);
        if now_ms < next_ms {
            return None;
        }
        let period_ms = u64::try_from(PERIOD.as_millis()).unwrap_or(u64::MAX);
        // One caller wins the period; the others count and move on.
        self.next_ms
            .compare_exchange(next_ms, now_ms.saturating_add(period_ms), Relaxed, Relaxed)
            .ok()?;
        Some(self.count.swap(0, Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lets_one_warning_through_per_period_with_the_count() {
        let throttle = Throttle::new();
        assert_eq!(throttle.hit(), Some(1));
        for _ in 0..5 {
            assert_eq!(throttle.hit(), None);
        }
        tokio::time::advance(PERIOD / 2).await;
        assert_eq!(throttle.hit(), None);
        tokio::time::advance(PERIOD / 2).await;
        assert_eq!(throttle.hit(), Some(7));
        assert_eq!(throttle.hit(), None);
    }
}
