//! `Pool::check` tests every idle connection and closes the failing ones;
//! `Pool::drain` retires every connection (idle now, in use at return, being
//! opened when it opens); either way the pool refills to `min_size`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{CheckOutcome, FakeManager, timed, wait_until};
use tidepool_core::{HealthCheck, Pool};
use tokio::time::Instant;

fn pool(manager: &FakeManager, min_size: usize, max_size: usize) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .min_size(min_size)
        .max_size(max_size)
        // Checkouts do not check: only `Pool::check` does.
        .health_check(HealthCheck::Never)
        .health_check_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn check_tests_every_idle_connection_and_closes_the_failing_ones() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 5, 5);
    pool.wait().await.unwrap();
    // A connection in use is not checked.
    let held = pool.get().await.unwrap();
    let idle: Vec<usize> = (0..5).filter(|id| *id != held.id).collect();
    manager.set_check_outcome_for(idle[1], CheckOutcome::Error);
    manager.set_check_outcome_for(idle[3], CheckOutcome::Error);

    let closed = pool.check().await;
    assert_eq!(closed, 2);
    assert_eq!(
        manager.checked_ids().into_iter().collect::<BTreeSet<_>>(),
        idle.iter().copied().collect::<BTreeSet<_>>(),
    );
    assert_eq!(manager.checks(), 4, "{:?}", manager.checked_ids());
    assert!(!manager.is_alive(idle[1]) && !manager.is_alive(idle[3]));
    assert!(manager.is_alive(idle[0]) && manager.is_alive(idle[2]));
    assert!(manager.is_alive(held.id));
    assert_eq!(pool.stats().connections_lost, 2);

    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || {
            let stats = pool.stats();
            stats.pool_size == 5 && stats.pool_available == 4
        },
    )
    .await;
    assert_eq!(manager.live(), 5);
    assert_eq!(manager.connects_succeeded(), 7);

    // All healthy now: nothing closed.
    drop(held);
    assert_eq!(pool.check().await, 0);
    assert_eq!(manager.checks(), 4 + 5);
    assert_eq!(manager.live(), 5);
}

#[tokio::test(start_paused = true)]
async fn check_abandons_a_hanging_check_at_health_check_timeout() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 2, 2);
    pool.wait().await.unwrap();
    manager.set_check_outcome_for(0, CheckOutcome::Hang);
    let (closed, took) = timed(pool.check()).await;
    assert_eq!(closed, 1);
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2050),
        "{took:?}"
    );
    assert!(!manager.is_alive(0));
    assert!(manager.is_alive(1));
    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || pool.stats().pool_available == 2,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn drain_replaces_idle_connections_now_and_busy_ones_at_return() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = pool(&manager, 2, 4);
    pool.wait().await.unwrap();
    let held = pool.get().await.unwrap();
    let busy = held.id;
    let idle = 1 - busy;

    pool.drain();
    assert!(
        !manager.is_alive(idle),
        "the idle connection was not closed"
    );
    assert_eq!(manager.live(), 1);
    assert_eq!(pool.stats().pool_available, 0);
    // The pool opens a replacement while the busy one is still out.
    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || pool.stats().pool_available == 1,
    )
    .await;
    assert_eq!(manager.live_ids(), vec![busy, 2]);

    // The busy one is closed when it comes back, not reused.
    drop(held);
    assert!(!manager.is_alive(busy), "a drained connection was kept");
    assert_eq!(manager.live(), 1);
    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || {
            let stats = pool.stats();
            stats.pool_size == 2 && stats.pool_available == 2
        },
    )
    .await;
    assert_eq!(manager.live_ids(), vec![2, 3]);

    // The old ids are never seen again.
    for _ in 0..5 {
        let a = pool.get().await.unwrap();
        let b = pool.get().await.unwrap();
        assert!(a.id >= 2 && b.id >= 2, "{} {}", a.id, b.id);
    }
    assert_eq!(manager.connects_succeeded(), 4);
    let stats = pool.stats();
    assert_eq!(stats.connections_lost, 0, "{stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connect_in_flight_during_drain_is_not_kept() {
    let manager = FakeManager::with_delay(Duration::from_secs(1));
    let t0 = Instant::now();
    let pool = pool(&manager, 1, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(manager.connecting_now(), 1);
    pool.drain();

    // The connect ends at 1 s: its connection is closed at once, not kept
    // for a checkout to find, and another connect begins.
    tokio::time::sleep_until(t0 + Duration::from_millis(1001)).await;
    assert_eq!(manager.connects_succeeded(), 1);
    assert_eq!(
        manager.closed_at(0),
        Some(t0 + Duration::from_secs(1)),
        "a connection opened before the drain was kept"
    );
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 0, "{stats:?}");
    assert_eq!(manager.connecting_now(), 1);

    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 1);
    assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    assert_eq!(manager.connects_succeeded(), 2);
    assert_eq!(manager.live(), 1);
    assert_eq!(pool.stats().pool_size, 1);
}
