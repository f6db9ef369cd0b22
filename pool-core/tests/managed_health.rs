//! Health checks at checkout: `Always` tests every checkout, `Never` none,
//! `IdleLongerThan` only connections idle past the threshold; a failed or
//! hanging check closes the connection and the checkout goes on, within
//! its own deadline.

mod common;

use std::time::Duration;

use common::{CheckOutcome, FakeManager, timed, wait_until};
use tidepool_core::{HealthCheck, Pool};

const SLACK: Duration = Duration::from_millis(50);

fn pool(
    manager: &FakeManager,
    min_size: usize,
    policy: HealthCheck,
    timeout: Duration,
) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .min_size(min_size)
        .max_size(min_size.max(1))
        .health_check(policy)
        .health_check_timeout(Duration::from_secs(2))
        .max_lifetime(None)
        .max_idle(None)
        .timeout(timeout)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn always_checks_at_every_checkout() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1, HealthCheck::Always, Duration::from_secs(5));
    pool.wait().await.unwrap();
    for i in 0..10 {
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 0);
        assert_eq!(manager.checks(), i + 1, "checkout {i} was not checked");
        drop(conn);
    }
    assert_eq!(manager.checked_ids(), vec![0; 10]);
    assert_eq!(pool.stats().requests_num, 10);
}

#[tokio::test(start_paused = true)]
async fn never_never_checks() {
    let manager = FakeManager::new();
    // A check would close the connection.
    manager.set_check_outcome(CheckOutcome::Error);
    let pool = pool(&manager, 1, HealthCheck::Never, Duration::from_secs(5));
    pool.wait().await.unwrap();
    for _ in 0..5 {
        let conn = pool.get().await.unwrap();
        assert_eq!(conn.id, 0);
        drop(conn);
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    assert_eq!(manager.checks(), 0);
    assert_eq!(pool.stats().connections_lost, 0);
    assert_eq!(manager.connects_started(), 1);
}

#[tokio::test(start_paused = true)]
async fn by_default_only_connections_idle_longer_than_1_s_are_checked() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(1)
        .build()
        .unwrap();
    assert_eq!(
        pool.config().health_check,
        HealthCheck::IdleLongerThan(Duration::from_secs(1))
    );
    pool.wait().await.unwrap();

    // Just opened, then reused within 1 s: not checked.
    drop(pool.get().await.unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(pool.get().await.unwrap());
    tokio::time::sleep(Duration::from_millis(900)).await;
    drop(pool.get().await.unwrap());
    assert_eq!(
        manager.checks(),
        0,
        "a recently used connection was checked"
    );

    // Idle 2 s: checked.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let conn = pool.get().await.unwrap();
    assert_eq!(manager.checked_ids(), vec![0]);
    // Held for a long time, then reused at once: the idle time counts from
    // the return, so no check.
    tokio::time::sleep(Duration::from_secs(30)).await;
    drop(conn);
    drop(pool.get().await.unwrap());
    assert_eq!(manager.checks(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_failing_its_check_is_closed_and_the_checkout_goes_on() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    let pool = pool(&manager, 1, HealthCheck::Always, Duration::from_secs(5));
    pool.wait().await.unwrap();
    manager.set_check_outcome_for(0, CheckOutcome::Error);

    let (conn, took) = timed(pool.get()).await;
    let conn = conn.unwrap();
    assert_eq!(
        conn.id, 1,
        "a connection that failed its check was handed out"
    );
    // The time to open a replacement, no more.
    assert!(took < Duration::from_millis(10) + SLACK, "{took:?}");
    assert_eq!(manager.checked_ids(), vec![0, 1]);
    assert!(!manager.is_alive(0), "the failed connection was not closed");
    assert_eq!(manager.live(), 1);
    let stats = pool.stats();
    assert_eq!(stats.connections_lost, 1, "{stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
    assert_eq!(stats.pool_size, 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_is_abandoned_at_health_check_timeout() {
    let manager = FakeManager::new();
    // health_check_timeout is 2 s.
    let pool = pool(&manager, 1, HealthCheck::Always, Duration::from_secs(10));
    pool.wait().await.unwrap();
    manager.set_check_outcome_for(0, CheckOutcome::Hang);

    let (conn, took) = timed(pool.get()).await;
    let conn = conn.unwrap();
    assert_eq!(conn.id, 1);
    assert!(took >= Duration::from_secs(2), "abandoned early: {took:?}");
    assert!(
        took < Duration::from_secs(2) + SLACK,
        "abandoned late: {took:?}"
    );
    assert!(
        !manager.is_alive(0),
        "the hanging connection was not closed"
    );
    assert_eq!(pool.stats().connections_lost, 1);
    assert_eq!(manager.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_ends_at_the_checkout_deadline() {
    let manager = FakeManager::new();
    // The checkout's 1 s comes before health_check_timeout's 2 s.
    let pool = pool(&manager, 1, HealthCheck::Always, Duration::from_secs(1));
    pool.wait().await.unwrap();
    manager.set_check_outcome_for(0, CheckOutcome::Hang);

    let (result, took) = timed(pool.get()).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(took >= Duration::from_secs(1), "timed out early: {took:?}");
    assert!(
        took < Duration::from_secs(1) + SLACK,
        "timed out late: {took:?}"
    );
    // The check was cut short by the checkout's own deadline, which says
    // nothing against the connection: it is kept.
    assert!(manager.is_alive(0));
    assert_eq!(pool.stats().connections_lost, 0);

    // Once its checks pass again, the next checkout gets it.
    manager.set_check_outcome_for(0, CheckOutcome::Ok);
    wait_until(
        "the connection is back in the pool",
        Duration::from_secs(5),
        || pool.stats().pool_available == 1,
    )
    .await;
    assert_eq!(pool.get().await.unwrap().id, 0);
}

#[tokio::test(start_paused = true)]
async fn when_every_check_hangs_the_checkout_times_out_at_its_deadline() {
    let manager = FakeManager::new();
    manager.set_check_outcome(CheckOutcome::Hang);
    // Checks are abandoned at 2 s and 4 s (health_check_timeout: those
    // connections are lost); the third is cut short at the deadline (5 s)
    // and its connection kept.
    let pool = pool(&manager, 1, HealthCheck::Always, Duration::from_secs(5));
    pool.wait().await.unwrap();

    let (result, took) = timed(pool.get()).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(took >= Duration::from_secs(5), "timed out early: {took:?}");
    assert!(
        took < Duration::from_secs(5) + SLACK,
        "timed out late: {took:?}"
    );
    assert_eq!(manager.checked_ids(), vec![0, 1, 2]);
    assert_eq!(pool.stats().connections_lost, 2);
    assert!(manager.is_alive(2));
}

/// A checkout whose deadline comes during a check returns its timeout: it
/// neither closes the connection being checked nor takes the others.
#[tokio::test(start_paused = true)]
async fn a_checkout_timing_out_during_a_check_spares_the_other_idle_connections() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .min_size(3)
        .max_size(3)
        .health_check(HealthCheck::Always)
        .health_check_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    // The server is slow: every check takes longer than the checkout may.
    manager.set_check_outcome(CheckOutcome::Hang);

    let (result, took) = timed(pool.get()).await;
    assert!(result.unwrap_err().is_timeout());
    assert!(took < Duration::from_secs(1) + SLACK, "{took:?}");
    // One check was started; it was cut short by the checkout's own
    // deadline, which says nothing against the connection: none is lost.
    let lost = pool.stats().connections_lost;
    assert!(
        manager.checks() == 1 && lost == 0,
        "one timed-out checkout checked connections {:?} and closed {lost}",
        manager.checked_ids()
    );
    assert_eq!(manager.live(), 3);
}
