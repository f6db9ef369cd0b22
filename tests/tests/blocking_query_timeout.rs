//! The query timeout of the blocking pool, as the async pool's
//! (`lifecycle_source.rs`): a statement that outlasts it is cancelled on
//! the server, the call returns a query-timeout error, and the same
//! session goes on; a connection may change its own timeout, and the pool
//! restores it on return.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{database, eventually_blocking, ok, tagged_url};
use tidepool_sync::Pool;

/// A statement that runs much longer than any test.
const SLEEP: &str = "SELECT pg_sleep(60)";

/// What the server says backend `pid` is doing: its state and statement,
/// or `None` if it is gone. Asked through a pool of its own.
fn backend_activity(monitor: &Pool, pid: i32) -> Option<(String, String)> {
    ok(ok(monitor.get()).query_opt(
        "SELECT state, query FROM pg_stat_activity WHERE pid = $1",
        &[&pid],
    ))
    .map(|row| (row.get(0), row.get(1)))
}

#[test]
fn a_statement_past_the_query_timeout_is_cancelled_on_the_server_and_the_connection_stays_usable() {
    const QUERY_TIMEOUT: Duration = Duration::from_millis(800);

    let db = database();
    let (_, url) = tagged_url(&db, "sync_query_timeout");
    let (_, monitor_url) = tagged_url(&db, "sync_query_timeout_monitor");
    let monitor = ok(Pool::builder(&monitor_url)
        .min_size(1)
        .max_size(1)
        .worker_threads(1)
        .query_timeout(None)
        .build());
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .worker_threads(1)
        .query_timeout(Some(QUERY_TIMEOUT))
        .build());
    let conn = ok(pool.get());
    assert_eq!(conn.query_timeout(), Some(QUERY_TIMEOUT));
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[])).get(0);

    let sleeper = thread::spawn(move || {
        let started = Instant::now();
        let result = conn.query(SLEEP, &[]).map(drop);
        (conn, result, started.elapsed())
    });
    // The statement runs on the server...
    eventually_blocking("the server runs pg_sleep", || {
        backend_activity(&monitor, pid)
            .is_some_and(|(state, query)| state == "active" && query == SLEEP)
    });
    let (mut conn, result, took) = sleeper.join().expect("the sleeping thread panicked");
    let error = result.expect_err("pg_sleep(60) finished within the query timeout");
    assert!(error.is_query_timeout(), "{error}");
    assert!(
        !error.is_timeout(),
        "a query timeout is not a checkout timeout"
    );
    assert!(took >= QUERY_TIMEOUT, "{took:?}");
    assert!(took < Duration::from_secs(10), "the timeout took {took:?}");
    // ...and not after the timeout: it was cancelled, not abandoned.
    eventually_blocking("the server no longer runs pg_sleep", || {
        backend_activity(&monitor, pid).is_some_and(|(state, _)| state == "idle")
    });

    // The same session answers at once.
    let started = Instant::now();
    let same: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[])).get(0);
    assert_eq!(same, pid, "the session was replaced");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A connection may change its own timeout; the pool restores it.
    conn.set_query_timeout(None);
    ok(conn.query_one("SELECT pg_sleep(1)", &[]));
    drop(conn);
    let conn = ok(pool.get());
    assert_eq!(conn.query_timeout(), Some(QUERY_TIMEOUT));
    let same: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[])).get(0);
    assert_eq!(same, pid, "the connection was replaced, not reset");
    assert_eq!(pool.stats().returns_bad, 0);
}
