//! Reset on return: a connection returned dirty is reset before anyone else
//! gets it; a failed or hanging reset closes it and the pool refills.

mod common;

use std::time::Duration;

use common::{FakeManager, ResetOutcome, settle, wait_until};
use tidepool_core::Pool;

const RESET_TIMEOUT: Duration = Duration::from_secs(2);

async fn pool(manager: &FakeManager) -> Pool<FakeManager> {
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(30))
        .reset_timeout(RESET_TIMEOUT)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    pool
}

#[tokio::test(start_paused = true)]
async fn a_dirty_connection_is_reset_before_reuse() {
    let manager = FakeManager::new();
    let pool = pool(&manager).await;
    let mut conn = pool.get().await.unwrap();
    let id = conn.id;
    conn.needs_reset = true;
    drop(conn);

    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, id, "the reset connection is kept");
    assert!(!conn.needs_reset, "handed out without a reset");
    assert_eq!(manager.resets(), 1);
    assert_eq!(manager.connects_started(), 1);
    drop(conn);

    // A clean return needs no reset.
    let conn = pool.get().await.unwrap();
    drop(conn);
    settle().await;
    assert_eq!(manager.resets(), 1);
    assert_eq!(pool.stats().returns_bad, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_reset_closes_the_connection() {
    let manager = FakeManager::new();
    manager.set_reset_outcome(ResetOutcome::Error);
    let pool = pool(&manager).await;
    let mut conn = pool.get().await.unwrap();
    let id = conn.id;
    conn.needs_reset = true;
    drop(conn);

    let conn = pool.get().await.unwrap();
    assert_ne!(
        conn.id, id,
        "a connection whose reset failed was handed out"
    );
    assert!(!conn.needs_reset);
    assert_eq!(manager.resets(), 1);
    assert_eq!(manager.live(), 1);
    let stats = pool.stats();
    assert_eq!(stats.returns_bad, 1);
    assert_eq!(stats.pool_size, 1);
    drop(conn);
    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || pool.stats().pool_available == 1,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_reset_is_abandoned_after_reset_timeout() {
    let manager = FakeManager::new();
    manager.set_reset_outcome(ResetOutcome::Hang);
    let pool = pool(&manager).await;
    let mut conn = pool.get().await.unwrap();
    let id = conn.id;
    conn.needs_reset = true;
    drop(conn);

    let started = tokio::time::Instant::now();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    // Still resetting just before the limit: the connection counts, and the
    // pool (max_size 1) does not open another.
    tokio::time::sleep(RESET_TIMEOUT - Duration::from_millis(100)).await;
    assert_eq!(manager.resets(), 1);
    assert_eq!(manager.live(), 1);
    assert_eq!(pool.stats().pool_size, 1);
    assert_eq!(pool.stats().returns_bad, 0);
    assert_eq!(manager.connects_started(), 1);

    let new_id = waiter.await.unwrap().unwrap();
    let took = started.elapsed();
    assert_ne!(new_id, id);
    assert!(
        took >= RESET_TIMEOUT - Duration::from_millis(100),
        "{took:?}"
    );
    assert!(took < RESET_TIMEOUT + Duration::from_millis(50), "{took:?}");
    assert_eq!(pool.stats().returns_bad, 1);
    assert_eq!(manager.live(), 1, "the hanging connection was not closed");
}
