//! `Pooled::detach` takes a connection out of the pool for good; the pool
//! refills to `min_size`.

mod common;

use std::time::Duration;

use common::{FakeManager, wait_until};
use tidepool_core::{Pool, Pooled};

#[tokio::test(start_paused = true)]
async fn detach_removes_the_connection_and_the_pool_refills() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let conn = pool.get().await.unwrap();
    let detached = Pooled::detach(conn);
    assert_eq!(
        pool.stats().pool_size,
        1,
        "the detached connection still counts"
    );

    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || {
            let stats = pool.stats();
            stats.pool_size == 2 && stats.pool_available == 2
        },
    )
    .await;
    assert_eq!(manager.connects_succeeded(), 3);
    // The detached connection is the caller's: alive, and never handed out.
    assert_eq!(manager.live(), 3);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    assert!(a.id != detached.id && b.id != detached.id);
    drop(detached);
    assert_eq!(manager.live(), 2);
    assert_eq!(pool.stats().pool_size, 2);
    assert_eq!(pool.stats().returns_bad, 0);
}

#[tokio::test(start_paused = true)]
async fn detach_frees_room_under_max_size() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(0)
        .max_size(1)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let first = Pooled::detach(pool.get().await.unwrap());
    // max_size 1, but the detached connection no longer counts.
    let second = pool.get().await.unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(pool.stats().pool_size, 1);
}
