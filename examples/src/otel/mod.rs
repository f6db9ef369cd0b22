//! OpenTelemetry: the pool's spans and metrics through the OpenTelemetry
//! SDK, with in-memory exporters (no collector needed).
//!
//! [`Telemetry`] is the wiring a program does once: `tracing` spans go to
//! an OpenTelemetry tracer through `tracing-opentelemetry`, and the pool's
//! `metrics` to an OpenTelemetry meter through [`OtelRecorder`], a small
//! recorder that maps the facade's counters, gauges and histograms to
//! OpenTelemetry's Counter, UpDownCounter and Histogram. [`request::handle`]
//! is an ordinary handler; [`run`] runs it once in a span `request` and
//! returns what the SDK exported: the request's trace as a tree
//! ([`SpanNode`]) and the pool's metrics ([`ExportedMetric`]).

mod exported;
mod program;
mod recorder;
pub mod request;
mod telemetry;
mod trace;

pub use exported::{ExportedMetric, Point};
pub use program::{POOL_NAME, REQUEST_SPAN, Report, run};
pub use recorder::OtelRecorder;
pub use telemetry::Telemetry;
pub use trace::SpanNode;
