//! The checkout waits the dashboard's percentiles are computed from, taken
//! from the pool's own metrics: the recorder the service installs passes
//! every metric on to Prometheus and keeps, besides, the samples of the
//! checkout histogram (`tidepool_connections_acquire_seconds`), by pool.
//! The handlers have nothing to do with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tidepool_async::metrics::{CONNECTIONS_ACQUIRE, POOL_LABEL};

/// Checkout waits in seconds, by pool name, since they were last taken.
type Samples = Arc<Mutex<HashMap<String, Vec<f64>>>>;

/// The samples of the installed recorder, once one is installed.
static SAMPLES: OnceLock<Samples> = OnceLock::new();

/// The waits recorded for the pool named `pool` since the last call, in
/// seconds; empty when the recorder of [`Tapped`] is not installed.
pub(crate) fn take(pool: &str) -> Vec<f64> {
    SAMPLES.get().map_or_else(Vec::new, |samples| {
        lock(samples).remove(pool).unwrap_or_default()
    })
}

fn lock(samples: &Samples) -> std::sync::MutexGuard<'_, HashMap<String, Vec<f64>>> {
    samples.lock().unwrap_or_else(|e| e.into_inner())
}

/// A recorder that passes everything on to `inner` and keeps the checkout
/// waits.
pub(crate) struct Tapped<R> {
    inner: R,
    samples: Samples,
}

impl<R> Tapped<R> {
    /// Wraps `inner`; its waits are what [`take`] returns.
    pub(crate) fn new(inner: R) -> Self {
        let samples = Arc::clone(SAMPLES.get_or_init(Samples::default));
        Self { inner, samples }
    }
}

impl<R: Recorder> Recorder for Tapped<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let inner = self.inner.register_histogram(key, metadata);
        let pool = key
            .labels()
            .find(|label| label.key() == POOL_LABEL)
            .map(|label| label.value().to_owned());
        match pool {
            Some(pool) if key.name() == CONNECTIONS_ACQUIRE => Histogram::from_arc(Arc::new(Tap {
                inner,
                pool,
                samples: Arc::clone(&self.samples),
            })),
            _ => inner,
        }
    }
}

/// The checkout histogram of one pool: on to Prometheus, and kept.
struct Tap {
    inner: Histogram,
    pool: String,
    samples: Samples,
}

impl HistogramFn for Tap {
    fn record(&self, value: f64) {
        self.inner.record(value);
        lock(&self.samples)
            .entry(self.pool.clone())
            .or_default()
            .push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::DebuggingRecorder;

    #[test]
    fn the_checkout_waits_of_each_pool_are_kept_and_everything_passes_on() {
        let inner = DebuggingRecorder::new();
        let snapshotter = inner.snapshotter();
        let tapped = Tapped::new(inner);
        metrics::with_local_recorder(&tapped, || {
            metrics::histogram!(CONNECTIONS_ACQUIRE, POOL_LABEL => "tap-a").record(0.25);
            metrics::histogram!(CONNECTIONS_ACQUIRE, POOL_LABEL => "tap-a").record(0.5);
            metrics::histogram!(CONNECTIONS_ACQUIRE, POOL_LABEL => "tap-b").record(1.0);
            metrics::histogram!("other_seconds", POOL_LABEL => "tap-a").record(9.0);
        });
        assert_eq!(take("tap-a"), [0.25, 0.5]);
        assert_eq!(take("tap-a"), Vec::<f64>::new(), "taken once");
        assert_eq!(take("tap-b"), [1.0]);
        // Prometheus (here the debugging recorder) saw every sample.
        assert_eq!(snapshotter.snapshot().into_vec().len(), 3);
    }
}
