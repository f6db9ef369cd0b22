//! Latencies, recorded in an HDR histogram (nanoseconds, three significant
//! digits).

use std::time::Duration;

use hdrhistogram::Histogram;

/// The latencies of one system on one workload.
#[derive(Clone, Debug)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            // Invariant: 3 significant digits is within the crate's 0..=5.
            histogram: Histogram::new(3).expect("3 significant digits are allowed"),
        }
    }
}

/// The longest latency recorded without growing a histogram made by
/// [`Latencies::ready`]: a minute, in nanoseconds.
const READY_RANGE: u64 = 60_000_000_000;

impl Latencies {
    /// A histogram already grown to a minute, its memory written once: made
    /// before the measured time, recording in it neither allocates nor
    /// faults a page in while the pools are measured. (Histograms that grew
    /// at their first measured records, a thousand tasks' at once, stalled
    /// every task for milliseconds: the far tail of the fairness workload
    /// was the benchmark's own.)
    pub fn ready() -> Self {
        // Invariant: the bounds are valid (1 <= low, high >= 2 * low, 3
        // significant digits).
        let mut histogram =
            Histogram::new_with_bounds(1, READY_RANGE, 3).expect("valid histogram bounds");
        // Writes every count, so that its pages are in memory now.
        histogram.reset();
        Self { histogram }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // The histogram resizes itself, so only a value past u64 could fail.
        let _ = self.histogram.record(nanos.max(1));
    }

    /// Adds the latencies recorded in `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Both histograms resize themselves: adding cannot run out of range.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at quantile `q` (0.5 for the median, 0.999 for p99.9).
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_nanos(self.histogram.value_at_quantile(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        for micros in 1..=500 {
            a.record(Duration::from_micros(micros));
        }
        for micros in 501..=1000 {
            b.record(Duration::from_micros(micros));
        }
        a.merge(&b);
        assert_eq!(a.count(), 1000);
        let p50 = a.quantile(0.5).as_micros();
        let p99 = a.quantile(0.99).as_micros();
        assert!((499..=501).contains(&p50), "p50 {p50}");
        assert!((989..=991).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn a_ready_histogram_records_up_to_a_minute_without_growing() {
        let mut ready = Latencies::ready();
        let len = ready.histogram.distinct_values();
        ready.record(Duration::from_secs(59));
        ready.record(Duration::from_nanos(1));
        assert_eq!(ready.histogram.distinct_values(), len);
        assert_eq!(ready.count(), 2);
        // A default one starts small and grows.
        let mut grown = Latencies::default();
        let before = grown.histogram.distinct_values();
        grown.record(Duration::from_secs(59));
        assert!(grown.histogram.distinct_values() > before);
    }
}
