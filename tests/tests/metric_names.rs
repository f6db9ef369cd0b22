//! The pool's metrics under each choice of names (`metric_names`):
//! tidepool's own, OpenTelemetry's semantic conventions, or both. A real
//! pool is put under load (queued checkouts and a timeout), then every
//! series the recorder saw is listed with its kind, unit and labels and
//! compared with the table below: nothing missing, nothing extra.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{database, ok, tagged_url};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tidepool_async::Pool;
use tidepool_async::metrics::MetricNames;

/// One series: name, kind, unit, and its labels as `key=value` (the pool's
/// own name shown as `*`).
type Series = (String, &'static str, &'static str, Vec<String>);

fn kind(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Histogram => "histogram",
    }
}

/// tidepool's names: METRICS.md's first table.
fn tidepool_table() -> BTreeSet<Series> {
    let pool = || vec!["pool=*".to_owned()];
    let mut table = BTreeSet::new();
    for name in [
        "tidepool_connections",
        "tidepool_connections_idle",
        "tidepool_connections_in_use",
        "tidepool_connections_pending",
        "tidepool_connections_min",
        "tidepool_connections_max",
    ] {
        table.insert((name.to_owned(), "gauge", "count", pool()));
    }
    for name in [
        "tidepool_connections_acquired_total",
        "tidepool_connections_timeout_total",
        "tidepool_connections_rejected_total",
        "tidepool_connections_created_total",
        "tidepool_connections_create_errors_total",
    ] {
        table.insert((name.to_owned(), "counter", "count", pool()));
    }
    for reason in [
        "lifetime",
        "idle",
        "broken",
        "check_failed",
        "reset_failed",
        "drained",
        "shrunk",
    ] {
        table.insert((
            "tidepool_connections_closed_total".to_owned(),
            "counter",
            "count",
            vec!["pool=*".to_owned(), format!("reason={reason}")],
        ));
    }
    for name in [
        "tidepool_connections_acquire_seconds",
        "tidepool_connections_usage_seconds",
        "tidepool_connections_creation_seconds",
    ] {
        table.insert((name.to_owned(), "histogram", "seconds", pool()));
    }
    table
}

/// OpenTelemetry's names: the semantic conventions' database client
/// connection metrics, UpDownCounters as gauges.
fn otel_table() -> BTreeSet<Series> {
    let pool = || vec!["db.client.connection.pool.name=*".to_owned()];
    let mut table = BTreeSet::new();
    for state in ["idle", "used"] {
        table.insert((
            "db.client.connection.count".to_owned(),
            "gauge",
            "count",
            vec![
                "db.client.connection.pool.name=*".to_owned(),
                format!("db.client.connection.state={state}"),
            ],
        ));
    }
    for name in [
        "db.client.connection.idle.max",
        "db.client.connection.idle.min",
        "db.client.connection.max",
        "db.client.connection.pending_requests",
    ] {
        table.insert((name.to_owned(), "gauge", "count", pool()));
    }
    table.insert((
        "db.client.connection.timeouts".to_owned(),
        "counter",
        "count",
        pool(),
    ));
    for name in [
        "db.client.connection.create_time",
        "db.client.connection.wait_time",
        "db.client.connection.use_time",
    ] {
        table.insert((name.to_owned(), "histogram", "seconds", pool()));
    }
    table
}

/// What a pool under load reports with `names`: its series, and the
/// values of the counters and gauges and sample counts of histograms, by
/// name and labels.
async fn record(names: MetricNames) -> (BTreeSet<Series>, Vec<(String, f64)>) {
    let db = database();
    let (app, url) = tagged_url(&db, "metric_names");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let pool = metrics::with_local_recorder(&recorder, || {
        ok(Pool::builder(&url)
            .name(app.clone())
            .min_size(1)
            .max_size(2)
            .timeout(Duration::from_secs(10))
            .metric_names(names)
            .build())
    });
    // Load: 8 tasks over 2 connections, so that requests queue.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let conn = ok(pool.get().await);
                    ok(conn.query_one("select pg_sleep(0.001)", &[]).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a load task");
    }
    // A timeout: both connections held.
    let a = ok(pool.get().await);
    let b = ok(pool.get().await);
    let timed_out = pool.get_timeout(Duration::from_millis(50)).await;
    assert!(timed_out.expect_err("both are held").is_timeout());
    drop((a, b));

    let mut series = BTreeSet::new();
    let mut values = Vec::new();
    for (key, unit, _, value) in snapshotter.snapshot().into_vec() {
        let (metric_kind, key) = key.into_parts();
        let labels: Vec<String> = key
            .labels()
            .map(|l| {
                let value = if l.value() == app { "*" } else { l.value() };
                format!("{}={value}", l.key())
            })
            .collect();
        let unit = match unit {
            Some(metrics::Unit::Count) => "count",
            Some(metrics::Unit::Seconds) => "seconds",
            Some(_) => "other",
            None => "none",
        };
        let shown = format!("{}{{{}}}", key.name(), labels.join(","));
        values.push((
            shown,
            match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(g) => g.0,
                DebugValue::Histogram(samples) => samples.len() as f64,
            },
        ));
        series.insert((key.name().to_owned(), kind(metric_kind), unit, labels));
    }
    drop(pool);
    (series, values)
}

fn value(values: &[(String, f64)], series: &str) -> f64 {
    values
        .iter()
        .find(|(name, _)| name == series)
        .unwrap_or_else(|| panic!("no series {series} in {values:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tidepool_names_are_the_default_set() {
    assert_eq!(
        tidepool_async::PoolConfig::default().metric_names,
        MetricNames::Tidepool
    );
    let (series, values) = record(MetricNames::Tidepool).await;
    assert_eq!(series, tidepool_table());
    assert_eq!(
        value(&values, "tidepool_connections_timeout_total{pool=*}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_names_follow_the_semantic_conventions() {
    let (series, values) = record(MetricNames::OpenTelemetry).await;
    assert_eq!(series, otel_table());
    let pool = "db.client.connection.pool.name=*";
    assert_eq!(
        value(&values, &format!("db.client.connection.timeouts{{{pool}}}")),
        1.0
    );
    assert_eq!(
        value(&values, &format!("db.client.connection.max{{{pool}}}")),
        2.0
    );
    assert_eq!(
        value(&values, &format!("db.client.connection.idle.min{{{pool}}}")),
        1.0
    );
    // 80 checkouts of the load, two more, and the timeout.
    assert_eq!(
        value(
            &values,
            &format!("db.client.connection.wait_time{{{pool}}}")
        ),
        83.0
    );
    assert_eq!(
        value(&values, &format!("db.client.connection.use_time{{{pool}}}")),
        82.0
    );
    // Nothing is in use once every connection came back.
    assert_eq!(
        value(
            &values,
            &format!("db.client.connection.count{{{pool},db.client.connection.state=used}}")
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sets_report_the_same_events() {
    let (series, values) = record(MetricNames::Both).await;
    let expected: BTreeSet<Series> = tidepool_table().union(&otel_table()).cloned().collect();
    assert_eq!(series, expected);
    let pool = "db.client.connection.pool.name=*";
    let idle = value(
        &values,
        &format!("db.client.connection.count{{{pool},db.client.connection.state=idle}}"),
    );
    let used = value(
        &values,
        &format!("db.client.connection.count{{{pool},db.client.connection.state=used}}"),
    );
    assert_eq!(idle + used, value(&values, "tidepool_connections{pool=*}"));
    assert_eq!(
        value(
            &values,
            &format!("db.client.connection.wait_time{{{pool}}}")
        ),
        value(&values, "tidepool_connections_acquire_seconds{pool=*}")
    );
    assert_eq!(
        value(
            &values,
            &format!("db.client.connection.create_time{{{pool}}}")
        ),
        value(&values, "tidepool_connections_creation_seconds{pool=*}")
    );
}

#[test]
fn the_names_are_read_from_settings_files() {
    for (text, names) in [
        ("tidepool", MetricNames::Tidepool),
        ("opentelemetry", MetricNames::OpenTelemetry),
        ("otel", MetricNames::OpenTelemetry),
        ("both", MetricNames::Both),
    ] {
        let config: tidepool_async::PoolConfig =
            serde_json::from_str(&format!(r#"{{"metric_names": "{text}"}}"#)).expect(text);
        assert_eq!(config.metric_names, names);
    }
    let error = serde_json::from_str::<tidepool_async::PoolConfig>(r#"{"metric_names": "statsd"}"#)
        .expect_err("an unknown set of names");
    common::assert_contains(&error.to_string(), &["tidepool", "opentelemetry", "both"]);
}
