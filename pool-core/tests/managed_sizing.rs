//! Sizing: the pool opens `min_size` connections by itself, opens nothing
//! more without demand, and never has more than `max_size` open.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use common::{FakeManager, settle};
use tidepool_core::Pool;

#[tokio::test(start_paused = true)]
async fn opens_min_size_connections_and_no_more() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = Pool::builder(manager.clone())
        .min_size(3)
        .max_size(10)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    assert_eq!(manager.connects_started(), 3);
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 3, "{stats:?}");
    assert_eq!(stats.pool_available, 3, "{stats:?}");
    // Give the worker every chance to open more than it should.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(manager.connects_started(), 3);
    assert_eq!(manager.connects_succeeded(), 3);
    assert_eq!(manager.live(), 3);
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 3, "{stats:?}");
    assert_eq!(stats.pool_available, 3, "{stats:?}");
    assert_eq!(stats.pool_min, 3);
    assert_eq!(stats.pool_max, 10);
    assert_eq!(stats.connections_num, 3);
}

#[tokio::test(start_paused = true)]
async fn min_size_zero_opens_nothing_until_a_checkout() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = Pool::builder(manager.clone())
        .min_size(0)
        .max_size(4)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(manager.connects_started(), 0);
    assert_eq!(pool.stats().pool_size, 0);

    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 0);
    assert!(manager.connects_started() >= 1);
    drop(conn);
}

/// The request is the runtime's main future (as in `#[tokio::main]`), so it
/// is polled after the pool's background tasks.
#[tokio::test(start_paused = true)]
async fn one_checkout_opens_one_connection() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(0)
        .max_size(4)
        .build()
        .unwrap();
    let conn = pool.get().await.unwrap();
    drop(conn);
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(manager.connects_started(), 1, "{:?}", pool.stats());
    assert_eq!(pool.stats().pool_size, 1);
    assert_eq!(pool.stats().pool_available, 1);
}

/// The same race between a served request and the worker, on a
/// multi-threaded runtime (real clock; connects take 1 ms). A race can only
/// be caught sometimes: with the bug, about one run in five opens a spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_checkout_opens_one_connection_on_many_threads() {
    let mut extra = 0;
    for _ in 0..30 {
        let manager = FakeManager::with_delay(Duration::from_millis(1));
        let pool = Pool::builder(manager.clone())
            .min_size(0)
            .max_size(4)
            .build()
            .unwrap();
        let task = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(drop) })
        };
        task.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        extra += manager.connects_started() - 1;
    }
    assert_eq!(
        extra, 0,
        "{extra} connects beyond one per checkout in 30 runs"
    );
}

#[tokio::test(start_paused = true)]
async fn max_size_is_never_exceeded_under_load() {
    const MAX: usize = 10;
    let manager = FakeManager::with_delay(Duration::from_millis(3));
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(MAX)
        .max_connecting(4)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    pool.wait().await.unwrap();

    let out_now = Arc::new(AtomicUsize::new(0));
    let out_max = Arc::new(AtomicUsize::new(0));
    let size_max = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let pool = pool.clone();
        let (out_now, out_max, size_max) = (
            Arc::clone(&out_now),
            Arc::clone(&out_max),
            Arc::clone(&size_max),
        );
        tasks.push(tokio::spawn(async move {
            let conn = pool.get().await?;
            let out = out_now.fetch_add(1, SeqCst) + 1;
            out_max.fetch_max(out, SeqCst);
            size_max.fetch_max(pool.stats().pool_size, SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            size_max.fetch_max(pool.stats().pool_size, SeqCst);
            out_now.fetch_sub(1, SeqCst);
            drop(conn);
            Ok::<_, tidepool_core::Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let out_max = out_max.load(SeqCst);
    let size_max = size_max.load(SeqCst);
    assert!(out_max <= MAX, "{out_max} connections out at once");
    assert!(size_max <= MAX, "pool_size reached {size_max}");
    assert!(
        manager.live_max() <= MAX,
        "{} connections alive at once",
        manager.live_max()
    );
    // The load was high enough to fill the pool: the bound was exercised.
    assert_eq!(out_max, MAX);
    assert_eq!(pool.stats().pool_size, MAX);
    assert_eq!(manager.connects_started(), MAX);
}
