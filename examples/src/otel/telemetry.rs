//! The wiring a program does once at start: `tracing` spans to an
//! OpenTelemetry tracer through `tracing-opentelemetry`, and the pool's
//! `metrics` to an OpenTelemetry meter through [`OtelRecorder`]. The
//! exporters here keep what they are given in memory; a program that sends
//! to a collector swaps them for OTLP exporters and changes nothing else.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Subscriber;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;

use super::recorder::OtelRecorder;

/// The name of the instrumentation scope of the example's tracer and meter.
const SCOPE: &str = "tidepool-examples";

/// OpenTelemetry's tracer and meter providers, with in-memory exporters.
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    spans: InMemorySpanExporter,
    meter_provider: SdkMeterProvider,
    metrics: InMemoryMetricExporter,
}

impl Telemetry {
    /// Builds the providers and installs the `metrics` recorder that
    /// reports to the meter, for the whole process (install it before
    /// building a pool: the pool registers its metrics when it is built).
    ///
    /// # Errors
    ///
    /// When a `metrics` recorder is already installed in this process.
    pub fn install() -> Result<Self, metrics::SetRecorderError<OtelRecorder>> {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        metrics::set_global_recorder(OtelRecorder::new(meter_provider.meter(SCOPE)))?;
        Ok(Self {
            tracer_provider,
            spans,
            meter_provider,
            metrics,
        })
    }

    /// A `tracing` subscriber that turns spans into OpenTelemetry spans:
    /// the pool's (targets `tidepool`, `tidepool_core`, `tidepool_async`)
    /// from DEBUG, where they are emitted, and the program's from INFO.
    pub fn subscriber(&self) -> impl Subscriber + Send + Sync + use<> {
        let layer = tracing_opentelemetry::layer()
            .with_tracer(self.tracer_provider.tracer(SCOPE))
            // Only the attributes the spans carry: no source locations,
            // threads or busy/idle times.
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(
                Targets::new()
                    .with_target("tidepool", LevelFilter::DEBUG)
                    .with_target("tidepool_core", LevelFilter::DEBUG)
                    .with_target("tidepool_async", LevelFilter::DEBUG)
                    .with_target("tidepool_examples", LevelFilter::INFO),
            );
        tracing_subscriber::registry().with(layer)
    }

    /// Forgets the spans exported so far.
    pub fn clear_spans(&self) {
        self.spans.reset();
    }

    /// The spans exported so far (each when it ended).
    ///
    /// # Errors
    ///
    /// When the exporter was shut down.
    pub fn spans(&self) -> Result<Vec<SpanData>, opentelemetry_sdk::error::OTelSdkError> {
        self.tracer_provider.force_flush()?;
        self.spans.get_finished_spans()
    }

    /// Collects the metrics now and returns them as the SDK exported them
    /// (cumulative).
    ///
    /// # Errors
    ///
    /// When the reader or the exporter was shut down.
    pub fn collect_metrics(
        &self,
    ) -> Result<Option<ResourceMetrics>, opentelemetry_sdk::error::OTelSdkError> {
        self.metrics.reset();
        self.meter_provider.force_flush()?;
        Ok(self.metrics.get_finished_metrics()?.pop())
    }
}
