//! `max_idle`: after a burst, connections idle longer than `max_idle` are
//! closed by the background sweep, the longest idle first, down to
//! `min_size` and never below; connections in regular use are kept.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{FakeManager, wait_until};
use tidepool_core::{Pool, Pooled};
use tokio::time::Instant;

const MAX_IDLE: Duration = Duration::from_secs(60);
/// The sweep runs every `MAX_IDLE / 4`.
const SWEEP_PERIOD: Duration = Duration::from_secs(15);

fn pool(manager: &FakeManager, max_idle: Option<Duration>) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .min_size(2)
        .max_size(6)
        .max_connecting(6)
        .max_idle(max_idle)
        // Only max_idle closes connections here.
        .max_lifetime(None)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Grows the pool to 6 with a burst of 6 checkouts, then returns the
/// connections one millisecond apart; gives their ids in return order.
async fn burst(pool: &Pool<FakeManager>) -> Vec<usize> {
    pool.wait().await.unwrap();
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(pool.get().await.unwrap());
    }
    assert_eq!(pool.stats().pool_size, 6);
    let mut order = Vec::new();
    for conn in held {
        order.push(conn.id);
        drop(conn);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(pool.stats().pool_available, 6);
    order
}

#[tokio::test(start_paused = true)]
async fn an_idle_pool_shrinks_back_to_min_size_longest_idle_first() {
    let manager = FakeManager::new();
    let t0 = Instant::now();
    let pool = pool(&manager, Some(MAX_IDLE));
    // Returns at 1.000 .. 1.005 s: every connection is past max_idle at the
    // same sweep (the one at 75 s), so the sweep must choose which to close.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let order = burst(&pool).await;
    let returned = t0 + Duration::from_secs(1);

    // Nothing closes before max_idle.
    tokio::time::sleep_until(returned + MAX_IDLE - Duration::from_millis(1)).await;
    assert_eq!(manager.live(), 6, "closed before max_idle");
    assert_eq!(pool.stats().pool_size, 6);

    wait_until(
        "the pool shrinks to min_size",
        SWEEP_PERIOD + Duration::from_secs(1),
        || pool.stats().pool_size == 2,
    )
    .await;
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 2, "{stats:?}");
    assert_eq!(manager.live(), 2);
    // The 4 returned first (idle longest) were closed; the 2 returned last
    // are kept.
    let kept: BTreeSet<usize> = order[4..].iter().copied().collect();
    assert_eq!(
        manager.live_ids().into_iter().collect::<BTreeSet<_>>(),
        kept,
        "returned in the order {order:?}"
    );
    for id in &order[..4] {
        let closed = manager.closed_at(*id).unwrap() - returned;
        assert!(
            closed >= MAX_IDLE && closed <= MAX_IDLE + SWEEP_PERIOD,
            "connection {id} closed {closed:?} after its return"
        );
    }
    // Closing idle connections is not a fault.
    assert_eq!(stats.connections_lost, 0, "{stats:?}");

    // Never below min_size, however long the pool stays idle.
    tokio::time::sleep(Duration::from_secs(60 * 60)).await;
    assert_eq!(
        manager.live_ids().into_iter().collect::<BTreeSet<_>>(),
        kept
    );
    assert_eq!(pool.stats().pool_size, 2);
    assert_eq!(manager.connects_started(), 6, "reopened below min_size");
}

#[tokio::test(start_paused = true)]
async fn connections_in_regular_use_are_kept() {
    let manager = FakeManager::new();
    let pool = pool(&manager, Some(MAX_IDLE));
    let order = burst(&pool).await;
    // The stack is LIFO: rounds of 3 checkouts use the 3 returned last.
    let used: BTreeSet<usize> = order[3..].iter().copied().collect();

    // Every 20 s for 5 minutes, 3 connections are used for a second.
    for round in 0..15 {
        tokio::time::sleep(Duration::from_secs(19)).await;
        let held = [
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
            pool.get().await.unwrap(),
        ];
        let ids: BTreeSet<usize> = held.iter().map(|c| c.id).collect();
        assert_eq!(ids, used, "round {round}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
    }
    // The 3 unused connections were closed, the 3 used ones kept.
    assert_eq!(
        manager.live_ids().into_iter().collect::<BTreeSet<_>>(),
        used
    );
    assert_eq!(pool.stats().pool_size, 3);
    assert_eq!(manager.connects_started(), 6);
}

#[tokio::test(start_paused = true)]
async fn without_max_idle_idle_connections_are_kept() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(6)
        .max_idle(None)
        // The default max_lifetime (1 h) keeps the sweep running (every 30 s).
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let order = burst(&pool).await;
    tokio::time::sleep(Duration::from_secs(50 * 60)).await;
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 6, "{stats:?}");
    assert_eq!(stats.pool_available, 6, "{stats:?}");
    assert_eq!(
        manager.live_ids().into_iter().collect::<BTreeSet<_>>(),
        order.iter().copied().collect::<BTreeSet<_>>()
    );
    let conn = pool.get().await.unwrap();
    assert!(Pooled::age(&conn) >= Duration::from_secs(50 * 60));
}
