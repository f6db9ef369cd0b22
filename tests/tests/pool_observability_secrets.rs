//! No password reaches the pool's traces or metrics: the pool's name is the
//! only label, and the connect span names the server by host and port,
//! never by its connection string.

mod common;

use std::time::Duration;

use common::observe::{Metrics, Traces};
use common::{database, eventually, ok, unique};
use tidepool_async::Pool;
use tracing::Level;

const PASSWORD: &str = "S3cret-Tr4ce-Pa55word-plugh";
const WRONG: &str = "Wr0ng-Tr4ce-Pa55word-xyzzy";

#[tokio::test]
async fn passwords_appear_in_no_trace_and_no_metric() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: DATABASE_URL is set and this test needs the private server");
        return;
    };
    let role = unique("secret");
    common::psql(
        &db,
        &format!("create role {role} login password '{PASSWORD}'"),
    );
    let (traces, _guard) = Traces::capture();
    let metrics = Metrics::new();
    let name = unique("secretpool");

    // A pool that connects, with the leak and slow checkout warnings on.
    let url = server.url_for(&role, Some(PASSWORD), "postgres");
    assert!(
        url.contains(PASSWORD),
        "the test's URL carries the password"
    );
    let pool = metrics.build(|| {
        ok(Pool::builder(&url)
            .name(&name)
            .min_size(1)
            .max_size(1)
            .leak_detection_threshold(Some(Duration::from_millis(100)))
            .slow_checkout_warning(Some(Duration::from_millis(50)))
            .build())
    });
    ok(pool.wait().await);
    for _ in 0..3 {
        let conn = ok(pool.get().await);
        ok(conn.query_one("select 1", &[]).await);
    }
    let held = ok(pool.get().await);
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    ok(held.query_one("select pg_sleep(0.3)", &[]).await);
    drop(held);
    ok(waiter.await.unwrap());

    // A pool whose connects fail: the wrong password.
    let wrong_url = server.url_for(&role, Some(WRONG), "postgres");
    let failing_name = unique("secretfail");
    let failing = metrics.build(|| {
        ok(Pool::builder(&wrong_url)
            .name(&failing_name)
            .min_size(1)
            .max_size(1)
            .build())
    });
    eventually("a connect fails", async || {
        failing.stats().connections_errors >= 1
    })
    .await;
    let error = failing
        .get_timeout(Duration::from_millis(200))
        .await
        .expect_err("the password is wrong");
    assert!(error.is_timeout(), "{error}");

    // What was captured is what it should be...
    let connects = traces.spans("connect");
    let target = format!("127.0.0.1:{}", server.port());
    assert!(
        connects
            .iter()
            .any(|s| s.field("pool") == name && !s.fields.contains_key("error")),
        "{}",
        traces.dump()
    );
    let failed: Vec<_> = connects
        .iter()
        .filter(|s| s.field("pool") == failing_name)
        .collect();
    assert!(!failed.is_empty(), "{}", traces.dump());
    for span in &connects {
        assert_eq!(span.field("server"), target, "{span}");
    }
    assert!(
        failed[0]
            .field("error")
            .contains("password authentication failed"),
        "{}",
        failed[0]
    );
    assert!(!traces.spans("checkout").is_empty());
    assert!(
        !traces
            .events_with(Level::WARN, "leak_detection_threshold")
            .is_empty(),
        "{}",
        traces.dump()
    );
    assert!(
        !traces
            .events_with(Level::WARN, "slow_checkout_warning")
            .is_empty(),
        "{}",
        traces.dump()
    );
    assert!(
        !traces
            .events_with(Level::WARN, "could not open a connection")
            .is_empty(),
        "{}",
        traces.dump()
    );
    let series = metrics.series();
    assert!(series.iter().any(|s| s.contains(&name)), "{series:?}");
    assert!(
        series.iter().any(|s| s.contains(&failing_name)),
        "{series:?}"
    );

    // ... and holds no password, in any field, message or label.
    let text = traces.all_text();
    for secret in [PASSWORD, WRONG] {
        assert!(!text.contains(secret), "a trace reveals {secret}:\n{text}");
        for one in &series {
            assert!(!one.contains(secret), "a metric reveals {secret}: {one}");
        }
    }
    for one in &series {
        let labels = &one[one.find('{').unwrap()..];
        assert!(
            labels.starts_with("{pool=") && !labels.contains(&role),
            "{one}"
        );
    }
}
