//! Health against a real server: terminated backends are replaced at
//! checkout and by `check()`, lifetimes and idle limits replace and shrink
//! connections, `drain()` replaces them all, `resize()` follows, and
//! `close_timeout()` waits for connections in use.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Monitor, database, eventually, ok, tagged_url};
use tidepool_async::{HealthCheck, Pool};

async fn backend_pids(monitor: &Monitor, app: &str) -> HashSet<i32> {
    ok(monitor
        .client()
        .query(
            "select pid from pg_stat_activity where application_name = $1",
            &[&app],
        )
        .await)
    .iter()
    .map(|row| row.get(0))
    .collect()
}

async fn terminate_all(monitor: &Monitor, app: &str) -> usize {
    let rows = ok(monitor
        .client()
        .query(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1",
            &[&app],
        )
        .await);
    rows.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_are_replaced_at_checkout() {
    for policy in [HealthCheck::Always, HealthCheck::default()] {
        let db = database();
        let (app, url) = tagged_url(&db, "terminated");
        let monitor = Monitor::connect(db.url()).await;
        let pool = ok(Pool::builder(&url)
            .min_size(3)
            .max_size(3)
            .health_check(policy)
            .timeout(Duration::from_secs(10))
            .build());
        ok(pool.wait().await);
        monitor.wait_sessions(&app, 3).await;
        let before = backend_pids(&monitor, &app).await;
        assert_eq!(terminate_all(&monitor, &app).await, 3);
        monitor.wait_sessions(&app, 0).await;
        if policy != HealthCheck::Always {
            // The default policy tests connections idle longer than 1 s.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        // All three held at once: a pool of three must replace every
        // terminated connection to serve them (one after another, a
        // replacement could be reused while a dead one stays idle below
        // it, never reached).
        let mut held = Vec::new();
        for _ in 0..3 {
            let conn = ok(pool.get().await);
            let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
            assert!(
                !before.contains(&pid),
                "{policy:?}: a terminated backend was handed out"
            );
            held.push(conn);
        }
        drop(held);
        assert_eq!(pool.stats().connections_lost, 3, "{policy:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_closes_broken_idle_connections_and_the_pool_refills() {
    let db = database();
    let (app, url) = tagged_url(&db, "check_all");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url)
        .min_size(3)
        .max_size(5)
        .health_check(HealthCheck::Never)
        .build());
    ok(pool.wait().await);
    monitor.wait_sessions(&app, 3).await;
    let before = backend_pids(&monitor, &app).await;
    // Terminate two of the three.
    let victims: Vec<i32> = before.iter().copied().take(2).collect();
    for pid in &victims {
        ok(monitor
            .client()
            .execute("select pg_terminate_backend($1)", &[pid])
            .await);
    }
    monitor.wait_sessions(&app, 1).await;
    assert_eq!(pool.check().await, 2);
    monitor.wait_sessions(&app, 3).await;
    let after = backend_pids(&monitor, &app).await;
    assert_eq!(after.intersection(&before).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_max_lifetime_are_replaced() {
    let db = database();
    let (app, url) = tagged_url(&db, "lifetime");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(2)
        .max_lifetime(Some(Duration::from_secs(1)))
        .build());
    ok(pool.wait().await);
    monitor.wait_sessions(&app, 2).await;
    let first = backend_pids(&monitor, &app).await;
    eventually(
        "both connections were replaced after their lifetime",
        async || {
            let now = backend_pids(&monitor, &app).await;
            now.len() == 2 && now.is_disjoint(&first)
        },
    )
    .await;
    let conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    assert!(!first.contains(&pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_above_min_size_close_after_max_idle() {
    let db = database();
    let (app, url) = tagged_url(&db, "max_idle");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(4)
        .max_idle(Some(Duration::from_millis(500)))
        .build());
    ok(pool.wait().await);
    // A burst grows the pool to 4.
    let held: Vec<_> = futures_join(&pool, 4).await;
    monitor.wait_sessions(&app, 4).await;
    drop(held);
    // Then idleness shrinks it back to min_size, and no lower.
    monitor.wait_sessions(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(monitor.sessions(&app).await, 1);
    assert_eq!(pool.stats().pool_size, 1);
}

/// Checks out `n` connections at once.
async fn futures_join(pool: &Pool, n: usize) -> Vec<tidepool_async::PooledConnection> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(ok(pool.get().await));
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_replaces_every_connection() {
    let db = database();
    let (app, url) = tagged_url(&db, "drain");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(3).max_size(3).build());
    ok(pool.wait().await);
    monitor.wait_sessions(&app, 3).await;
    let before = backend_pids(&monitor, &app).await;
    let in_use = ok(pool.get().await);
    let in_use_pid: i32 = ok(in_use.query_one("SELECT pg_backend_pid()", &[]).await).get(0);

    pool.drain();
    // The idle two are replaced at once; the one in use when it returns.
    eventually("the idle connections were replaced", async || {
        let now = backend_pids(&monitor, &app).await;
        now.contains(&in_use_pid) && now.len() == 3 && now.intersection(&before).count() == 1
    })
    .await;
    drop(in_use);
    eventually("every connection was replaced", async || {
        let now = backend_pids(&monitor, &app).await;
        now.len() == 3 && now.is_disjoint(&before)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_grows_and_shrinks_the_pool_on_the_server() {
    let db = database();
    let (app, url) = tagged_url(&db, "resize");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(1).max_size(2).build());
    ok(pool.wait().await);
    ok(pool.resize(4, 6));
    ok(pool.wait().await);
    monitor.wait_sessions(&app, 4).await;
    let held = futures_join(&pool, 6).await;
    monitor.wait_sessions(&app, 6).await;
    ok(pool.resize(1, 2));
    drop(held);
    monitor.wait_sessions(&app, 2).await;
    let stats = pool.stats();
    assert_eq!((stats.pool_min, stats.pool_max, stats.pool_size), (1, 2, 2));
    assert!(pool.resize(3, 2).unwrap_err().is_config());
    assert_eq!(pool.stats().pool_max, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_timeout_waits_for_connections_in_use() {
    let db = database();
    let (app, url) = tagged_url(&db, "close_timeout");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(2).max_size(2).build());
    ok(pool.wait().await);
    let held = ok(pool.get().await);

    let started = Instant::now();
    let error = pool
        .close_timeout(Duration::from_millis(300))
        .await
        .expect_err("close_timeout returned Ok with a connection in use");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        error.to_string().contains("1 connection was still in use"),
        "{error}"
    );
    monitor.wait_sessions(&app, 1).await;

    let pool2 = pool.clone();
    let closing = tokio::spawn(async move { pool2.close_timeout(Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    ok(closing.await.expect("close_timeout panicked"));
    monitor.wait_sessions(&app, 0).await;
    assert!(pool.get().await.unwrap_err().is_closed());
}
