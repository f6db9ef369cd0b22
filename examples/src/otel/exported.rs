//! The metrics as the OpenTelemetry SDK exported them, flattened for
//! printing and for tests.

use std::collections::BTreeMap;
use std::fmt;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};

/// One exported metric: an instrument and its data points.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportedMetric {
    /// The instrument's name, as `db.client.connection.count`.
    pub name: String,
    /// The kind of data: `Counter`, `UpDownCounter`, `Gauge`, `Histogram`.
    pub kind: &'static str,
    /// The unit, as `s` or `{connection}`.
    pub unit: String,
    /// One point per set of attributes.
    pub points: Vec<Point>,
}

/// A data point: its attributes and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The point's attributes, by key.
    pub attributes: BTreeMap<String, String>,
    /// The value: a sum or gauge value, or for a histogram its count, sum,
    /// min and max.
    pub value: String,
}

impl ExportedMetric {
    /// The metrics of `exported`, sorted by name.
    pub fn all(exported: &ResourceMetrics) -> Vec<Self> {
        let mut metrics: Vec<Self> = exported
            .scope_metrics()
            .flat_map(|scope| scope.metrics())
            .map(|metric| {
                let (kind, mut points) = match metric.data() {
                    AggregatedMetrics::F64(data) => points(data),
                    AggregatedMetrics::U64(data) => points(data),
                    AggregatedMetrics::I64(data) => points(data),
                };
                points.sort_by(|a, b| a.attributes.cmp(&b.attributes));
                Self {
                    name: metric.name().to_owned(),
                    kind,
                    unit: metric.unit().to_owned(),
                    points,
                }
            })
            .collect();
        metrics.sort_by(|a, b| a.name.cmp(&b.name));
        metrics
    }
}

/// The kind of `data` and its points.
fn points<T: Copy + fmt::Display>(data: &MetricData<T>) -> (&'static str, Vec<Point>) {
    match data {
        MetricData::Gauge(gauge) => (
            "Gauge",
            gauge
                .data_points()
                .map(|p| Point::new(p.attributes(), p.value().to_string()))
                .collect(),
        ),
        MetricData::Sum(sum) => (
            if sum.is_monotonic() {
                "Counter"
            } else {
                "UpDownCounter"
            },
            sum.data_points()
                .map(|p| Point::new(p.attributes(), p.value().to_string()))
                .collect(),
        ),
        MetricData::Histogram(histogram) => (
            "Histogram",
            histogram
                .data_points()
                .map(|p| {
                    let bound = |v: Option<T>| v.map_or("-".to_owned(), |v| v.to_string());
                    let value = format!(
                        "count={} sum={} min={} max={}",
                        p.count(),
                        p.sum(),
                        bound(p.min()),
                        bound(p.max())
                    );
                    Point::new(p.attributes(), value)
                })
                .collect(),
        ),
        MetricData::ExponentialHistogram(histogram) => (
            "ExponentialHistogram",
            histogram
                .data_points()
                .map(|p| Point::new(p.attributes(), format!("count={}", p.count())))
                .collect(),
        ),
    }
}

impl Point {
    fn new<'a>(attributes: impl Iterator<Item = &'a KeyValue>, value: String) -> Self {
        Self {
            attributes: attributes
                .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
                .collect(),
            value,
        }
    }
}

impl fmt::Display for ExportedMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({}, unit {:?})", self.name, self.kind, self.unit)?;
        for point in &self.points {
            let attributes: Vec<String> = point
                .attributes
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            writeln!(f, "    {{{}}} {}", attributes.join(", "), point.value)?;
        }
        Ok(())
    }
}
