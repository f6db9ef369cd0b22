//! Broken connections are never handed out nor kept: an idle one found
//! broken is replaced, one returned broken is closed and the pool refilled.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{FakeManager, wait_until};
use tidepool_core::Pool;

fn pool(manager: &FakeManager, min_size: usize, max_size: usize) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .min_size(min_size)
        .max_size(max_size)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_found_broken_is_replaced() {
    let manager = FakeManager::with_delay(Duration::from_millis(20));
    let pool = pool(&manager, 1, 1);
    pool.wait().await.unwrap();
    assert_eq!(pool.stats().pool_available, 1);
    // The server closes the idle connection.
    manager.broken_flag(0).store(true, SeqCst);

    let conn = pool.get().await.unwrap();
    assert_ne!(conn.id, 0, "a broken connection was handed out");
    assert!(!conn.broken.load(SeqCst));
    assert_eq!(manager.connects_succeeded(), 2);
    assert_eq!(manager.live(), 1, "the broken connection was not closed");
    let stats = pool.stats();
    assert_eq!(stats.connections_lost, 1);
    assert_eq!(stats.pool_size, 1);
    assert_eq!(stats.requests_errors, 0);
}

#[tokio::test(start_paused = true)]
async fn every_broken_idle_connection_is_replaced() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 2, 2);
    pool.wait().await.unwrap();
    manager.broken_flag(0).store(true, SeqCst);
    manager.broken_flag(1).store(true, SeqCst);
    let first = pool.get().await.unwrap();
    let second = pool.get().await.unwrap();
    assert!(
        first.id >= 2 && second.id >= 2,
        "{} {}",
        first.id,
        second.id
    );
    assert_eq!(pool.stats().connections_lost, 2);
    assert_eq!(manager.live(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_connection_returned_broken_is_closed_and_replaced() {
    let manager = FakeManager::with_delay(Duration::from_millis(20));
    let pool = pool(&manager, 1, 2);
    pool.wait().await.unwrap();
    let conn = pool.get().await.unwrap();
    let id = conn.id;
    conn.broken.store(true, SeqCst);
    drop(conn);
    assert_eq!(pool.stats().returns_bad, 1);
    assert_eq!(manager.live(), 0, "the broken connection was kept");

    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || {
            let stats = pool.stats();
            stats.pool_size == 1 && stats.pool_available == 1
        },
    )
    .await;
    assert_eq!(manager.connects_succeeded(), 2);
    let conn = pool.get().await.unwrap();
    assert_ne!(conn.id, id);
    assert_eq!(manager.live(), 1);
}
