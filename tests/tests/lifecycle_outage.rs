//! A server outage: checkouts fail with their timeout and the connection
//! error, connects back off, `reconnect_failed` is called once the outage
//! outlasts `reconnect_timeout`, and the pool recovers by itself when the
//! server returns. Needs a private server (skipped with `DATABASE_URL`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{assert_contains, eventually, ok};
use tidepool_async::{HealthCheck, Pool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_survives_an_outage_and_recovers_by_itself() {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        eprintln!("skipped: this test stops and starts a private server of its own");
        return;
    }
    let server = Arc::new(tidepool_testdb::private_server().unwrap_or_else(|e| panic!("{e}")));
    let reports = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reports);
    let pool = ok(Pool::builder(&server.url())
        .min_size(2)
        .max_size(4)
        .health_check(HealthCheck::Always)
        .timeout(Duration::from_secs(1))
        .reconnect_timeout(Duration::from_secs(2))
        .reconnect_failed(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build());
    ok(pool.wait().await);

    let stopper = Arc::clone(&server);
    ok(tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .expect("stop panicked"));

    // Checkouts fail within their timeout, saying why.
    let started = Instant::now();
    let error = pool
        .get()
        .await
        .expect_err("a checkout succeeded with the server down");
    let waited = started.elapsed();
    assert!(error.is_timeout(), "{error}");
    assert!(
        waited < Duration::from_secs(3),
        "the checkout took {waited:?}"
    );
    assert_contains(&error.to_string(), &["could not connect", "refused"]);

    // The outage outlasts reconnect_timeout: reported once, and no storm of
    // connects meanwhile: the first round, quick retries one at a time
    // while requests wait in the first second (every 5 ms for a quarter
    // second, then every 25 ms: about eighty), then the backoff (about
    // 0.25, 0.5, 1 s): ninety at most in two seconds, where retrying at
    // will would make thousands.
    eventually("reconnect_failed was called", async || {
        reports.load(Ordering::SeqCst) == 1
    })
    .await;
    let attempts = pool.stats().connections_errors;
    assert!(
        attempts <= 90,
        "{attempts} failed connects in a few seconds: no backoff"
    );

    let starter = Arc::clone(&server);
    ok(tokio::task::spawn_blocking(move || starter.start_again())
        .await
        .expect("start panicked"));
    // The next probe comes within the longest backoff delay (10 s + 10 %).
    let restarted = Instant::now();
    ok(pool.wait_timeout(Duration::from_secs(15)).await);
    let recovery = restarted.elapsed();
    assert!(
        recovery < Duration::from_secs(12),
        "recovery took {recovery:?}"
    );
    let conn = ok(pool.get_timeout(Duration::from_secs(5)).await);
    ok(conn.query_one("SELECT 1", &[]).await);
    assert_eq!(
        reports.load(Ordering::SeqCst),
        1,
        "reconnect_failed was called again"
    );
}
