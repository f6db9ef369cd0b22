//! Backoff: failed connects are retried after growing delays (0.25 s,
//! 0.5 s, 1 s, ...), never in a tight loop, and the pool recovers by itself.

mod common;

use std::time::Duration;

use common::{CONNECT_ERROR, FakeManager, settle};
use tidepool_core::Pool;

fn failing_pool() -> (Pool<FakeManager>, FakeManager) {
    let manager = FakeManager::new();
    manager.set_fail_connects(true);
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(4)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    (pool, manager)
}

#[tokio::test(start_paused = true)]
async fn no_retry_before_the_first_backoff_delay() {
    let (pool, manager) = failing_pool();
    settle().await;
    assert_eq!(manager.connects_failed(), 1);
    // Demand does not bypass the backoff.
    let request = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get_timeout(Duration::from_millis(200)).await })
    };
    // The first delay is 0.25 s +-10%.
    tokio::time::sleep(Duration::from_millis(220)).await;
    assert_eq!(manager.connects_started(), 1, "retried within the backoff");
    let error = request.await.unwrap().unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(
        error.cause().map(|c| c.to_string()).as_deref(),
        Some(CONNECT_ERROR)
    );
    assert!(error.to_string().contains(CONNECT_ERROR), "{error}");
    let stats = pool.stats();
    assert_eq!(stats.connections_num, 1);
    assert_eq!(stats.connections_errors, 1);
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_exponentially_and_the_pool_recovers() {
    let (pool, manager) = failing_pool();
    let real = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts = manager.connects_started();
    // Attempts at about 0, 0.25, 0.75, 1.75, 3.75 and 7.75 s (the delays'
    // jitter cannot move a seventh before 15 s).
    assert_eq!(attempts, 6, "{attempts} connect attempts in 10 s");
    assert!(
        real.elapsed() < Duration::from_secs(2),
        "10 s of paused time took {:?} of real time",
        real.elapsed()
    );

    // The database comes back: the pool recovers without help, within the
    // next backoff delay (8 s +-10%, then 16 s, ...).
    manager.set_fail_connects(false);
    let conn = pool.get_timeout(Duration::from_secs(40)).await.unwrap();
    assert!(manager.connects_succeeded() >= 1);
    drop(conn);
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 1);
    assert_eq!(stats.connections_errors as usize, manager.connects_failed());
}
