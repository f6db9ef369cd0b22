//! The whole example: OpenTelemetry wired up, a pool built, one request
//! run in its span, and what the SDK exported.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use tidepool_async::Pool;
use tidepool_async::metrics::MetricNames;
use tracing::Instrument as _;

use super::exported::ExportedMetric;
use super::request::{self, Outcome, SCHEMA};
use super::telemetry::Telemetry;
use super::trace::SpanNode;

/// The pool's name: the `db.client.connection.pool.name` of its metrics.
pub const POOL_NAME: &str = "otel-example";

/// The name of the span around the request.
pub const REQUEST_SPAN: &str = "request";

/// What [`run`] saw: the request's trace and the pool's metrics, as the
/// OpenTelemetry SDK exported them.
#[derive(Clone, Debug)]
pub struct Report {
    /// What the request did.
    pub outcome: Outcome,
    /// The request's trace: the `request` span and every span under it.
    pub trace: SpanNode,
    /// Every metric exported after the request, sorted by name.
    pub metrics: Vec<ExportedMetric>,
}

impl Report {
    /// The exported metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&ExportedMetric> {
        self.metrics.iter().find(|metric| metric.name == name)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== The request's trace, as exported ==")?;
        write!(f, "{}", self.trace)?;
        writeln!(f)?;
        writeln!(f, "== The pool's metrics, as exported ==")?;
        for metric in &self.metrics {
            write!(f, "{metric}")?;
        }
        Ok(())
    }
}

/// Wires `tracing` and `metrics` to OpenTelemetry, builds a pool on `url`
/// reporting OpenTelemetry's metric names and statement durations, runs
/// one request in a span `request`, and returns its trace and the pool's
/// metrics as the SDK exported them.
///
/// Installs the process's `metrics` recorder, so it runs once per process;
/// the `tracing` subscriber is set for this thread only, on which the pool
/// runs (a current-thread runtime).
///
/// # Errors
///
/// When a `metrics` recorder is already installed, the pool cannot
/// connect, the request fails, or the SDK exported no trace or metrics.
pub fn run(url: &str) -> Result<Report, Box<dyn Error + Send + Sync>> {
    let telemetry = Telemetry::install()?;
    let _subscriber = tracing::subscriber::set_default(telemetry.subscriber());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let pool = Pool::builder(url)
            .name(POOL_NAME)
            .min_size(1)
            .max_size(4)
            .timeout(Duration::from_secs(10))
            .metric_names(MetricNames::OpenTelemetry)
            .statement_metrics(true)
            .build()?;
        pool.wait().await?;
        pool.get().await?.batch_execute(SCHEMA).await?;
        // Only the request's spans from here on.
        telemetry.clear_spans();

        let span = tracing::info_span!(REQUEST_SPAN, otel.kind = "server");
        let outcome = request::handle(&pool).instrument(span).await?;

        let spans = telemetry.spans()?;
        let trace = SpanNode::tree(&spans, REQUEST_SPAN)
            .ok_or("the SDK exported no span named `request`")?;
        let exported = telemetry
            .collect_metrics()?
            .ok_or("the SDK exported no metrics")?;
        pool.close();
        Ok(Report {
            outcome,
            trace,
            metrics: ExportedMetric::all(&exported),
        })
    })
}
