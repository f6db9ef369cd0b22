//! A connect error that retrying cannot fix (a wrong password, a missing
//! database: the manager's `is_permanent`) fails the requests waiting at
//! once, while the pool has no connection, instead of letting them wait out
//! their timeout. The pool keeps retrying with its backoff, later requests
//! wait for the next attempt, and transient errors keep the timeout.

mod common;

use std::time::Duration;

use common::{CONNECT_ERROR, FakeManager, PERMANENT_ERROR, timed, wait_for_waiters};
use tidepool_core::Pool;

const TIMEOUT: Duration = Duration::from_secs(30);

fn pool(manager: &FakeManager, min_size: usize, max_size: usize) -> Pool<FakeManager> {
    Pool::builder(manager.clone())
        .name("refused")
        .min_size(min_size)
        .max_size(max_size)
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_fails_a_waiting_checkout_at_once_with_that_error() {
    let manager = FakeManager::new();
    manager.set_fail_permanently(true);
    let pool = pool(&manager, 0, 2);
    let (result, took) = timed(pool.get()).await;
    let error = result.expect_err("no connection can be opened");
    assert!(error.is_connect(), "a connect error, not {error:?}");
    assert!(!error.is_timeout(), "{error}");
    assert!(took < Duration::from_secs(1), "failed after {took:?}");
    assert_eq!(error.waited(), Some(took));
    let cause = error.cause().expect("the connect error is the cause");
    assert_eq!(cause.to_string(), PERMANENT_ERROR);
    let message = error.to_string();
    assert!(message.contains(PERMANENT_ERROR), "{message}");
    assert!(message.contains("keeps retrying"), "{message}");
    let stats = pool.stats();
    assert_eq!(stats.requests_errors, 1, "{stats:?}");
    assert_eq!(stats.requests_timeouts, 0, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn every_request_waiting_when_the_connect_fails_fails_with_it() {
    let manager = FakeManager::new();
    manager.set_fail_permanently(true);
    let pool = pool(&manager, 0, 4);
    let (results, took) = timed(futures_join(&pool, 5)).await;
    assert!(took < Duration::from_secs(1), "failed after {took:?}");
    for result in results {
        let error = result.expect_err("no connection can be opened");
        assert!(error.is_connect(), "{error:?}");
    }
    assert_eq!(pool.stats().requests_waiting, 0);
}

/// `n` checkouts at once, their results in order.
async fn futures_join(
    pool: &Pool<FakeManager>,
    n: usize,
) -> Vec<Result<tidepool_core::Pooled<FakeManager>, tidepool_core::Error>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move { pool.get().await }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("a checkout task"));
    }
    results
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_still_waits_out_the_timeout() {
    let manager = FakeManager::new();
    manager.set_fail_connects(true);
    let pool = pool(&manager, 0, 2);
    let (result, took) = timed(pool.get_timeout(Duration::from_secs(2))).await;
    let error = result.expect_err("no connection can be opened");
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.is_connect(), "{error:?}");
    assert!(took >= Duration::from_secs(2), "gave up after {took:?}");
    assert_eq!(error.cause().unwrap().to_string(), CONNECT_ERROR);
}

#[tokio::test(start_paused = true)]
async fn the_pool_keeps_retrying_and_heals_when_the_error_goes_away() {
    let manager = FakeManager::new();
    manager.set_fail_permanently(true);
    let pool = pool(&manager, 1, 2);
    let error = pool.get().await.expect_err("refused");
    assert!(error.is_connect(), "{error:?}");
    let attempts = manager.connects_started();
    // The password is fixed: a later checkout waits for the next attempt,
    // which the backoff allows soon, and is served.
    manager.set_fail_permanently(false);
    let (conn, took) = timed(pool.get()).await;
    assert!(conn.is_ok(), "the pool must heal: {conn:?}");
    assert!(manager.connects_started() > attempts);
    assert!(took < Duration::from_secs(11), "waited {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_later_request_waits_for_the_next_attempt_and_fails_with_it() {
    let manager = FakeManager::new();
    manager.set_fail_permanently(true);
    let pool = pool(&manager, 0, 2);
    pool.get().await.expect_err("refused");
    let attempts = manager.connects_started();
    let (result, took) = timed(pool.get()).await;
    assert!(result.expect_err("refused again").is_connect());
    assert!(
        manager.connects_started() > attempts,
        "it failed with a new attempt's error, not the old one"
    );
    assert!(took > Duration::ZERO, "it waited for the next attempt");
}

#[tokio::test(start_paused = true)]
async fn wait_fails_at_once_on_a_permanent_error() {
    let manager = FakeManager::new();
    manager.set_fail_permanently(true);
    let pool = pool(&manager, 2, 2);
    let (result, took) = timed(pool.wait()).await;
    let error = result.expect_err("min_size cannot be reached");
    assert!(error.is_connect(), "{error:?}");
    assert!(took < Duration::from_secs(1), "failed after {took:?}");
    assert_eq!(error.cause().unwrap().to_string(), PERMANENT_ERROR);
}

#[tokio::test(start_paused = true)]
async fn with_a_connection_open_waiters_are_served_by_it_not_failed() {
    let manager = FakeManager::new();
    let pool = pool(&manager, 1, 2);
    pool.wait().await.unwrap();
    let held = pool.get().await.unwrap();
    // The password changes: the open connection still serves, so a waiter
    // must not be failed by the new connects' errors.
    manager.set_fail_permanently(true);
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    wait_for_waiters(&pool, 1).await;
    common::wait_until("a connect failed", Duration::from_secs(5), || {
        manager.connects_failed() > 0
    })
    .await;
    drop(held);
    let served = waiter.await.expect("the waiter's task");
    assert!(
        served.is_ok(),
        "the waiter must get the returned connection: {served:?}"
    );
}
