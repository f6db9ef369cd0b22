//! `cargo run --release -p tidepool-bench -- [--smoke] [--duration SECS]
//! [--record-spans] [--only WORKLOAD]...`: runs the benchmarks and prints
//! one table.

use std::fmt::{self, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tidepool_bench::{Options, run};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let spans = options.record_spans.then(record_spans);
    let mut progress = |row: &tidepool_bench::Row| {
        let outcome = match &row.outcome {
            Ok(measure) => format!("{:.0} ops/s", measure.throughput()),
            Err(error) => format!("failed: {error}"),
        };
        eprintln!("{} | {} | {outcome}", row.workload, row.system);
    };
    let outcome = run(&options, &mut progress);
    if let Some(spans) = spans {
        eprintln!(
            "recorded {} spans ({} bytes of names and fields)",
            spans.spans.load(Ordering::Relaxed),
            spans.bytes.load(Ordering::Relaxed)
        );
    }
    match outcome {
        Ok(report) => {
            println!("{report}");
            if report.rows.iter().any(tidepool_bench::Row::is_broken) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// With `--record-spans`: installs a `tracing` subscriber that records
/// every span of the pool (targets `tidepool`, `tidepool_core`,
/// `tidepool_async` at DEBUG), as an application exporting traces would:
/// each span's name and fields are written into a string kept with the
/// span until it closes. Returns the count of spans recorded and their
/// bytes.
fn record_spans() -> Arc<SpanCounts> {
    let counts = Arc::new(SpanCounts::default());
    let filter = Targets::new()
        .with_target("tidepool", LevelFilter::DEBUG)
        .with_target("tidepool_core", LevelFilter::DEBUG)
        .with_target("tidepool_async", LevelFilter::DEBUG);
    let layer = SpanRecorder {
        counts: Arc::clone(&counts),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .init();
    counts
}

/// Spans recorded and closed, and the bytes of their names and fields.
#[derive(Debug, Default)]
struct SpanCounts {
    spans: AtomicU64,
    bytes: AtomicU64,
}

/// A layer that writes each span's name and fields into a string stored
/// in the span's extensions, and counts it when it closes.
struct SpanRecorder {
    counts: Arc<SpanCounts>,
}

/// A span's name and fields, as recorded.
struct Recorded(String);

/// Writes fields as ` name=value`.
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanRecorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut text = String::from(attrs.metadata().name());
        attrs.record(&mut Fields(&mut text));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Recorded(text));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(recorded) = span.extensions_mut().get_mut::<Recorded>()
        {
            values.record(&mut Fields(&mut recorded.0));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(recorded) = span.extensions_mut().remove::<Recorded>()
        {
            self.counts.spans.fetch_add(1, Ordering::Relaxed);
            self.counts
                .bytes
                .fetch_add(recorded.0.len() as u64, Ordering::Relaxed);
        }
    }
}
