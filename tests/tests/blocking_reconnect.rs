//! `reconnect_failed` of the blocking pool, as the async pool's
//! (`lifecycle_outage.rs`): when the server stays unreachable longer than
//! `reconnect_timeout`, the callback runs once, in the background, while
//! connects go on with backoff and checkouts fail with their timeout and
//! the connect error.

mod common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_contains, eventually_blocking, ok};
use tidepool_sync::Pool;

#[test]
fn reconnect_failed_runs_once_when_the_server_stays_unreachable() {
    const RECONNECT_TIMEOUT: Duration = Duration::from_millis(500);

    let (_refusing, port) = common::refusing_port();
    // When the callback ran, and on which thread.
    let reports: Arc<Mutex<Vec<(Instant, thread::ThreadId)>>> = Arc::default();
    let started = Instant::now();
    let pool = ok(
        Pool::builder(&format!("postgresql://postgres@127.0.0.1:{port}/postgres"))
            .name("sync_unreachable")
            .min_size(1)
            .max_size(2)
            .worker_threads(1)
            .timeout(Duration::from_millis(500))
            .reconnect_timeout(RECONNECT_TIMEOUT)
            .reconnect_failed({
                let reports = Arc::clone(&reports);
                move || {
                    let thread = thread::current().id();
                    reports.lock().unwrap().push((Instant::now(), thread));
                }
            })
            .build(),
    );

    // No checkout asks: the pool's own connects for min_size fail, and
    // after reconnect_timeout the callback runs.
    eventually_blocking("reconnect_failed was called", || {
        !reports.lock().unwrap().is_empty()
    });
    let (reported_at, thread) = reports.lock().unwrap()[0];
    let after = reported_at - started;
    assert!(
        after >= RECONNECT_TIMEOUT,
        "reconnect_failed ran after {after:?}, before reconnect_timeout"
    );
    assert_ne!(
        thread,
        thread::current().id(),
        "the callback ran on the test's thread"
    );
    let stats = pool.stats();
    assert!(stats.connections_errors >= 2, "{stats:?}");
    assert_eq!(stats.connections_errors, stats.connections_num, "{stats:?}");
    assert_eq!(stats.pool_size, 0, "{stats:?}");

    // Connects go on, and the same run of failures is not reported again.
    let failed = stats.connections_errors;
    eventually_blocking("another connect was tried and failed", || {
        pool.stats().connections_errors > failed
    });
    assert_eq!(
        reports.lock().unwrap().len(),
        1,
        "reported twice in one run"
    );

    // A checkout meanwhile fails within its timeout, saying why.
    let asked = Instant::now();
    let error = pool
        .get()
        .expect_err("a checkout succeeded with nothing listening");
    assert!(error.is_timeout(), "{error}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    assert_contains(
        &error.to_string(),
        &[
            "pool \"sync_unreachable\"",
            &format!("could not connect to 127.0.0.1:{port}"),
            "Connection refused",
        ],
    );
    assert_eq!(reports.lock().unwrap().len(), 1);
}
