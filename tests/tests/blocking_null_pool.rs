//! The blocking null pool, as `null_pool.rs` for the async one: a new
//! session per checkout, none left open after return, `max_size` bounding
//! sixteen threads, `timeout` and `max_waiting` as in any pool.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use common::{database, eventually_blocking, ok, sessions_psql, tagged_url};
use tidepool_sync::{Pool, PoolBuilder};

fn null_pool(url: &str, max_size: usize) -> PoolBuilder {
    Pool::builder(url)
        .null_pool(true)
        .min_size(0)
        .max_size(max_size)
        .worker_threads(1)
        .timeout(Duration::from_secs(20))
}

#[test]
fn every_blocking_checkout_gets_a_new_backend_and_none_stays_open() {
    let db = database();
    let (app, url) = tagged_url(&db, "sync_null_new");
    let pool = ok(null_pool(&url, 2).build());
    let mut pids = HashSet::new();
    for round in 1..=3u64 {
        let conn = ok(pool.get());
        let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[])).get(0);
        assert!(pids.insert(pid), "backend {pid} was handed out twice");
        drop(conn);
        eventually_blocking("the session closes", || sessions_psql(&db, &app) == 0);
        // Every connection opened closes, none is kept.
        eventually_blocking("every connection opened is closed", || {
            let stats = pool.stats();
            stats.connections_closed_idle == stats.connections_num && stats.pool_size == 0
        });
        assert!(pool.stats().connections_num >= round);
    }
    let error = null_pool(&url, 2)
        .min_size(2)
        .build()
        .expect_err("a null pool with min_size 2");
    assert!(error.is_config(), "{error}");
}

#[test]
fn max_size_bounds_the_sessions_of_sixteen_threads() {
    let db = database();
    let (app, url) = tagged_url(&db, "sync_null_bound");
    let pool = ok(null_pool(&url, 4).build());
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (pool, app) = (pool.clone(), app.clone());
            thread::spawn(move || {
                // Sessions at work on the server at once.
                let mut most = 0i64;
                for _ in 0..3 {
                    let conn = ok(pool.get());
                    let row = ok(conn.query_one(
                        "select count(*) from pg_stat_activity, pg_sleep(0.01) \
                         where application_name = $1 and state = 'active'",
                        &[&app],
                    ));
                    most = most.max(row.get(0));
                }
                most
            })
        })
        .collect();
    let most = threads
        .into_iter()
        .map(|t| t.join().expect("a thread"))
        .max()
        .unwrap_or(0);
    assert!(
        (2..=4).contains(&most),
        "{most} sessions at once, max_size is 4"
    );
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 48, "{stats:?}");
    assert!((48..=52).contains(&stats.connections_num), "{stats:?}");
}

#[test]
fn blocking_timeout_and_max_waiting_behave_as_in_any_pool() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_null_wait");
    let pool = ok(null_pool(&url, 1).max_waiting(1).build());
    let held = ok(pool.get());
    let error = pool
        .get_timeout(Duration::from_millis(200))
        .expect_err("a checkout beyond max_size");
    assert!(error.is_timeout(), "{error}");
    let waiter = thread::spawn({
        let pool = pool.clone();
        move || drop(ok(pool.get()))
    });
    eventually_blocking("the waiter is queued", || {
        pool.stats().requests_waiting == 1
    });
    let error = pool.get().expect_err("a checkout beyond max_waiting");
    assert!(error.is_too_many_requests(), "{error}");
    drop(held);
    waiter.join().expect("the waiter");
    assert!(pool.stats().connections_num >= 2);
}
