//! `max_lifetime`: a connection past its (jittered) lifetime is never handed
//! out, is closed when it is returned, and is closed by the background sweep
//! while idle; the pool replaces it to keep `min_size`.

mod common;

use std::time::Duration;

use common::{FakeManager, wait_until};
use tidepool_core::{Pool, Pooled};
use tokio::time::Instant;

const LIFETIME: Duration = Duration::from_secs(60);
/// Lifetimes are shortened by up to 5 % at random.
const SHORTEST_LIFETIME: Duration = Duration::from_secs(57);

fn pool(manager: &FakeManager, min_size: usize, max_size: usize) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .min_size(min_size)
        .max_size(max_size)
        .max_lifetime(Some(LIFETIME))
        // Only the lifetime closes connections here.
        .max_idle(None)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_expired_connection_is_not_handed_out() {
    let manager = FakeManager::new();
    let t0 = Instant::now();
    let pool = pool(&manager, 0, 1);
    // The sweep runs every LIFETIME / 4 = 15 s from the start (15, 30, ...,
    // 60, 75 s). The connection is opened at 10 s and expires between 67 and
    // 70 s, so a checkout at 71 s comes before any sweep could close it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 0);
    drop(conn);

    // Not expired yet: the same connection again.
    tokio::time::sleep_until(t0 + Duration::from_secs(66)).await;
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 0, "a connection was replaced before its lifetime");
    drop(conn);

    tokio::time::sleep_until(t0 + Duration::from_secs(71)).await;
    assert!(
        manager.is_alive(0) && pool.stats().pool_available == 1,
        "precondition: the sweep closed the connection before the checkout could \
         (the test expects sweeps at 60 and 75 s only)"
    );
    let conn = pool.get().await.unwrap();
    assert_ne!(conn.id, 0, "an expired connection was handed out");
    assert!(Pooled::age(&conn) < Duration::from_secs(1));
    assert_eq!(
        manager.closed_at(0),
        Some(t0 + Duration::from_secs(71)),
        "the expired connection was not closed by the checkout"
    );
    assert_eq!(manager.live(), 1);
    assert_eq!(manager.live_ids(), vec![conn.id]);
    let stats = pool.stats();
    assert_eq!(stats.pool_size, 1, "{stats:?}");
    // Expiry is not a fault.
    assert_eq!(stats.connections_lost, 0, "{stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connection_returned_after_its_lifetime_is_closed_and_replaced() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = pool(&manager, 1, 1);
    pool.wait().await.unwrap();

    // Returned before its lifetime: kept.
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 0);
    tokio::time::sleep(Duration::from_secs(50)).await;
    drop(conn);
    assert_eq!(manager.live(), 1);
    assert_eq!(pool.stats().pool_available, 1);

    // Returned after its lifetime: closed at once. The sweeps that ran while
    // it was in use could not see it.
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 0);
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert!(Pooled::age(&conn) > LIFETIME);
    assert_eq!(manager.live(), 1);
    drop(conn);
    assert_eq!(
        manager.live(),
        0,
        "an expired connection was kept at return"
    );
    assert!(!manager.is_alive(0));
    let stats = pool.stats();
    assert_eq!(stats.pool_available, 0, "{stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");

    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || pool.stats().pool_available == 1,
    )
    .await;
    assert_eq!(manager.live_ids(), vec![1]);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.id, 1);
    assert_eq!(pool.stats().pool_size, 1);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_past_their_lifetime_are_swept_without_any_checkout() {
    let manager = FakeManager::new();
    let t0 = Instant::now();
    let pool = pool(&manager, 2, 2);
    pool.wait().await.unwrap();
    assert_eq!(manager.live_ids(), vec![0, 1]);

    // No lifetime ends before 95 % of max_lifetime.
    tokio::time::sleep_until(t0 + SHORTEST_LIFETIME - Duration::from_millis(1)).await;
    assert_eq!(
        manager.live_ids(),
        vec![0, 1],
        "closed before their lifetime"
    );

    // The sweep (every 15 s) closes them by the first sweep after 60 s.
    wait_until(
        "the sweep replaces both connections",
        Duration::from_secs(20),
        || {
            let stats = pool.stats();
            !manager.is_alive(0)
                && !manager.is_alive(1)
                && stats.pool_size == 2
                && stats.pool_available == 2
        },
    )
    .await;
    for id in [0, 1] {
        let closed = manager.closed_at(id).unwrap() - t0;
        assert!(
            closed >= SHORTEST_LIFETIME && closed <= LIFETIME + Duration::from_secs(15),
            "connection {id} closed after {closed:?}"
        );
    }
    assert_eq!(manager.live_ids(), vec![2, 3]);
    let stats = pool.stats();
    assert_eq!(stats.requests_num, 0, "a checkout was made: {stats:?}");
    assert_eq!(stats.connections_lost, 0, "{stats:?}");
    assert_eq!(manager.connects_succeeded(), 4);
}

#[tokio::test(start_paused = true)]
async fn lifetimes_are_jittered_between_95_and_100_percent() {
    const N: usize = 20;
    let lifetime = Duration::from_secs(100);
    let manager = FakeManager::new();
    let t0 = Instant::now();
    let pool = Pool::builder(manager.clone())
        .min_size(N)
        .max_size(N)
        .max_connecting(N)
        .max_lifetime(Some(lifetime))
        // Never closes anything (the pool stays at min_size), but makes the
        // sweep run every 100 ms, so that close times show expiry times.
        .max_idle(Some(Duration::from_millis(400)))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    assert_eq!(
        Instant::now(),
        t0,
        "the {N} connections were not opened at once"
    );
    assert_eq!(manager.live_ids(), (0..N).collect::<Vec<_>>());

    tokio::time::sleep_until(t0 + lifetime.mul_f64(0.95) - Duration::from_millis(1)).await;
    assert_eq!(manager.live(), N, "a connection closed before 95 s");
    assert_eq!(manager.connects_started(), N);

    wait_until(
        "every original connection has expired",
        Duration::from_secs(10),
        || (0..N).all(|id| !manager.is_alive(id)),
    )
    .await;
    let closed: Vec<Duration> = (0..N)
        .map(|id| manager.closed_at(id).unwrap() - t0)
        .collect();
    let sweep_period = Duration::from_millis(100);
    for (id, at) in closed.iter().enumerate() {
        assert!(
            *at >= lifetime.mul_f64(0.95) && *at <= lifetime + sweep_period,
            "connection {id} closed after {at:?}: {closed:?}"
        );
    }
    let first = closed.iter().min().unwrap();
    let last = closed.iter().max().unwrap();
    let mut distinct = closed.clone();
    distinct.sort();
    distinct.dedup();
    // 20 lifetimes drawn from 95..100 s: all within one second of each
    // other has a chance of about 1e-12.
    assert!(
        distinct.len() > 1 && *last - *first >= Duration::from_secs(1),
        "lifetimes are not spread: {closed:?}"
    );

    wait_until(
        "the pool refills to min_size",
        Duration::from_secs(5),
        || pool.stats().pool_available == N,
    )
    .await;
    assert_eq!(manager.live(), N);
}

#[tokio::test(start_paused = true)]
async fn without_max_lifetime_connections_live_for_hours() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .max_size(2)
        .max_lifetime(None)
        // The default max_idle keeps the sweep running (every 30 s).
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    let hours = Duration::from_secs(5 * 60 * 60);
    tokio::time::sleep(hours).await;
    assert_eq!(manager.live_ids(), vec![0, 1]);
    assert_eq!(manager.connects_started(), 2);
    let conn = pool.get().await.unwrap();
    assert!(conn.id < 2);
    assert!(Pooled::age(&conn) >= hours);
}
