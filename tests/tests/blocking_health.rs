//! The blocking pool's health check at checkout with the idle-window
//! policy (`HealthCheck::IdleLongerThan`), as the async pool's
//! (`lifecycle_health.rs`): backends terminated while idle longer than the
//! window are never handed out, a connection used within the window is
//! handed out untested, and one idle longer is tested first and replaced
//! when the test fails.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{database, eventually_blocking, ok, psql, sessions_psql, tagged_url};
use tidepool_sync::{HealthCheck, Pool};
use tidepool_testdb::TestDatabase;

/// The backend pids of the sessions whose `application_name` is `app`.
fn backend_pids(db: &TestDatabase, app: &str) -> HashSet<i32> {
    psql(
        db,
        &format!("select pid from pg_stat_activity where application_name = '{app}'"),
    )
    .lines()
    .map(|pid| pid.parse().expect("a backend pid"))
    .collect()
}

fn pid(conn: &tidepool_sync::PooledConnection) -> i32 {
    ok(conn.query_one("SELECT pg_backend_pid()", &[])).get(0)
}

/// Sleeps until the connections returned at `returned` have been idle
/// longer than `window`: a wait for a known time, not for an event.
fn idle_past(returned: Instant, window: Duration) {
    let due = returned + window + Duration::from_millis(100);
    thread::sleep(due.saturating_duration_since(Instant::now()));
}

#[test]
fn backends_terminated_while_idle_past_the_window_are_not_handed_out() {
    const WINDOW: Duration = Duration::from_millis(300);

    let db = database();
    let (app, url) = tagged_url(&db, "sync_terminated");
    let pool = ok(Pool::builder(&url)
        .min_size(3)
        .max_size(3)
        .worker_threads(1)
        .health_check(HealthCheck::IdleLongerThan(WINDOW))
        .timeout(Duration::from_secs(10))
        .build());
    ok(pool.wait());
    eventually_blocking("3 sessions of the pool are on the server", || {
        sessions_psql(&db, &app) == 3
    });
    let before = backend_pids(&db, &app);
    let returned = Instant::now();
    let terminated = psql(
        &db,
        &format!(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where application_name = '{app}'"
        ),
    );
    assert_eq!(terminated, "3");
    eventually_blocking("the terminated backends are gone", || {
        sessions_psql(&db, &app) == 0
    });
    idle_past(returned, WINDOW);

    // All three at once: each must be a new backend, so every terminated
    // one was found and closed, none handed out.
    let held: Vec<_> = (0..3).map(|_| ok(pool.get())).collect();
    let handed_out: HashSet<i32> = held.iter().map(pid).collect();
    assert_eq!(handed_out.len(), 3, "{handed_out:?}");
    assert!(
        handed_out.is_disjoint(&before),
        "a terminated backend was handed out: {handed_out:?} of {before:?}"
    );
    assert_eq!(pool.stats().connections_lost, 3, "{:?}", pool.stats());
    drop(held);
    assert_eq!(backend_pids(&db, &app), handed_out);
}

#[test]
fn only_a_connection_idle_past_the_window_is_tested_and_one_that_fails_is_replaced() {
    const WINDOW: Duration = Duration::from_millis(500);

    let db = database();
    let (app, url) = tagged_url(&db, "sync_window");
    let checks = Arc::new(AtomicUsize::new(0));
    let fail_next = Arc::new(AtomicBool::new(false));
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .worker_threads(1)
        .health_check(HealthCheck::IdleLongerThan(WINDOW))
        .timeout(Duration::from_secs(10))
        .check({
            let checks = Arc::clone(&checks);
            let fail_next = Arc::clone(&fail_next);
            move |conn| {
                checks.fetch_add(1, Ordering::SeqCst);
                if fail_next.swap(false, Ordering::SeqCst) {
                    conn.batch_execute("SELECT 1/0")
                } else {
                    conn.query_one("SELECT 1", &[]).map(drop)
                }
            }
        })
        .build());
    ok(pool.wait());

    let first = pid(&ok(pool.get()));
    let returned = Instant::now();
    let checked = checks.load(Ordering::SeqCst);

    // Used a moment ago: handed out untested.
    let conn = ok(pool.get());
    let gap = returned.elapsed();
    assert!(gap < WINDOW, "the test needs a checkout within {WINDOW:?}");
    assert_eq!(pid(&conn), first);
    assert_eq!(
        checks.load(Ordering::SeqCst),
        checked,
        "a connection idle for {gap:?}, within the window, was tested"
    );
    drop(conn);
    let returned = Instant::now();

    // Idle longer than the window: tested once, then handed out.
    idle_past(returned, WINDOW);
    let conn = ok(pool.get());
    assert_eq!(checks.load(Ordering::SeqCst), checked + 1);
    assert_eq!(pid(&conn), first);
    drop(conn);
    let returned = Instant::now();

    // Idle longer than the window and failing its test: closed, on the
    // server too, and the checkout gets a new connection.
    fail_next.store(true, Ordering::SeqCst);
    idle_past(returned, WINDOW);
    let conn = ok(pool.get());
    assert_eq!(checks.load(Ordering::SeqCst), checked + 2);
    assert!(!fail_next.load(Ordering::SeqCst), "the failing test ran");
    let second = pid(&conn);
    assert_ne!(
        second, first,
        "a connection that failed its test was handed out"
    );
    let stats = pool.stats();
    assert_eq!(stats.connections_closed_check_failed, 1, "{stats:?}");
    assert_eq!(stats.connections_lost, 1, "{stats:?}");
    eventually_blocking("the failed connection's backend is gone", || {
        backend_pids(&db, &app) == HashSet::from([second])
    });
}
