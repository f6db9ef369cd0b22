//! The blocking pool's lifecycle: callbacks as plain functions, reset SQL,
//! `check()`, `drain()`, `resize()` and `close_timeout()`, the same as the
//! async pool's.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{database, eventually_blocking, ok, sessions_psql, tagged_url};
use tidepool_sync::{HealthCheck, Pool};

fn pid(pool: &Pool) -> i32 {
    let conn = ok(pool.get());
    ok(conn.query_one("SELECT pg_backend_pid()", &[])).get(0)
}

#[test]
fn blocking_callbacks_configure_check_and_reset_connections() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_callbacks");
    let checks = Arc::new(AtomicUsize::new(0));
    let check_counter = Arc::clone(&checks);
    let resets = Arc::new(AtomicUsize::new(0));
    let reset_counter = Arc::clone(&resets);
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .health_check(HealthCheck::Always)
        .configure(|conn| conn.batch_execute("SET statement_timeout TO '2468s'"))
        .check(move |conn| {
            if check_counter.fetch_add(1, Ordering::SeqCst) == 1 {
                conn.batch_execute("SELECT 1/0")
            } else {
                conn.query_one("SELECT 1", &[]).map(drop)
            }
        })
        .reset(move |conn| {
            reset_counter.fetch_add(1, Ordering::SeqCst);
            conn.execute("SELECT 1", &[]).map(drop)
        })
        .reset_sql("RESET work_mem")
        .build());

    let first = {
        let conn = ok(pool.get()); // check 0 passes
        let timeout: String = ok(conn.query_one("SHOW statement_timeout", &[])).get(0);
        assert_eq!(timeout, "2468s", "configure did not run");
        ok(conn.batch_execute("SET work_mem TO '7MB'"));
        ok(conn.query_one("SELECT pg_backend_pid()", &[])).get::<_, i32>(0)
    };
    eventually_blocking("the reset callback ran", || {
        resets.load(Ordering::SeqCst) >= 1
    });
    // Check 1 fails: the connection is replaced, and the new one is
    // configured too.
    let conn = ok(pool.get());
    let second: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[])).get(0);
    assert_ne!(
        first, second,
        "a connection that failed its check was handed out"
    );
    let timeout: String = ok(conn.query_one("SHOW statement_timeout", &[])).get(0);
    assert_eq!(timeout, "2468s");
    drop(conn);
    eventually_blocking("the second reset ran", || {
        resets.load(Ordering::SeqCst) >= 2
    });
    let conn = ok(pool.get());
    let work_mem: String = ok(conn.query_one("SHOW work_mem", &[])).get(0);
    assert_ne!(work_mem, "7MB", "reset_sql did not run");
}

#[test]
fn blocking_check_drain_resize_and_close_timeout() {
    let db = database();
    let (app, url) = tagged_url(&db, "sync_lifecycle");
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(2)
        .health_check(HealthCheck::Never)
        .build());
    ok(pool.wait());
    eventually_blocking("2 sessions", || sessions_psql(&db, &app) == 2);

    assert_eq!(ok(pool.check()), 0);
    let before = pid(&pool);
    pool.drain();
    eventually_blocking("the drained connections were replaced", || {
        sessions_psql(&db, &app) == 2 && pid(&pool) != before
    });

    ok(pool.resize(3, 3));
    ok(pool.wait());
    eventually_blocking("3 sessions", || sessions_psql(&db, &app) == 3);
    assert!(pool.resize(0, 0).unwrap_err().is_config());

    let held = ok(pool.get());
    let error = pool
        .close_timeout(Duration::from_millis(200))
        .expect_err("close_timeout returned Ok with a connection in use");
    assert!(error.is_timeout(), "{error}");
    drop(held);
    eventually_blocking("every session closed", || sessions_psql(&db, &app) == 0);
    assert!(pool.get().unwrap_err().is_closed());
}
