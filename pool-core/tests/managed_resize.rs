//! `Pool::resize`: growing opens connections in the background and raises
//! the limit; shrinking closes idle connections at once (the longest idle
//! first) and connections in use when they are returned, until the pool
//! fits; impossible sizes are rejected and change nothing.

mod common;

use std::time::Duration;

use common::{FakeManager, settle, wait_until};
use tidepool_core::{Pool, Pooled};

fn pool(manager: &FakeManager, min_size: usize, max_size: usize) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .min_size(min_size)
        .max_size(max_size)
        .max_connecting(10)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

async fn hold(pool: &Pool<FakeManager>, n: usize) -> Vec<Pooled<FakeManager>> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.get().await.unwrap());
    }
    held
}

#[tokio::test(start_paused = true)]
async fn growing_opens_connections_in_the_background_and_raises_the_limit() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = pool(&manager, 2, 4);
    pool.wait().await.unwrap();
    // The old limit holds.
    let held = hold(&pool, 4).await;
    assert!(pool.get().await.unwrap_err().is_timeout());
    drop(held);

    pool.resize(5, 10).unwrap();
    let stats = pool.stats();
    assert_eq!((stats.pool_min, stats.pool_max), (5, 10));
    let requests = stats.requests_num;
    wait_until(
        "the pool grows to the new min_size",
        Duration::from_secs(5),
        || {
            let stats = pool.stats();
            stats.pool_size == 5 && stats.pool_available == 5
        },
    )
    .await;
    assert_eq!(pool.stats().requests_num, requests, "grown by checkouts");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(manager.connects_started(), 5, "grown beyond min_size");
    pool.wait().await.unwrap();

    // 10 connections in use at once, and no more.
    let held = hold(&pool, 10).await;
    assert_eq!(manager.live(), 10);
    let error = pool.get().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(
        error.to_string().contains("10 of 10 connections in use"),
        "{error}"
    );
    assert_eq!(manager.live_max(), 10);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn shrinking_closes_idle_now_and_busy_ones_at_return_until_the_pool_fits() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 5, 10);
    pool.wait().await.unwrap();
    let mut held = hold(&pool, 3).await;
    assert_eq!(pool.stats().pool_available, 2);

    pool.resize(1, 2).unwrap();
    assert_eq!(manager.live(), 3, "the idle connections were not closed");
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 0, "{stats:?}");
    assert_eq!(stats.pool_size, 3, "{stats:?}");
    assert_eq!((stats.pool_min, stats.pool_max), (1, 2));

    // 3 open, max_size 2: the first return closes, the others are kept.
    let first = held.remove(0);
    let first_id = first.id;
    drop(first);
    assert!(!manager.is_alive(first_id), "kept above max_size");
    assert_eq!(pool.stats().pool_size, 2);
    drop(held.remove(0));
    assert_eq!(manager.live(), 2, "closed although the pool fits");
    assert_eq!(pool.stats().pool_available, 1);
    drop(held.remove(0));
    assert_eq!(manager.live(), 2);
    assert_eq!(pool.stats().pool_available, 2);

    // Returns are kept from now on, and nothing else opens or closes.
    for _ in 0..3 {
        let held = hold(&pool, 2).await;
        assert!(pool.get().await.unwrap_err().is_timeout());
        drop(held);
        assert_eq!(manager.live(), 2);
    }
    settle().await;
    assert_eq!(manager.connects_started(), 5);
    let stats = pool.stats();
    assert_eq!((stats.pool_size, stats.pool_available), (2, 2), "{stats:?}");
    // Closing for a resize is not a fault.
    assert_eq!((stats.connections_lost, stats.returns_bad), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn shrinking_closes_only_the_excess_idle_connections_longest_idle_first() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 5, 10);
    pool.wait().await.unwrap();
    // Return the connections one millisecond apart, in a known order.
    let held = hold(&pool, 5).await;
    let order: Vec<usize> = held.iter().map(|c| c.id).collect();
    for conn in held {
        drop(conn);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    pool.resize(1, 3).unwrap();
    // The two returned first (idle longest) are closed.
    assert!(!manager.is_alive(order[0]) && !manager.is_alive(order[1]));
    let mut alive = manager.live_ids();
    alive.sort_unstable();
    let mut expected = order[2..].to_vec();
    expected.sort_unstable();
    assert_eq!(alive, expected, "returned in the order {order:?}");
    let stats = pool.stats();
    assert_eq!((stats.pool_size, stats.pool_available), (3, 3), "{stats:?}");
    // The rest are in use now and kept at return.
    let held = hold(&pool, 3).await;
    drop(held);
    assert_eq!(manager.live(), 3);
}

#[tokio::test(start_paused = true)]
async fn impossible_sizes_are_rejected_and_change_nothing() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 2, 4);
    pool.wait().await.unwrap();
    for (min_size, max_size, expected) in [
        (5, 2, "min_size (5) is larger than max_size (2)"),
        (0, 0, "max_size is 0"),
    ] {
        let error = pool.resize(min_size, max_size).unwrap_err();
        assert!(error.is_config(), "{error}");
        assert!(error.to_string().contains(expected), "{error}");
        let stats = pool.stats();
        assert_eq!((stats.pool_min, stats.pool_max), (2, 4), "{stats:?}");
    }
    // The pool works as before.
    let held = hold(&pool, 4).await;
    assert!(pool.get().await.unwrap_err().is_timeout());
    drop(held);
    settle().await;
    assert_eq!(manager.live(), 4);
    assert_eq!(pool.stats().pool_size, 4);
}

/// Connects started before a shrink must not leave the pool above the new
/// `max_size` once they complete.
#[tokio::test(start_paused = true)]
async fn connects_in_flight_during_a_shrink_do_not_exceed_the_new_max_size() {
    let manager = FakeManager::with_delay(Duration::from_secs(1));
    let pool = Pool::builder(manager.clone())
        .min_size(4)
        .max_size(4)
        .max_connecting(4)
        .max_idle(None)
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(manager.connecting_now(), 4);
    pool.resize(0, 1).unwrap();

    tokio::time::sleep(Duration::from_secs(60)).await;
    let stats = pool.stats();
    assert!(
        stats.pool_size <= 1 && manager.live() <= 1,
        "{} connections open with max_size 1: {stats:?}",
        manager.live()
    );
}
