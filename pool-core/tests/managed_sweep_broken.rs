//! The background sweep also closes idle connections found broken, without
//! waiting for a checkout to find them, and the pool refills to `min_size`;
//! a manager that learns a connection broke asks for a sweep at once.

mod common;

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{FakeManager, wait_until};
use tidepool_core::{HealthCheck, Pool};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn the_sweep_replaces_a_broken_idle_connection_without_a_checkout() {
    let manager = FakeManager::new();
    let t0 = Instant::now();
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        // Sweeps every 15 s; nothing else closes connections here.
        .max_idle(Some(Duration::from_secs(60)))
        .max_lifetime(None)
        .health_check(HealthCheck::Never)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The server ends the idle connection 0.
    manager.broken_flag(0).store(true, SeqCst);

    wait_until(
        "the sweep replaces the broken connection",
        Duration::from_secs(20),
        || !manager.is_alive(0) && pool.stats().pool_available == 2,
    )
    .await;
    let closed = manager.closed_at(0).unwrap() - t0;
    assert!(closed <= Duration::from_secs(15), "closed after {closed:?}");
    assert_eq!(manager.live_ids(), vec![1, 2]);
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 0, "{stats:?}");
    assert_eq!(stats.connections_lost, 1, "{stats:?}");
    assert_eq!(stats.pool_size, 2, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_sweep_asked_for_by_the_manager_closes_a_broken_idle_connection_at_once() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        // No periodic sweep, and no checkout: only the manager's request
        // can close the connection.
        .max_idle(None)
        .max_lifetime(None)
        .health_check(HealthCheck::Never)
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    manager.broken_flag(1).store(true, SeqCst);
    // Broken but not told: it stays.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(manager.is_alive(1));

    let t0 = Instant::now();
    manager.sweep_soon();
    wait_until(
        "the requested sweep replaces the broken connection",
        Duration::from_secs(1),
        || !manager.is_alive(1) && pool.stats().pool_available == 2,
    )
    .await;
    let closed = manager.closed_at(1).unwrap() - t0;
    assert!(
        closed < Duration::from_millis(10),
        "closed after {closed:?}"
    );
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 0, "{stats:?}");
    assert_eq!(stats.connections_lost, 1, "{stats:?}");
    assert_eq!(manager.live_ids(), vec![0, 2]);
}
