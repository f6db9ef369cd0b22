//! Configuration: impossible settings and a missing runtime are errors with
//! a clear message, never panics.

mod common;

use std::time::Duration;

use common::FakeManager;
use tidepool_core::{Builder, MAX_SIZE_LIMIT, Pool, PoolConfig};

fn builder() -> Builder<FakeManager> {
    Pool::builder(FakeManager::new())
}

#[track_caller]
fn rejected(builder: Builder<FakeManager>, expected: &[&str]) {
    let error = match builder.build() {
        Ok(_) => panic!("the settings were accepted"),
        Err(error) => error,
    };
    assert!(error.is_config(), "{error}");
    assert!(!error.is_timeout() && !error.is_closed());
    let message = error.to_string();
    assert!(
        message.starts_with("invalid pool configuration"),
        "{message}"
    );
    for part in expected {
        assert!(
            message.contains(part),
            "{message:?} does not mention {part:?}"
        );
    }
}

#[tokio::test]
async fn impossible_settings_are_rejected() {
    rejected(builder().max_size(0), &["max_size is 0"]);
    rejected(
        builder().min_size(5).max_size(3),
        &["min_size (5) is larger than max_size (3)"],
    );
    rejected(builder().max_size(MAX_SIZE_LIMIT + 1), &["above the limit"]);
    rejected(builder().max_connecting(0), &["max_connecting is 0"]);
    rejected(builder().timeout(Duration::ZERO), &["timeout is 0"]);
    rejected(
        builder().connect_timeout(Duration::ZERO),
        &["connect_timeout is 0"],
    );
    rejected(
        builder().reset_timeout(Duration::ZERO),
        &["reset_timeout is 0"],
    );
    let mut config = PoolConfig::default();
    config.max_size = 0;
    rejected(builder().config(config), &["max_size is 0"]);
}

#[tokio::test]
async fn limits_are_accepted() {
    let manager = FakeManager::new();
    let pool = Pool::builder(manager.clone())
        .name("edge")
        .min_size(1)
        .max_size(1)
        .max_connecting(1)
        .build()
        .unwrap();
    assert_eq!(pool.name(), "edge");
    assert_eq!(pool.config().max_size, 1);
    pool.wait().await.unwrap();
    let pool = Pool::builder(FakeManager::new())
        .min_size(0)
        .max_size(MAX_SIZE_LIMIT)
        .build()
        .unwrap();
    assert_eq!(pool.stats().pool_max, MAX_SIZE_LIMIT);
}

#[test]
fn building_outside_a_runtime_is_an_error() {
    let error = Pool::builder(FakeManager::new()).build().unwrap_err();
    assert!(error.is_config(), "{error}");
    assert!(error.to_string().contains("tokio runtime"), "{error}");
}

#[tokio::test]
async fn observability_knobs_have_their_defaults_and_reject_zero() {
    let config = PoolConfig::default();
    assert_eq!(config.slow_checkout_warning, Some(Duration::from_secs(1)));
    assert_eq!(config.leak_detection_threshold, None);
    rejected(
        builder().slow_checkout_warning(Some(Duration::ZERO)),
        &["slow_checkout_warning is 0"],
    );
    rejected(
        builder().leak_detection_threshold(Some(Duration::ZERO)),
        &["leak_detection_threshold is 0"],
    );
    let pool = builder()
        .slow_checkout_warning(None)
        .leak_detection_threshold(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    assert_eq!(pool.config().slow_checkout_warning, None);
    assert_eq!(
        pool.config().leak_detection_threshold,
        Some(Duration::from_secs(60))
    );
}
