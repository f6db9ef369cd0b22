//! Dropping the last `Pool` handle closes the pool.

mod common;

use std::time::Duration;

use common::{FakeManager, settle, wait_until};
use tidepool_core::Pool;

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_closes_the_idle_connections() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(3)
        .max_size(3)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let clone = pool.clone();
    drop(pool);
    settle().await;
    assert_eq!(manager.live(), 3, "a clone still holds the pool open");
    drop(clone);
    wait_until("every connection is closed", Duration::from_secs(5), || {
        manager.live() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(manager.connects_started(), 3, "connected after the drop");
}

#[tokio::test(start_paused = true)]
async fn a_connection_returned_after_the_drop_is_closed() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let conn = pool.get().await.unwrap();
    drop(pool);
    wait_until(
        "the idle connection is closed",
        Duration::from_secs(5),
        || manager.live() == 1,
    )
    .await;
    drop(conn);
    assert_eq!(manager.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_pool_during_connects_leaks_nothing() {
    let manager = FakeManager::with_delay(Duration::from_secs(1));
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(pool);
    wait_until("every connection is closed", Duration::from_secs(5), || {
        manager.connects_started() == 2 && manager.connecting_now() == 0 && manager.live() == 0
    })
    .await;
}
