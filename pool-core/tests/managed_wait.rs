//! `Pool::wait`: waits for `min_size` connections, and explains a timeout
//! with the last connection error.

mod common;

use std::time::Duration;

use common::{CONNECT_ERROR, FakeManager, timed};
use tidepool_core::Pool;

#[tokio::test(start_paused = true)]
async fn wait_returns_once_min_size_connections_are_open() {
    let manager = FakeManager::with_delay(Duration::from_millis(200));
    let pool = Pool::builder(manager.clone()).min_size(2).build().unwrap();
    let (result, took) = timed(pool.wait()).await;
    result.unwrap();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert_eq!(manager.connects_succeeded(), 2);
    assert!(pool.stats().pool_available >= 2);
}

#[tokio::test(start_paused = true)]
async fn wait_times_out_with_the_last_connection_error() {
    let manager = FakeManager::with_delay(Duration::from_millis(10));
    manager.set_fail_connects(true);
    let pool = Pool::builder(manager.clone())
        .min_size(2)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let error = pool.wait().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(!error.is_closed() && !error.is_config() && !error.is_too_many_requests());
    let message = error.to_string();
    assert!(message.contains(CONNECT_ERROR), "{message}");
    assert!(message.contains("min_size"), "{message}");
    assert!(message.contains("only 0 of min_size 2"), "{message}");
    let cause = error.cause().expect("the connection error as cause");
    assert_eq!(cause.to_string(), CONNECT_ERROR);
    let source = std::error::Error::source(&error).expect("a source");
    assert_eq!(source.to_string(), CONNECT_ERROR);
    assert!(manager.connects_failed() >= 1);
}

#[tokio::test(start_paused = true)]
async fn wait_timeout_overrides_the_pool_timeout() {
    let manager = FakeManager::with_delay(Duration::from_secs(10));
    let pool = Pool::builder(manager).min_size(1).build().unwrap();
    let (result, took) = timed(pool.wait_timeout(Duration::from_millis(300))).await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(error.cause().is_none(), "no connect failed: {error}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(350), "{took:?}");
}
