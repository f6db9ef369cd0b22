//! `Pool::close_timeout`: closes the pool as `close` does, then waits at most
//! the given time for the connections in use to come back; a timeout error
//! says how many were still out.

mod common;

use std::time::Duration;

use common::{FakeManager, timed, wait_for_waiters};
use tidepool_core::Pool;
use tokio::time::Instant;

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const SLACK: Duration = Duration::from_millis(50);

async fn pool(manager: &FakeManager) -> Pool<FakeManager> {
    common::ready_pool(manager.clone(), 3, 3, Duration::from_secs(60)).await
}

#[tokio::test(start_paused = true)]
async fn returns_at_once_when_no_connection_is_in_use() {
    let manager = FakeManager::new();
    let pool = pool(&manager).await;
    let (result, took) = timed(pool.close_timeout(CLOSE_TIMEOUT)).await;
    result.unwrap();
    assert!(took < SLACK, "{took:?}");
    assert!(pool.is_closed());
    assert_eq!(manager.live(), 0);
    assert_eq!(pool.stats().pool_size, 0);
}

#[tokio::test(start_paused = true)]
async fn times_out_when_a_connection_stays_in_use() {
    let manager = FakeManager::new();
    let pool = pool(&manager).await;
    let held = pool.get().await.unwrap();

    let (result, took) = timed(pool.close_timeout(CLOSE_TIMEOUT)).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(!error.is_closed(), "{error}");
    assert!(took >= CLOSE_TIMEOUT, "gave up early: {took:?}");
    assert!(took < CLOSE_TIMEOUT + SLACK, "gave up late: {took:?}");
    let waited = error.waited().expect("a timeout says how long it waited");
    assert!(waited >= CLOSE_TIMEOUT && waited < CLOSE_TIMEOUT + SLACK);
    let message = error.to_string();
    assert!(
        message.contains("1 connection") && message.contains("still in use"),
        "{message}"
    );
    assert!(message.contains("after 5 s"), "{message}");
    // The idle ones closed at once; the held one closes when it is returned.
    assert_eq!(manager.live(), 1);
    drop(held);
    assert_eq!(manager.live(), 0);
    assert_eq!(pool.stats().pool_size, 0);
}

#[tokio::test(start_paused = true)]
async fn returns_when_the_last_connection_comes_back() {
    let manager = FakeManager::new();
    let pool = pool(&manager).await;
    let held = pool.get().await.unwrap();
    let user = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
    });

    let (result, took) = timed(pool.close_timeout(CLOSE_TIMEOUT)).await;
    result.unwrap();
    assert!(took >= Duration::from_secs(1), "returned early: {took:?}");
    assert!(
        took < Duration::from_secs(1) + SLACK,
        "returned late: {took:?}"
    );
    assert_eq!(manager.live(), 0);
    user.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn waits_for_a_connect_in_flight_and_does_not_keep_its_connection() {
    let manager = FakeManager::with_delay(Duration::from_secs(2));
    let pool = Pool::builder(manager.clone())
        .min_size(1)
        .max_size(1)
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(manager.connecting_now(), 1);

    let (result, took) = timed(pool.close_timeout(CLOSE_TIMEOUT)).await;
    result.unwrap();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(1500) + SLACK,
        "{took:?}"
    );
    assert_eq!(manager.connects_succeeded(), 1);
    assert_eq!(
        manager.live(),
        0,
        "a connection opened during close was kept"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_requests_fail_at_once_with_a_closed_error() {
    let manager = FakeManager::new();
    let pool = common::ready_pool(manager.clone(), 1, 1, Duration::from_secs(60)).await;
    let held = pool.get().await.unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let result = pool.get().await.map(|c| c.id);
                (result, Instant::now())
            })
        })
        .collect();
    wait_for_waiters(&pool, 3).await;

    let started = Instant::now();
    let closing = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close_timeout(CLOSE_TIMEOUT).await })
    };
    for waiter in waiters {
        let (result, failed_at) = waiter.await.unwrap();
        let error = result.unwrap_err();
        assert!(error.is_closed(), "{error}");
        assert!(
            failed_at - started < SLACK,
            "failed after {:?}",
            failed_at - started
        );
    }
    assert_eq!(pool.stats().requests_waiting, 0);
    assert!(pool.get().await.unwrap_err().is_closed());

    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(held);
    closing.await.unwrap().unwrap();
    let took = Instant::now() - started;
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(1) + SLACK,
        "{took:?}"
    );
    assert_eq!(manager.live(), 0);
}
