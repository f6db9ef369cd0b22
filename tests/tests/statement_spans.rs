//! A span per statement, after OpenTelemetry's conventions for database
//! client spans: plain statements, a transaction's, COPY, a cursor's
//! statement and fetches, and a pipeline (one span around its statements). Each carries the
//! conventions' attributes (never a parameter), the statement cache's
//! outcome, and the SQLSTATE on error; a request's trace shows the
//! checkout, then the statements, side by side under the request. With
//! `statement_metrics`, each statement's duration is also recorded in the
//! `db.client.operation.duration` histogram with the same attributes.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::observe::{Capture, Captured, Traces};
use common::{Table, database, ok, tagged_url};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tidepool_async::Pool;
use tracing::Instrument;

/// The spans of one test, as they closed.
struct Spans(Traces);

impl Spans {
    fn all(&self) -> Vec<Captured> {
        self.0.closed_spans()
    }

    fn named(&self, name: &str) -> Vec<Captured> {
        self.0.spans(name)
    }

    /// The statement spans whose query text is `sql`.
    fn statements(&self, sql: &str) -> Vec<Captured> {
        self.named("statement")
            .into_iter()
            .filter(|s| s.field("db.query.text") == sql)
            .collect()
    }
}

/// Captures the spans of this thread (a current-thread runtime runs every
/// task of the test on it) until the guard is dropped.
fn capture() -> (Spans, Capture) {
    let (traces, guard) = Traces::capture();
    (Spans(traces), guard)
}

fn port() -> String {
    database()
        .server()
        .map(|server| server.port().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "current_thread")]
async fn each_statement_has_a_span_with_the_conventions_attributes() {
    let (spans, _guard) = capture();
    let db = database();
    let (_, url) = tagged_url(&db, "spans");
    let table = Table::create(&db, "spans");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .prepare_threshold(Some(2))
        .build());
    let select = format!("SELECT v FROM {} WHERE v = $1", table.name);
    let secret = "s3cret-parameter-value";
    let request = tracing::info_span!("request");
    async {
        let conn = ok(pool.get().await);
        for _ in 0..5 {
            ok(conn.query(&select, &[&secret]).await);
        }
        let error = conn
            .query_one("SELECT 1 / $1::int", &[&0i32])
            .await
            .expect_err("a division by zero");
        assert_eq!(error.code().map(|c| c.code()), Some("22012"));
    }
    .instrument(request)
    .await;

    let seen = spans.statements(&select);
    assert_eq!(seen.len(), 5, "one span per execution: {:?}", spans.all());
    let first = &seen[0];
    assert_eq!(first.field("db.system.name"), "postgresql");
    assert_eq!(first.field("db.namespace"), "postgres");
    assert_eq!(first.field("db.operation.name"), "SELECT");
    assert_eq!(first.field("db.collection.name"), table.name);
    assert_eq!(first.field("otel.name"), format!("SELECT {}", table.name));
    assert_eq!(first.field("otel.kind"), "client");
    assert_eq!(first.field("server.address"), "127.0.0.1");
    if !port().is_empty() {
        assert_eq!(first.field("server.port"), port());
    }
    // Past the threshold, the kept statement runs by name.
    assert_eq!(seen[4].field("tidepool.statement.cache"), "cached");
    for span in &seen {
        assert!(
            !span.field("tidepool.statement.cache").is_empty(),
            "no cache outcome: {span:?}"
        );
        assert_eq!(span.field("otel.status_code"), "");
    }
    // Parameters are never recorded.
    for span in spans.all() {
        for value in span.fields.values() {
            assert!(
                !value.contains(secret),
                "a parameter was recorded: {span:?}"
            );
        }
    }
    // The error's SQLSTATE.
    let failed = spans.statements("SELECT 1 / $1::int");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].field("db.response.status_code"), "22012");
    assert_eq!(failed[0].field("error.type"), "22012");
    assert_eq!(failed[0].field("otel.status_code"), "ERROR");
    // The checkout and the statements side by side under the request.
    let checkouts = spans.named("checkout");
    assert!(!checkouts.is_empty());
    assert!(
        checkouts
            .iter()
            .all(|span| span.parent.as_deref() == Some("request")),
        "{checkouts:?}"
    );
    assert!(
        seen.iter()
            .all(|span| span.parent.as_deref() == Some("request")),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn transactions_copy_cursors_and_pipelines_have_their_spans() {
    let (spans, _guard) = capture();
    let db = database();
    let (_, url) = tagged_url(&db, "spans_more");
    let table = Table::create(&db, "spans_more");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .prepare_threshold(None)
        .build());
    let mut conn = ok(pool.get().await);
    let insert = table.insert_sql();
    let tx = ok(conn.transaction().await);
    ok(tx.execute(&insert, &[&"in a transaction"]).await);
    ok(tx.commit().await);
    let copy = format!("COPY {} (v) FROM STDIN", table.name);
    let mut sink = ok(conn.copy_in(&copy).await);
    ok(sink.write(b"copied\n").await);
    assert_eq!(ok(sink.finish().await), 1);
    let select = format!("SELECT v FROM {} ORDER BY v", table.name);
    let tx = ok(conn.transaction().await);
    let mut cursor = ok(tx.cursor(&select, &[]).await);
    assert_eq!(ok(cursor.fetch(1).await).len(), 1);
    drop(cursor);
    ok(tx.rollback().await);
    let results = conn
        .pipeline()
        .query("SELECT 1", &[])
        .query("SELECT 2", &[])
        .execute(&insert, &[&"piped"])
        .run()
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let inserts = spans.statements(&insert);
    assert_eq!(inserts.len(), 2, "{:?}", spans.all());
    assert_eq!(inserts[0].field("db.operation.name"), "INSERT");
    assert_eq!(inserts[0].field("db.collection.name"), table.name);
    assert_eq!(inserts[0].field("tidepool.statement.cache"), "unnamed");
    let copies = spans.statements(&copy);
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].field("db.operation.name"), "COPY");
    assert_eq!(copies[0].field("db.collection.name"), table.name);
    // A cursor is an SQL cursor: its DECLARE, then its FETCH.
    let statements = spans.named("statement");
    let declared: Vec<_> = statements
        .iter()
        .filter(|s| {
            s.field("db.query.text").starts_with("DECLARE ")
                && s.field("db.query.text").ends_with(&select)
        })
        .collect();
    assert_eq!(declared.len(), 1, "the cursor's statement: {statements:?}");
    assert_eq!(declared[0].field("db.operation.name"), "DECLARE");
    let fetched: Vec<_> = statements
        .iter()
        .filter(|s| {
            s.field("db.query.text")
                .starts_with("FETCH FORWARD 1 FROM ")
        })
        .collect();
    assert_eq!(fetched.len(), 1, "the cursor's fetch");
    assert_eq!(fetched[0].field("db.operation.name"), "FETCH");
    let pipelines = spans.named("pipeline");
    assert_eq!(pipelines.len(), 1);
    assert_eq!(pipelines[0].field("db.operation.batch.size"), "3");
    let piped = spans.statements("SELECT 2");
    assert_eq!(piped.len(), 1);
    assert_eq!(piped[0].parent.as_deref(), Some("pipeline"));
}

#[tokio::test(flavor = "current_thread")]
async fn statement_metrics_record_each_statements_duration() {
    let db = database();
    let (_, url) = tagged_url(&db, "op_duration");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // A current-thread runtime: every statement records on this thread's
    // recorder.
    let _guard = metrics::set_default_local_recorder(&recorder);
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .statement_metrics(true)
        .build());
    let conn = ok(pool.get().await);
    for _ in 0..3 {
        ok(conn.query_one("SELECT 1", &[]).await);
    }
    let _ = conn.query_one("SELECT 1 / 0", &[]).await;
    let mut samples = BTreeMap::new();
    for (key, unit, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key().clone();
        if key.name() != "db.client.operation.duration" {
            continue;
        }
        let labels: BTreeMap<String, String> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        let DebugValue::Histogram(values) = value else {
            panic!("a histogram");
        };
        assert!(values.iter().all(|v| v.0 > 0.0 && v.0 < 10.0), "{values:?}");
        assert_eq!(unit, Some(metrics::Unit::Seconds));
        samples.insert(labels.get("error.type").cloned(), (labels, values.len()));
    }
    let (ok_labels, ok_count) = samples.get(&None).expect("the successful statements");
    assert_eq!(*ok_count, 3);
    assert_eq!(ok_labels["db.system.name"], "postgresql");
    assert_eq!(ok_labels["db.operation.name"], "SELECT");
    assert_eq!(ok_labels["db.namespace"], "postgres");
    assert_eq!(ok_labels["server.address"], "127.0.0.1");
    let (_, failed) = samples
        .get(&Some("22012".to_owned()))
        .expect("the failed statement, by its SQLSTATE");
    assert_eq!(*failed, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn without_statement_metrics_no_histogram_is_recorded() {
    let db = database();
    let (_, url) = tagged_url(&db, "op_duration_off");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get().await);
    ok(conn.query_one("SELECT 1", &[]).await);
    assert!(
        snapshotter
            .snapshot()
            .into_vec()
            .iter()
            .all(|(key, ..)| key.key().name() != "db.client.operation.duration")
    );
}
