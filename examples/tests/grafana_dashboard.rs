//! The Grafana dashboard in `examples/grafana` asks only for metrics the
//! library reports, so that it cannot rot when a metric is renamed.

use std::collections::BTreeSet;

use serde_json::Value;
use tidepool_async::metrics;

const DASHBOARD: &str = include_str!("../grafana/tidepool-dashboard.json");
const OTEL_DASHBOARD: &str = include_str!("../grafana/tidepool-dashboard-otel.json");
const METRICS_MD: &str = include_str!("../../METRICS.md");

/// The library's metric names: its constants.
const LIBRARY: [&str; 15] = [
    metrics::CONNECTIONS,
    metrics::CONNECTIONS_IDLE,
    metrics::CONNECTIONS_IN_USE,
    metrics::CONNECTIONS_PENDING,
    metrics::CONNECTIONS_MIN,
    metrics::CONNECTIONS_MAX,
    metrics::CONNECTIONS_ACQUIRED,
    metrics::CONNECTIONS_TIMEOUT,
    metrics::CONNECTIONS_REJECTED,
    metrics::CONNECTIONS_CREATED,
    metrics::CONNECTIONS_CREATE_ERRORS,
    metrics::CONNECTIONS_CLOSED,
    metrics::CONNECTIONS_ACQUIRE,
    metrics::CONNECTIONS_USAGE,
    metrics::CONNECTIONS_CREATION,
];

/// The histograms, which Prometheus shows as `_bucket`, `_sum`, `_count`.
const HISTOGRAMS: [&str; 3] = [
    metrics::CONNECTIONS_ACQUIRE,
    metrics::CONNECTIONS_USAGE,
    metrics::CONNECTIONS_CREATION,
];

/// Every `expr` and templating `query` in the dashboard.
fn queries(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition" | "query", Value::String(query)) => {
                        found.push(query.clone())
                    }
                    _ => queries(value, found),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|v| queries(v, found)),
        _ => {}
    }
}

/// The words of `query` that name tidepool metrics.
fn metric_names(query: &str) -> Vec<String> {
    query
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("tidepool_"))
        .map(str::to_owned)
        .collect()
}

/// A series name as the library knows it: a histogram's `_bucket`, `_sum`
/// and `_count` are its own.
fn library_name(series: &str) -> Option<&'static str> {
    LIBRARY
        .iter()
        .copied()
        .find(|&name| name == series)
        .or_else(|| {
            HISTOGRAMS.iter().copied().find(|&histogram| {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| series.strip_suffix(suffix) == Some(histogram))
            })
        })
}

#[test]
fn every_metric_the_dashboard_queries_is_one_the_library_reports() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut found = Vec::new();
    queries(&dashboard, &mut found);
    assert!(found.len() >= 20, "only {} queries found", found.len());
    let mut used = BTreeSet::new();
    for query in &found {
        let names = metric_names(query);
        assert!(
            !names.is_empty(),
            "a query names no tidepool metric: {query}"
        );
        for name in names {
            let known = library_name(&name)
                .unwrap_or_else(|| panic!("{name} (in {query}) is not a metric of the library"));
            used.insert(known);
        }
    }
    // The panels the dashboard is for: utilization, waiting, wait
    // percentiles, timeouts, rejections, churn.
    for needed in [
        metrics::CONNECTIONS_IN_USE,
        metrics::CONNECTIONS_MAX,
        metrics::CONNECTIONS_PENDING,
        metrics::CONNECTIONS_ACQUIRE,
        metrics::CONNECTIONS_TIMEOUT,
        metrics::CONNECTIONS_REJECTED,
        metrics::CONNECTIONS_CREATED,
        metrics::CONNECTIONS_CLOSED,
    ] {
        assert!(
            used.contains(needed),
            "the dashboard does not show {needed}"
        );
    }
    // Every panel has a query, and the data source is an import input.
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(
            !panel["targets"].as_array().expect("targets").is_empty(),
            "panel {} has no query",
            panel["title"]
        );
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}");
    }
}

#[test]
fn the_library_list_is_the_one_metrics_md_documents() {
    // METRICS.md's table rows start with "| `name` |".
    let documented: BTreeSet<&str> = METRICS_MD
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name))
        .filter(|name| name.starts_with("tidepool_"))
        .collect();
    let library: BTreeSet<&str> = LIBRARY.into_iter().collect();
    assert_eq!(documented, library);
}

#[test]
fn names_outside_the_library_are_refused() {
    assert_eq!(
        library_name("tidepool_connections_in_use"),
        Some(metrics::CONNECTIONS_IN_USE)
    );
    assert_eq!(
        library_name("tidepool_connections_acquire_seconds_bucket"),
        Some(metrics::CONNECTIONS_ACQUIRE)
    );
    assert_eq!(library_name("tidepool_connections_in_use_bucket"), None);
    assert_eq!(library_name("tidepool_connections_waiting"), None);
    assert_eq!(
        metric_names("rate(tidepool_connections_timeout_total{pool=~\"$pool\"}[5m])"),
        ["tidepool_connections_timeout_total"]
    );
}

/// OpenTelemetry's metric names, as a Prometheus exporter writes them
/// (dots as underscores), and whether each is a histogram.
fn otel_names() -> Vec<(String, bool)> {
    [
        (metrics::OTEL_CONNECTION_COUNT, false),
        (metrics::OTEL_CONNECTION_IDLE_MAX, false),
        (metrics::OTEL_CONNECTION_IDLE_MIN, false),
        (metrics::OTEL_CONNECTION_MAX, false),
        (metrics::OTEL_CONNECTION_PENDING_REQUESTS, false),
        (metrics::OTEL_CONNECTION_TIMEOUTS, false),
        (metrics::OTEL_CONNECTION_CREATE_TIME, true),
        (metrics::OTEL_CONNECTION_WAIT_TIME, true),
        (metrics::OTEL_CONNECTION_USE_TIME, true),
    ]
    .into_iter()
    .map(|(name, histogram)| (name.replace('.', "_"), histogram))
    .collect()
}

#[test]
fn the_opentelemetry_dashboard_queries_only_opentelemetry_names() {
    let dashboard: Value = serde_json::from_str(OTEL_DASHBOARD).expect("the dashboard is JSON");
    let mut found = Vec::new();
    queries(&dashboard, &mut found);
    assert!(found.len() >= 15, "only {} queries found", found.len());
    let known = otel_names();
    let label = metrics::OTEL_POOL_NAME.replace('.', "_");
    let mut used = BTreeSet::new();
    for query in &found {
        assert!(
            !query.contains("tidepool_"),
            "a query names a tidepool metric: {query}"
        );
        assert!(query.contains(&label), "a query ignores the pool: {query}");
        let names: Vec<&str> = query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("db_client_connection_") && *word != label)
            .filter(|word| *word != metrics::OTEL_STATE.replace('.', "_"))
            .collect();
        assert!(!names.is_empty(), "a query names no metric: {query}");
        for name in names {
            let base = known
                .iter()
                .find(|(known, histogram)| {
                    name == known
                        || (*histogram
                            && ["_bucket", "_sum", "_count"]
                                .iter()
                                .any(|suffix| name.strip_suffix(suffix) == Some(known.as_str())))
                })
                .unwrap_or_else(|| panic!("{name} (in {query}) is not an OpenTelemetry metric"));
            used.insert(base.0.clone());
        }
    }
    for needed in [
        metrics::OTEL_CONNECTION_COUNT,
        metrics::OTEL_CONNECTION_MAX,
        metrics::OTEL_CONNECTION_PENDING_REQUESTS,
        metrics::OTEL_CONNECTION_WAIT_TIME,
        metrics::OTEL_CONNECTION_TIMEOUTS,
        metrics::OTEL_CONNECTION_CREATE_TIME,
        metrics::OTEL_CONNECTION_USE_TIME,
    ] {
        let needed = needed.replace('.', "_");
        assert!(
            used.contains(&needed),
            "the dashboard does not show {needed}"
        );
    }
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(
            !panel["targets"].as_array().expect("targets").is_empty(),
            "panel {} has no query",
            panel["title"]
        );
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}");
    }
}

#[test]
fn the_opentelemetry_list_is_the_one_metrics_md_documents() {
    let documented: BTreeSet<String> = METRICS_MD
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name))
        .filter(|name| name.starts_with("db.client.connection."))
        .map(|name| name.replace('.', "_"))
        .collect();
    let library: BTreeSet<String> = otel_names().into_iter().map(|(name, _)| name).collect();
    assert_eq!(documented, library);
}
