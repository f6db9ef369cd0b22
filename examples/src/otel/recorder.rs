//! A `metrics` recorder that reports to an OpenTelemetry meter: the bridge
//! from the facade the pool reports through to the OpenTelemetry SDK.
//!
//! Each kind of `metrics` instrument becomes the OpenTelemetry instrument
//! the semantic conventions use for it: a counter a Counter, a gauge an
//! UpDownCounter (the pool moves its OpenTelemetry gauges by increments
//! only; a `set` is turned into the increment from the last value), a
//! histogram a Histogram with the conventions' bucket boundaries for
//! durations in seconds. Labels become attributes, and the unit and
//! description given with `describe_*` go with the instrument.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    SharedString, Unit,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, UpDownCounter};
use tidepool_async::metrics::{OTEL_CONNECTION_PENDING_REQUESTS, OTEL_CONNECTION_TIMEOUTS};

/// The bucket boundaries (seconds) that OpenTelemetry's semantic
/// conventions give `db.client.operation.duration`, used for every
/// histogram in seconds: the SDK's default boundaries are meant for
/// milliseconds.
const SECONDS_BOUNDARIES: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// A [`metrics::Recorder`] that creates its instruments on an
/// OpenTelemetry [`Meter`]. Install it with
/// [`metrics::set_global_recorder`] before building the pool.
#[derive(Debug)]
pub struct OtelRecorder {
    meter: Meter,
    descriptions: Mutex<HashMap<String, (Option<Unit>, SharedString)>>,
}

impl OtelRecorder {
    /// A recorder whose instruments are created on `meter`.
    pub fn new(meter: Meter) -> Self {
        Self {
            meter,
            descriptions: Mutex::new(HashMap::new()),
        }
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.descriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.as_str().to_owned(), (unit, description));
    }

    /// The OpenTelemetry unit and the description given for `name`.
    fn description(&self, name: &str) -> (String, String) {
        let descriptions = self
            .descriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match descriptions.get(name) {
            Some((unit, text)) => (
                unit.map(|unit| otel_unit(name, unit)).unwrap_or_default(),
                text.to_string(),
            ),
            None => (String::new(), String::new()),
        }
    }
}

/// The unit OpenTelemetry writes for `unit`: UCUM symbols, and for counts
/// the semantic conventions' annotation of what is counted.
fn otel_unit(name: &str, unit: Unit) -> String {
    match unit {
        Unit::Count => match name {
            OTEL_CONNECTION_PENDING_REQUESTS => "{request}",
            OTEL_CONNECTION_TIMEOUTS => "{timeout}",
            _ if name.starts_with("db.client.connection") => "{connection}",
            _ => "{count}",
        }
        .to_owned(),
        Unit::Seconds => "s".to_owned(),
        Unit::Milliseconds => "ms".to_owned(),
        Unit::Microseconds => "us".to_owned(),
        Unit::Nanoseconds => "ns".to_owned(),
        Unit::Bytes => "By".to_owned(),
        Unit::Percent => "%".to_owned(),
        other => other.as_canonical_label().to_owned(),
    }
}

/// The attributes of a `metrics` key: its labels.
fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|label| KeyValue::new(label.key().to_owned(), label.value().to_owned()))
        .collect()
}

impl metrics::Recorder for OtelRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let name = key.name().to_owned();
        let (unit, description) = self.description(&name);
        let counter = self
            .meter
            .u64_counter(name)
            .with_unit(unit)
            .with_description(description)
            .build();
        Counter::from_arc(Arc::new(OtelCounter {
            counter,
            attributes: attributes(key),
            last: AtomicU64::new(0),
        }))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let name = key.name().to_owned();
        let (unit, description) = self.description(&name);
        let counter = self
            .meter
            .f64_up_down_counter(name)
            .with_unit(unit)
            .with_description(description)
            .build();
        Gauge::from_arc(Arc::new(OtelGauge {
            counter,
            attributes: attributes(key),
            value: AtomicU64::new(0f64.to_bits()),
        }))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let name = key.name().to_owned();
        let (unit, description) = self.description(&name);
        let mut builder = self.meter.f64_histogram(name);
        if unit == "s" {
            builder = builder.with_boundaries(SECONDS_BOUNDARIES.to_vec());
        }
        let histogram = builder
            .with_unit(unit)
            .with_description(description)
            .build();
        Histogram::from_arc(Arc::new(OtelHistogram {
            histogram,
            attributes: attributes(key),
        }))
    }
}

/// A `metrics` counter reporting to an OpenTelemetry Counter.
struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    /// The last absolute value, to turn `absolute` into an increment.
    last: AtomicU64,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.last.fetch_add(value, Ordering::Relaxed);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        let before = self.last.fetch_max(value, Ordering::Relaxed);
        self.counter
            .add(value.saturating_sub(before), &self.attributes);
    }
}

/// A `metrics` gauge reporting to an OpenTelemetry UpDownCounter.
struct OtelGauge {
    counter: UpDownCounter<f64>,
    attributes: Vec<KeyValue>,
    /// The gauge's value (`f64` bits), to turn `set` into an increment.
    value: AtomicU64,
}

impl OtelGauge {
    /// Moves the value by what `change` computes from the current value.
    fn update(&self, change: impl Fn(f64) -> f64) {
        let mut delta = 0.0;
        let _ = self
            .value
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                let current = f64::from_bits(bits);
                delta = change(current);
                Some((current + delta).to_bits())
            });
        if delta != 0.0 {
            self.counter.add(delta, &self.attributes);
        }
    }
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        self.update(|_| value);
    }

    fn decrement(&self, value: f64) {
        self.update(|_| -value);
    }

    fn set(&self, value: f64) {
        self.update(|current| value - current);
    }
}

/// A `metrics` histogram reporting to an OpenTelemetry Histogram.
struct OtelHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}
