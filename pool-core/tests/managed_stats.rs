//! Stats: the counters move with the pool's work, `pop_stats` zeroes the
//! counters but not the gauges.

mod common;

use std::time::Duration;

use common::{FakeManager, settle, wait_for_waiters};
use tidepool_core::Pool;

#[tokio::test(start_paused = true)]
async fn counters_count_requests_and_connects() {
    let manager = FakeManager::new();
    let pool = common::ready_pool(manager.clone(), 1, 1, Duration::from_millis(500)).await;
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

/// `requests_max_wait_ms` is the wait so far of the oldest request still
/// waiting: a gauge, which `pop_stats` leaves alone.
#[tokio::test(start_paused = true)]
async fn the_longest_current_wait_is_that_of_the_oldest_waiting_request() {
    let pool = common::ready_pool(FakeManager::new(), 1, 1, Duration::from_secs(60)).await;
    assert_eq!(pool.stats().requests_max_wait_ms, 0);
    let held = pool.get().await.unwrap();
    // A waiter hands its connection to the test once served.
    let spawn_waiter = || {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await })
    };
    let first = spawn_waiter();
    wait_for_waiters(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = spawn_waiter();
    wait_for_waiters(&pool, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.stats().requests_max_wait_ms, 500);
    assert_eq!(pool.pop_stats().requests_max_wait_ms, 500);
    assert_eq!(
        pool.stats().requests_max_wait_ms,
        500,
        "a gauge is not reset"
    );

    // The first is served: the second is now the oldest.
    drop(held);
    let conn = first.await.unwrap().unwrap();
    let stats = pool.stats();
    assert_eq!(stats.requests_waiting, 1, "{stats:?}");
    assert_eq!(stats.requests_max_wait_ms, 200, "{stats:?}");
    drop(conn);
    drop(second.await.unwrap().unwrap());
    assert_eq!(pool.stats().requests_max_wait_ms, 0);

    // A request given up (dropped) no longer counts.
    let held = pool.get().await.unwrap();
    let dropped = spawn_waiter();
    wait_for_waiters(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.stats().requests_max_wait_ms, 50);
    dropped.abort();
    assert!(dropped.await.unwrap_err().is_cancelled());
    assert_eq!(pool.stats().requests_max_wait_ms, 0);
    drop(held);
}

/// The counters tidepool adds to psycopg_pool's are zeroed by `pop_stats`
/// like the others.
#[tokio::test(start_paused = true)]
async fn pop_stats_zeroes_the_added_counters() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(1)
        .max_waiting(1)
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let mut conn = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(drop) })
    };
    wait_for_waiters(&pool, 1).await;
    assert!(pool.get().await.unwrap_err().is_too_many_requests());
    assert!(waiter.await.unwrap().unwrap_err().is_timeout());
    conn.needs_reset = true;
    drop(conn);
    settle().await;
    pool.drain();
    pool.wait().await.unwrap();

    let popped = pool.pop_stats();
    assert_eq!(popped.requests_timeouts, 1, "{popped:?}");
    assert_eq!(popped.requests_rejected, 1, "{popped:?}");
    assert_eq!(popped.requests_errors, 2, "{popped:?}");
    assert_eq!(popped.returns_reset, 1, "{popped:?}");
    assert_eq!(popped.connections_closed_drained, 1, "{popped:?}");
    let after = pool.stats();
    assert_eq!(after.requests_timeouts, 0, "{after:?}");
    assert_eq!(after.requests_rejected, 0, "{after:?}");
    assert_eq!(after.returns_reset, 0, "{after:?}");
    assert_eq!(after.connections_closed_drained, 0, "{after:?}");
    assert_eq!(after.pool_size, 1, "{after:?}");
}
