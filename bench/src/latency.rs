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

impl Latencies {
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
}
