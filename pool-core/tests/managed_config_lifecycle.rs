//! Configuration of the lifecycle settings: zero durations (and a zero
//! health check threshold) are configuration errors naming the field;
//! `None` and small positive values are accepted.

mod common;

use std::time::Duration;

use common::FakeManager;
use tidepool_core::{Builder, HealthCheck, Pool, PoolConfig};

fn builder() -> Builder<FakeManager> {
    Pool::builder(FakeManager::new())
}

#[track_caller]
fn rejected(builder: Builder<FakeManager>, expected: &str) {
    let error = match builder.build() {
        Ok(_) => panic!("the settings were accepted (expected {expected:?})"),
        Err(error) => error,
    };
    assert!(error.is_config(), "{error}");
    assert!(!error.is_timeout() && !error.is_closed(), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with("invalid pool configuration"),
        "{message}"
    );
    assert!(
        message.contains(expected),
        "{message:?} does not mention {expected:?}"
    );
}

#[tokio::test]
async fn zero_lifecycle_settings_are_rejected() {
    rejected(
        builder().max_lifetime(Some(Duration::ZERO)),
        "max_lifetime is 0",
    );
    rejected(builder().max_idle(Some(Duration::ZERO)), "max_idle is 0");
    rejected(
        builder().health_check_timeout(Duration::ZERO),
        "health_check_timeout is 0",
    );
    rejected(
        builder().reconnect_timeout(Duration::ZERO),
        "reconnect_timeout is 0",
    );
    rejected(
        builder().health_check(HealthCheck::IdleLongerThan(Duration::ZERO)),
        "health_check is IdleLongerThan(0)",
    );
}

#[tokio::test]
async fn zero_lifecycle_settings_are_rejected_from_a_config_too() {
    let mut config = PoolConfig::default();
    config.max_lifetime = Some(Duration::ZERO);
    rejected(builder().config(config), "max_lifetime is 0");
    let mut config = PoolConfig::default();
    config.max_idle = Some(Duration::ZERO);
    rejected(builder().config(config), "max_idle is 0");
    let mut config = PoolConfig::default();
    config.health_check_timeout = Duration::ZERO;
    rejected(builder().config(config), "health_check_timeout is 0");
    let mut config = PoolConfig::default();
    config.reconnect_timeout = Duration::ZERO;
    rejected(builder().config(config), "reconnect_timeout is 0");
    let mut config = PoolConfig::default();
    config.health_check = HealthCheck::IdleLongerThan(Duration::ZERO);
    rejected(
        builder().config(config),
        "health_check is IdleLongerThan(0)",
    );
}

#[tokio::test]
async fn none_and_small_values_are_accepted() {
    let pool = builder()
        .max_lifetime(None)
        .max_idle(None)
        .health_check(HealthCheck::Never)
        .build()
        .unwrap();
    assert_eq!(pool.config().max_lifetime, None);
    assert_eq!(pool.config().max_idle, None);
    let tiny = Duration::from_millis(1);
    let pool = builder()
        .max_lifetime(Some(tiny))
        .max_idle(Some(tiny))
        .health_check(HealthCheck::IdleLongerThan(tiny))
        .health_check_timeout(tiny)
        .reconnect_timeout(tiny)
        .build()
        .unwrap();
    assert_eq!(
        pool.config().health_check,
        HealthCheck::IdleLongerThan(tiny)
    );
    let pool = builder().health_check(HealthCheck::Always).build().unwrap();
    assert_eq!(pool.config().health_check, HealthCheck::Always);
}

#[test]
fn the_lifecycle_defaults_are_documented_ones() {
    let config = PoolConfig::default();
    assert_eq!(config.max_lifetime, Some(Duration::from_secs(60 * 60)));
    assert_eq!(config.max_idle, Some(Duration::from_secs(10 * 60)));
    assert_eq!(
        config.health_check,
        HealthCheck::IdleLongerThan(Duration::from_secs(1))
    );
    assert_eq!(config.health_check_timeout, Duration::from_secs(5));
    assert_eq!(config.reconnect_timeout, Duration::from_secs(5 * 60));
}
