//! The gauges and counters of a pool on a real server, and `pop_stats`,
//! which hands out the counters and sets them back to zero.

mod common;

use std::time::Duration;

use common::{database, ok, tagged_url};
use tidepool_async::Pool;

#[tokio::test]
async fn stats_count_a_real_pools_work_and_pop_stats_zeroes_the_counters() {
    let db = database();
    let (_, url) = tagged_url(&db, "stats");
    let pool = ok(Pool::builder(&url)
        .min_size(2)
        .max_size(2)
        .timeout(Duration::from_secs(10))
        .build());
    ok(pool.wait().await);

    let stats = pool.stats();
    assert_eq!((stats.pool_min, stats.pool_max), (2, 2), "{stats:?}");
    assert_eq!(stats.pool_size, 2, "{stats:?}");
    assert_eq!(stats.pool_available, 2, "{stats:?}");
    assert!(stats.connections_num >= 2, "{stats:?}");
    assert_eq!(stats.connections_errors, 0, "{stats:?}");
    assert_eq!(stats.requests_num, 0, "{stats:?}");

    for _ in 0..3 {
        let conn = ok(pool.get().await);
        ok(conn.query_one("select 1", &[]).await);
    }
    let first = ok(pool.get().await);
    let second = ok(pool.get().await);
    // Held for at least 50 ms each, by the server's clock.
    ok(first.query("select pg_sleep(0.05)", &[]).await);
    ok(second.query("select pg_sleep(0.05)", &[]).await);
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 0, "{stats:?}");
    assert_eq!(stats.pool_size, 2, "{stats:?}");

    // A request that waits for a connection, then gets one.
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    common::eventually("the request waits", async || {
        pool.stats().requests_waiting == 1
    })
    .await;
    assert_eq!(pool.stats().requests_queued, 1);
    ok(first.query("select pg_sleep(0.05)", &[]).await);
    drop(first);
    ok(waiter.await.unwrap());
    drop(second);

    let stats = pool.stats();
    assert_eq!(stats.requests_num, 6, "{stats:?}");
    assert_eq!(stats.requests_queued, 1, "{stats:?}");
    assert!(stats.requests_wait_ms >= 50, "{stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
    assert!(stats.usage_ms >= 100, "{stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");
    assert_eq!(stats.pool_available, 2, "{stats:?}");

    let popped = pool.pop_stats();
    assert_eq!(popped.requests_num, 6, "{popped:?}");
    assert!(popped.connections_num >= 2, "{popped:?}");
    assert!(popped.usage_ms >= stats.usage_ms, "{popped:?}");

    let after = pool.stats();
    assert_eq!(after.requests_num, 0, "{after:?}");
    assert_eq!(after.requests_queued, 0, "{after:?}");
    assert_eq!(after.requests_wait_ms, 0, "{after:?}");
    assert_eq!(after.usage_ms, 0, "{after:?}");
    assert_eq!(after.connections_num, 0, "{after:?}");
    assert_eq!(after.connections_ms, 0, "{after:?}");
    // Gauges describe the pool now and are not reset.
    assert_eq!(after.pool_size, 2, "{after:?}");
    assert_eq!(after.pool_available, 2, "{after:?}");
    assert_eq!((after.pool_min, after.pool_max), (2, 2), "{after:?}");

    // Counting starts again from zero.
    drop(ok(pool.get().await));
    assert_eq!(pool.stats().requests_num, 1);
}

#[tokio::test]
async fn failed_checkouts_are_counted() {
    let db = database();
    let (_, url) = tagged_url(&db, "statsfail");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .max_waiting(1)
        .build());
    ok(pool.wait().await);
    let held = ok(pool.get().await);
    assert!(pool.get_timeout(Duration::from_millis(100)).await.is_err());
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 2, "{stats:?}");
    assert_eq!(stats.requests_queued, 1, "{stats:?}");
    assert_eq!(stats.requests_errors, 1, "{stats:?}");
    drop(held);
}

/// psycopg_pool, whose names the stats take, adds the wait of a checkout
/// that timed out to `requests_wait_ms`, and the field's documentation
/// says "total milliseconds that checkouts spent waiting".
#[tokio::test]
async fn the_wait_of_a_checkout_that_timed_out_is_counted() {
    let db = database();
    let (_, url) = tagged_url(&db, "statswait");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    ok(pool.wait().await);
    let held = ok(pool.get().await);
    assert_eq!(pool.stats().requests_wait_ms, 0);
    assert!(pool.get_timeout(Duration::from_millis(200)).await.is_err());
    let stats = pool.stats();
    assert!(stats.requests_wait_ms >= 200, "{stats:?}");
    drop(held);
}
