//! `Pool::close`: waiters fail, idle connections close at once, connections
//! in use close when returned, and nothing connects again.

mod common;

use std::time::Duration;

use common::{FakeManager, settle, wait_for_waiters};
use tidepool_core::Pool;

async fn pool(manager: &FakeManager, min_size: usize, max_size: usize) -> Pool<FakeManager> {
    common::ready_pool(manager.clone(), min_size, max_size, Duration::from_secs(60)).await
}

#[tokio::test(start_paused = true)]
async fn close_fails_waiting_requests() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1, 1).await;
    let held = pool.get().await.unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(|c| c.id) })
        })
        .collect();
    wait_for_waiters(&pool, 3).await;

    pool.close();
    assert!(pool.is_closed());
    for waiter in waiters {
        let error = waiter.await.unwrap().unwrap_err();
        assert!(error.is_closed(), "{error}");
        assert!(error.to_string().contains("is closed"), "{error}");
    }
    assert_eq!(pool.stats().requests_waiting, 0);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn close_closes_idle_connections_now_and_busy_ones_on_return() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 3, 3).await;
    let mut held = pool.get().await.unwrap();
    held.needs_reset = true;
    let plain = pool.get().await.unwrap();
    assert_eq!(manager.live(), 3);

    pool.close();
    assert_eq!(manager.live(), 2, "the idle connection was not closed");
    assert_eq!(pool.stats().pool_available, 0);
    drop(plain);
    assert_eq!(
        manager.live(),
        1,
        "a connection returned after close was kept"
    );
    // One that needs a reset is not kept either.
    drop(held);
    settle().await;
    assert_eq!(manager.live(), 0);
    assert_eq!(pool.stats().pool_size, 0);
}

#[tokio::test(start_paused = true)]
async fn get_and_wait_after_close_fail() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1, 1).await;
    pool.close();
    let error = pool.get().await.unwrap_err();
    assert!(error.is_closed(), "{error}");
    assert!(pool.wait().await.unwrap_err().is_closed());
    assert_eq!(pool.stats().requests_errors, 1);
    // Closing twice is harmless.
    pool.close();
    assert!(pool.get().await.unwrap_err().is_closed());
}

#[tokio::test(start_paused = true)]
async fn nothing_connects_after_close() {
    let manager = FakeManager::with_delay(Duration::from_secs(1));
    let pool = Pool::builder(manager.clone())
        .min_size(4)
        .max_size(4)
        .build()
        .unwrap();
    // Close while the first connects run.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = manager.connects_started();
    assert_eq!(started, 2, "max_connecting is 2");
    pool.close();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(manager.connects_started(), started, "connected after close");
    assert_eq!(
        manager.live(),
        0,
        "connections opened during close were kept"
    );
    assert_eq!(pool.stats().pool_size, 0);
}
