//! Stats and metrics of real pools, async and blocking: a timeout, a
//! rejection and a connection closed at the end of its lifetime move the
//! same numbers in `stats()` and in the metrics.

mod common;

use std::time::Duration;

use common::observe::Metrics;
use common::{database, eventually, eventually_blocking, ok, tagged_url, unique};
use tidepool_async::metrics::{
    CONNECTIONS, CONNECTIONS_ACQUIRE, CONNECTIONS_ACQUIRED, CONNECTIONS_CLOSED,
    CONNECTIONS_CREATED, CONNECTIONS_CREATION, CONNECTIONS_IDLE, CONNECTIONS_IN_USE,
    CONNECTIONS_MAX, CONNECTIONS_MIN, CONNECTIONS_PENDING, CONNECTIONS_REJECTED,
    CONNECTIONS_TIMEOUT, CONNECTIONS_USAGE,
};

/// How long the request that times out waits.
const SHORT: Duration = Duration::from_millis(200);
/// The lifetime of the connections of the lifetime tests.
const LIFETIME: Duration = Duration::from_millis(300);

fn lifetime_closes(metrics: &Metrics, pool: &str) -> f64 {
    metrics
        .value(
            CONNECTIONS_CLOSED,
            &[("pool", pool), ("reason", "lifetime")],
        )
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_timeout_and_a_rejection_move_the_stats_and_the_metrics() {
    let db = database();
    let (_, url) = tagged_url(&db, "obs");
    let name = unique("obs");
    let metrics = Metrics::new();
    let pool = metrics.build(|| {
        ok(tidepool_async::Pool::builder(&url)
            .name(&name)
            .min_size(1)
            .max_size(1)
            .max_waiting(1)
            .build())
    });
    ok(pool.wait().await);
    assert_eq!(metrics.of(&name, CONNECTIONS_CREATED), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_MIN), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_MAX), 1.0);
    assert_eq!(metrics.samples(&name, CONNECTIONS_CREATION).len(), 1);

    let conn = ok(pool.get().await);
    ok(conn.query_one("select pg_sleep(0.05)", &[]).await);
    assert_eq!(metrics.of(&name, CONNECTIONS_IN_USE), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_IDLE), 0.0);

    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get_timeout(SHORT).await.map(drop) }
    });
    eventually("the request waits", async || {
        pool.stats().requests_waiting == 1
    })
    .await;
    assert_eq!(metrics.of(&name, CONNECTIONS_PENDING), 1.0);
    let rejected = pool.get().await.expect_err("the queue is full");
    assert!(rejected.is_too_many_requests(), "{rejected}");
    let timed_out = waiter.await.unwrap().expect_err("no connection came back");
    assert!(timed_out.is_timeout(), "{timed_out}");
    drop(conn);

    let stats = pool.stats();
    assert_eq!(stats.requests_num, 3, "{stats:?}");
    assert_eq!(stats.requests_timeouts, 1, "{stats:?}");
    assert_eq!(stats.requests_rejected, 1, "{stats:?}");
    assert_eq!(stats.requests_errors, 2, "{stats:?}");
    assert_eq!(stats.requests_max_wait_ms, 0, "{stats:?}");
    assert_eq!(metrics.of(&name, CONNECTIONS_ACQUIRED), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_TIMEOUT), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_REJECTED), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_PENDING), 0.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_IN_USE), 0.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_IDLE), 1.0);
    let acquire = metrics.samples(&name, CONNECTIONS_ACQUIRE);
    assert_eq!(acquire.len(), 2, "served and timed out: {acquire:?}");
    assert!(acquire[1] >= SHORT.as_secs_f64(), "{acquire:?}");
    let usage = metrics.samples(&name, CONNECTIONS_USAGE);
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert!(usage[0] >= 0.05, "{usage:?}");

    let popped = pool.pop_stats();
    assert_eq!((popped.requests_timeouts, popped.requests_rejected), (1, 1));
    let after = pool.stats();
    assert_eq!((after.requests_timeouts, after.requests_rejected), (0, 0));
}

#[tokio::test]
async fn a_connection_past_its_lifetime_is_closed_and_counted() {
    let db = database();
    let (_, url) = tagged_url(&db, "obslife");
    let name = unique("obslife");
    let metrics = Metrics::new();
    let pool = metrics.build(|| {
        ok(tidepool_async::Pool::builder(&url)
            .name(&name)
            .min_size(1)
            .max_size(1)
            .max_lifetime(Some(LIFETIME))
            .build())
    });
    ok(pool.wait().await);
    eventually(
        "a connection closes at the end of its lifetime",
        async || pool.stats().connections_closed_lifetime >= 1,
    )
    .await;
    eventually("the metrics count it", async || {
        lifetime_closes(&metrics, &name) >= 1.0
    })
    .await;
    // The pool replaces it.
    ok(pool.wait().await);
    drop(ok(pool.get().await));
    assert!(metrics.of(&name, CONNECTIONS_CREATED) >= 2.0);
    let stats = pool.stats();
    assert_eq!(stats.connections_closed_broken, 0, "{stats:?}");
    assert_eq!(stats.connections_lost, 0, "{stats:?}");

    pool.close();
    eventually("the gauges fall to zero", async || {
        metrics.of(&name, CONNECTIONS) == 0.0
    })
    .await;
    assert_eq!(metrics.of(&name, CONNECTIONS_IDLE), 0.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_MAX), 0.0);
}

#[test]
fn the_blocking_pool_moves_the_same_stats_and_metrics() {
    let db = database();
    let (_, url) = tagged_url(&db, "obssync");
    let name = unique("obssync");
    let metrics = Metrics::new();
    let pool = metrics.build(|| {
        ok(tidepool_sync::Pool::builder(&url)
            .name(&name)
            .min_size(1)
            .max_size(1)
            .max_waiting(1)
            .max_lifetime(Some(Duration::from_secs(600)))
            .build())
    });
    ok(pool.wait());
    let conn = ok(pool.get());
    ok(conn.query_one("select 1", &[]));
    let waiter = std::thread::spawn({
        let pool = pool.clone();
        move || pool.get_timeout(Duration::from_secs(2)).map(drop)
    });
    eventually_blocking("the request waits", || pool.stats().requests_waiting == 1);
    let rejected = pool.get().expect_err("the queue is full");
    assert!(rejected.is_too_many_requests(), "{rejected}");
    let timed_out = waiter.join().unwrap().expect_err("no connection came back");
    assert!(timed_out.is_timeout(), "{timed_out}");
    drop(conn);

    let stats = pool.stats();
    assert_eq!(stats.requests_timeouts, 1, "{stats:?}");
    assert_eq!(stats.requests_rejected, 1, "{stats:?}");
    assert_eq!(stats.requests_errors, 2, "{stats:?}");
    assert_eq!(metrics.of(&name, CONNECTIONS_TIMEOUT), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_REJECTED), 1.0);
    assert_eq!(metrics.of(&name, CONNECTIONS_ACQUIRED), 1.0);
    eventually_blocking("the connection is idle again", || {
        metrics.of(&name, CONNECTIONS_IDLE) == 1.0
    });
    assert_eq!(metrics.of(&name, CONNECTIONS_IN_USE), 0.0);

    // A lifetime close, through the blocking pool's own threads.
    let (_, url) = tagged_url(&db, "obssynclife");
    let name = unique("obssynclife");
    let pool = metrics.build(|| {
        ok(tidepool_sync::Pool::builder(&url)
            .name(&name)
            .min_size(1)
            .max_size(1)
            .max_lifetime(Some(LIFETIME))
            .build())
    });
    ok(pool.wait());
    eventually_blocking("a connection closes at the end of its lifetime", || {
        pool.stats().connections_closed_lifetime >= 1 && lifetime_closes(&metrics, &name) >= 1.0
    });
}
