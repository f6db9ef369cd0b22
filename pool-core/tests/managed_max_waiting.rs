//! `max_waiting`: load shedding. Beyond `max_waiting` queued requests a
//! checkout fails at once; served or cancelled requests free their place.

mod common;

use std::time::Duration;

use common::{FakeManager, settle, timed, wait_for_waiters};
use tidepool_core::{Error, Pool, Pooled};
use tokio::task::JoinHandle;

async fn pool_of_one() -> Pool<FakeManager> {
    let pool = Pool::builder(FakeManager::new())
        .min_size(1)
        .max_size(1)
        .max_waiting(2)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    pool.wait().await.unwrap();
    pool
}

/// A request that holds its connection for 10 ms once served.
fn waiter(pool: &Pool<FakeManager>) -> JoinHandle<Result<usize, Error>> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let conn = pool.get().await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(conn.id)
    })
}

fn rejected(result: Result<Pooled<FakeManager>, Error>) -> Error {
    match result {
        Ok(_) => panic!("the request was accepted"),
        Err(error) => error,
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_beyond_max_waiting_fails_at_once() {
    let pool = pool_of_one().await;
    let held = pool.get().await.unwrap();
    let first = waiter(&pool);
    wait_for_waiters(&pool, 1).await;
    let second = waiter(&pool);
    wait_for_waiters(&pool, 2).await;

    let (result, took) = timed(pool.get()).await;
    let error = rejected(result);
    assert!(error.is_too_many_requests(), "{error}");
    assert!(!error.is_timeout());
    assert_eq!(took, Duration::ZERO, "the rejection took time");
    let message = error.to_string();
    assert!(message.contains("2 already waiting"), "{message}");
    assert!(message.contains("max_waiting is 2"), "{message}");
    let stats = pool.stats();
    assert_eq!(
        stats.requests_waiting, 2,
        "the rejected request is not counted"
    );
    assert_eq!(stats.requests_errors, 1);

    // Serve the first waiter: its place frees, and a new request is queued
    // instead of rejected.
    drop(held);
    wait_for_waiters(&pool, 1).await;
    let third = waiter(&pool);
    wait_for_waiters(&pool, 2).await;
    assert!(rejected(pool.get().await).is_too_many_requests());

    for task in [first, second, third] {
        assert_eq!(task.await.unwrap().unwrap(), 0);
    }
    assert_eq!(pool.stats().requests_waiting, 0);
    // Everyone is served: requests are accepted again.
    let conn = pool.get().await.unwrap();
    drop(conn);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_frees_its_place() {
    let pool = pool_of_one().await;
    let held = pool.get().await.unwrap();
    let first = waiter(&pool);
    wait_for_waiters(&pool, 1).await;
    let second = waiter(&pool);
    wait_for_waiters(&pool, 2).await;

    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    wait_for_waiters(&pool, 1).await;

    // A request given up by timing out also frees its place.
    let (result, _) = timed(pool.get_timeout(Duration::from_millis(100))).await;
    assert!(rejected(result).is_timeout());
    settle().await;
    assert_eq!(pool.stats().requests_waiting, 1);

    let third = waiter(&pool);
    wait_for_waiters(&pool, 2).await;
    drop(held);
    assert_eq!(second.await.unwrap().unwrap(), 0);
    assert_eq!(third.await.unwrap().unwrap(), 0);
    assert_eq!(pool.stats().requests_waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn max_waiting_zero_means_no_limit() {
    let pool = common::ready_pool(FakeManager::new(), 1, 1, Duration::from_secs(60)).await;
    let held = pool.get().await.unwrap();
    let waiters: Vec<_> = (0..100).map(|_| waiter(&pool)).collect();
    wait_for_waiters(&pool, 100).await;
    drop(held);
    for task in waiters {
        task.await.unwrap().unwrap();
    }
}
