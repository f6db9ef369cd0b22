//! The async null pool (`null_pool(true)`, psycopg's `NullConnectionPool`):
//! a new session for every checkout, closed on return, with `max_size`,
//! `timeout` and `max_waiting` as in any pool, counted on the server.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Monitor, database, ok, tagged_url};
use tidepool_async::Pool;

fn null_pool(url: &str, max_size: usize) -> tidepool_async::PoolBuilder {
    Pool::builder(url)
        .null_pool(true)
        .min_size(0)
        .max_size(max_size)
        .timeout(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checkout_gets_a_new_backend_and_none_stays_open_after_return() {
    let db = database();
    let (app, url) = tagged_url(&db, "null_new");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(null_pool(&url, 2).build());
    ok(pool.wait().await);
    assert_eq!(
        monitor.sessions(&app).await,
        0,
        "a null pool opens nothing ahead"
    );

    let mut pids = HashSet::new();
    for round in 1..=5u64 {
        let conn = ok(pool.get().await);
        let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
        assert!(pids.insert(pid), "backend {pid} was handed out twice");
        // Left inside a transaction: closing ends it on the server.
        ok(conn.batch_execute("begin; select 1").await);
        drop(conn);
        monitor.wait_sessions(&app, 0).await;
        // Every connection opened closes, none is kept: at least one
        // connect per checkout (one begun for a request that another
        // connection served closes after 0.1 s idle).
        common::eventually("every connection opened is closed", async || {
            let stats = pool.stats();
            stats.connections_closed_idle == stats.connections_num && stats.pool_size == 0
        })
        .await;
        assert!(pool.stats().connections_num >= round);
    }
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 5);
    assert_eq!(stats.returns_reset, 0, "closed, not reset: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_size_bounds_the_sessions_of_sixteen_tasks() {
    let db = database();
    let (app, url) = tagged_url(&db, "null_bound");
    let pool = ok(null_pool(&url, 4).build());
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (pool, app) = (pool.clone(), Arc::clone(&app));
            tokio::spawn(async move {
                // Sessions at work on the server at once (a closed one may
                // linger a moment, idle, after its slot was freed).
                let mut most = 0i64;
                for _ in 0..5 {
                    let conn = ok(pool.get().await);
                    let row = ok(conn
                        .query_one(
                            "select count(*) from pg_stat_activity, pg_sleep(0.01) \
                             where application_name = $1 and state = 'active'",
                            &[&*app],
                        )
                        .await);
                    most = most.max(row.get(0));
                }
                most
            })
        })
        .collect();
    let mut most = 0;
    for task in tasks {
        most = most.max(task.await.expect("a task"));
    }
    assert!(most <= 4, "{most} sessions at once, max_size is 4");
    assert!(most >= 2, "the tasks never ran side by side ({most})");
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 80, "{stats:?}");
    assert!(
        stats.connections_num >= 80,
        "a connect per checkout: {stats:?}"
    );
    assert!(stats.connections_num <= 84, "few spare connects: {stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_max_waiting_behave_as_in_any_pool() {
    let db = database();
    let (_, url) = tagged_url(&db, "null_wait");
    let pool = ok(null_pool(&url, 1).max_waiting(1).build());
    let held = ok(pool.get().await);
    let held_pid: i32 = ok(held.query_one("select pg_backend_pid()", &[]).await).get(0);

    let error = pool
        .get_timeout(Duration::from_millis(200))
        .await
        .expect_err("a checkout beyond max_size");
    assert!(error.is_timeout(), "{error}");

    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move {
            let conn = ok(pool.get().await);
            ok(conn.query_one("select pg_backend_pid()", &[]).await).get::<_, i32>(0)
        }
    });
    common::eventually("the waiter is queued", async || {
        pool.stats().requests_waiting == 1
    })
    .await;
    let error = pool.get().await.expect_err("a checkout beyond max_waiting");
    assert!(error.is_too_many_requests(), "{error}");
    drop(held);
    let pid = waiter.await.expect("the waiter");
    assert_ne!(pid, held_pid, "the waiter got a new session");
    let stats = pool.stats();
    assert_eq!((stats.requests_timeouts, stats.requests_rejected), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_null_pool_with_min_size_is_a_clear_config_error() {
    let db = database();
    let error = null_pool(db.url(), 4)
        .min_size(1)
        .build()
        .expect_err("a null pool with min_size 1");
    assert!(error.is_config(), "{error}");
    common::assert_contains(&error.to_string(), &["min_size is 1", "null pool"]);

    let pool = ok(null_pool(db.url(), 4).build());
    let error = pool.resize(2, 4).expect_err("resized to min_size 2");
    assert!(error.is_config(), "{error}");
    assert_eq!(pool.stats().pool_min, 0);
    ok(pool.resize(0, 8));
    assert_eq!(pool.stats().pool_max, 8);
    assert!(pool.config().null_pool);
}
