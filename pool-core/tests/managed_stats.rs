//! Stats: the counters move with the pool's work, `pop_stats` zeroes the
//! counters but not the gauges.

mod common;

use std::time::Duration;

use common::{FakeManager, settle, wait_for_waiters};
use tidepool_core::Pool;

#[tokio::test(start_paused = true)]
async fn counters_count_requests_and_connects() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let stats = pool.stats();
    assert_eq!(stats.connections_num, 1);
    assert_eq!(stats.connections_errors, 0);
    assert_eq!(stats.requests_num, 0);

    // Served at once: counted, not queued.
    let conn = pool.get().await.unwrap();
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 1);
    assert_eq!(stats.requests_queued, 0);
    assert_eq!(stats.pool_available, 0);

    // Queued, then served when the connection comes back.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    wait_for_waiters(&pool, 1).await;
    assert_eq!(pool.stats().requests_waiting, 1);
    drop(conn);
    waiter.await.unwrap().unwrap();

    // Queued, then timed out.
    let held = pool.get().await.unwrap();
    assert!(pool.get().await.unwrap_err().is_timeout());
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 4);
    assert_eq!(stats.requests_queued, 2);
    assert_eq!(stats.requests_errors, 1);
    assert_eq!(stats.requests_waiting, 0);
    drop(held);

    // pop_stats hands out the counters and zeroes them; gauges stay.
    let popped = pool.pop_stats();
    assert_eq!(popped.requests_num, 4);
    assert_eq!(popped.connections_num, 1);
    let after = pool.stats();
    assert_eq!(after.requests_num, 0);
    assert_eq!(after.requests_queued, 0);
    assert_eq!(after.requests_errors, 0);
    assert_eq!(after.connections_num, 0);
    assert_eq!(after.usage_ms, 0);
    assert_eq!(after.requests_wait_ms, 0);
    assert_eq!(after.pool_size, 1);
    assert_eq!(after.pool_available, 1);
    assert_eq!(after.pool_min, 1);
    assert_eq!(after.pool_max, 1);
}

#[tokio::test(start_paused = true)]
async fn failed_connects_are_counted() {
    let manager = FakeManager::new();
    manager.set_fail_connects(true);
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        .build()
        .unwrap();
    settle().await;
    let stats = pool.stats();
    assert_eq!(stats.connections_num, 2);
    assert_eq!(stats.connections_errors, 2);
    assert_eq!(stats.pool_size, 0);
    let popped = pool.pop_stats();
    assert_eq!(popped.connections_errors, 2);
    assert_eq!(pool.stats().connections_errors, 0);
}

#[tokio::test(start_paused = true)]
async fn time_counters_follow_tokio_time() {
    let manager = FakeManager::with_delay(Duration::from_millis(100));
    let pool = Pool::builder(manager)
        .min_size(1)
        .max_size(1)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    assert!(pool.stats().connections_ms >= 100, "{:?}", pool.stats());
    let conn = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(conn);
    waiter.await.unwrap().unwrap();
    let stats = pool.stats();
    assert!(stats.usage_ms >= 100, "{stats:?}");
    assert!(stats.requests_wait_ms >= 100, "{stats:?}");
}

/// The time counters on the real clock (short real sleeps; only lower
/// bounds are checked).
#[tokio::test]
async fn time_counters_follow_real_time() {
    let manager = FakeManager::with_delay(Duration::from_millis(30));
    let pool = Pool::builder(manager)
        .min_size(1)
        .max_size(1)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    assert!(pool.stats().connections_ms >= 30, "{:?}", pool.stats());
    let conn = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(conn);
    waiter.await.unwrap().unwrap();
    let stats = pool.stats();
    assert!(stats.usage_ms >= 50, "{stats:?}");
    assert!(stats.requests_wait_ms >= 50, "{stats:?}");
    let popped = pool.pop_stats();
    assert_eq!(popped.usage_ms, stats.usage_ms);
    assert_eq!(pool.stats().usage_ms, 0);
    assert_eq!(pool.stats().requests_wait_ms, 0);
}
