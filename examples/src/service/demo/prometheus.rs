//! The Prometheus exporter: installed by the service (a program), never by
//! the library.

use std::sync::Mutex;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use super::waits::Tapped;

/// Histogram buckets for the pool's durations, in seconds: from a tenth
/// of a millisecond (an idle connection handed out) to 30 s (the default
/// `timeout`).
const BUCKETS: [f64; 16] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// Installs the Prometheus recorder for the whole process (once: later
/// calls return the same handle) and returns the handle that renders
/// `/metrics`. Durations are histograms with buckets (`_bucket`, `_sum`,
/// `_count`), so that `histogram_quantile` works in Prometheus. The
/// checkout waits are also kept for the dashboard's percentiles.
///
/// Call it before building the pool: a pool registers its metrics when it
/// is built.
///
/// # Errors
///
/// When another recorder was installed first, or the buckets are refused.
pub fn install_prometheus() -> Result<PrometheusHandle, String> {
    // Held while installing, so that two callers at once cannot both try.
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut installed = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
        .map_err(|e: BuildError| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    // The dashboard's wait percentiles are read off the same metrics.
    metrics::set_global_recorder(Tapped::new(recorder)).map_err(|_| {
        "another metrics recorder is installed already: install this one first".to_owned()
    })?;
    Ok(installed.insert(handle).clone())
}
