//! Checkout timeouts: the whole checkout is bounded by the pool's `timeout`,
//! and the error says how busy the pool was.

mod common;

use std::time::Duration;

use common::{FakeManager, timed, wait_for_waiters};
use tidepool_core::Pool;

const TIMEOUT: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_millis(50);

/// A pool of 2 connections, both checked out, and one other request waiting
/// (for much longer than `TIMEOUT`).
async fn exhausted_pool() -> (
    Pool<FakeManager>,
    Vec<tidepool_core::Pooled<FakeManager>>,
    tokio::task::JoinHandle<()>,
) {
    let pool = common::ready_pool(FakeManager::new(), 2, 2, TIMEOUT).await;
    let held = vec![pool.get().await.unwrap(), pool.get().await.unwrap()];
    let other = pool.clone();
    let waiter = tokio::spawn(async move {
        let _ = other.get_timeout(Duration::from_secs(3600)).await;
    });
    wait_for_waiters(&pool, 1).await;
    (pool, held, waiter)
}

#[tokio::test(start_paused = true)]
async fn checkout_times_out_at_the_deadline_and_says_why() {
    let (pool, held, waiter) = exhausted_pool().await;
    let (result, took) = timed(pool.get()).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(took >= TIMEOUT, "timed out early, after {took:?}");
    assert!(took < TIMEOUT + SLACK, "timed out late, after {took:?}");
    let message = error.to_string();
    assert!(message.contains("2 of 2 connections in use"), "{message}");
    assert!(message.contains("1 other requests waiting"), "{message}");
    assert!(error.cause().is_none(), "no connect failed: {error}");
    // The held connections and the other waiter are unaffected.
    assert_eq!(pool.stats().requests_waiting, 1);
    assert_eq!(pool.stats().requests_errors, 1);
    drop(held);
    waiter.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn timeout_error_reports_the_time_waited() {
    let (pool, _held, _waiter) = exhausted_pool().await;
    let error = pool.get().await.unwrap_err();
    let waited = error.waited().expect("a timeout says how long it waited");
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT + SLACK,
        "waited() is {waited:?}, expected about {TIMEOUT:?}"
    );
    assert!(error.to_string().contains("within 1 s"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn checkout_deadline_counts_from_the_request() {
    let (pool, _held, _waiter) = exhausted_pool().await;
    // The application has been running for a while (tokio's clock).
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (result, took) = timed(pool.get()).await;
    assert!(result.unwrap_err().is_timeout());
    assert!(took >= TIMEOUT, "timed out early, after {took:?}");
    assert!(took < TIMEOUT + SLACK, "timed out late, after {took:?}");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_opening_a_connection() {
    let manager = FakeManager::with_delay(Duration::from_secs(10));
    let pool = Pool::builder(manager.clone())
        .min_size(0)
        .max_size(2)
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let (result, took) = timed(pool.get()).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(took >= TIMEOUT, "timed out early, after {took:?}");
    assert!(took < TIMEOUT + SLACK, "waited for the connect: {took:?}");
    let message = error.to_string();
    assert!(message.contains("0 of 2 connections in use"), "{message}");
    assert!(message.contains("0 other requests waiting"), "{message}");
    // The connect went on in the background and its connection is kept.
    assert_eq!(manager.connects_started(), 1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(pool.stats().pool_available, 1);
}

#[tokio::test(start_paused = true)]
async fn get_timeout_overrides_the_pool_timeout() {
    let (pool, _held, _waiter) = exhausted_pool().await;
    let short = Duration::from_millis(200);
    let (result, took) = timed(pool.get_timeout(short)).await;
    assert!(result.unwrap_err().is_timeout());
    assert!(took >= short && took < short + SLACK, "{took:?}");
}
