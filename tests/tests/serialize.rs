//! `PoolConfig` and `Stats` serialize with serde: the configuration as it
//! is read (durations in humantime's form) and back again, the stats under
//! psycopg_pool's names, from both pools.

mod common;

use std::time::Duration;

use common::{database, ok, tagged_url};
use serde_json::{Value, json};
use tidepool_async::{HealthCheck, PoolConfig};

#[test]
fn pool_config_round_trips_through_json_with_durations_as_written() {
    let mut config = PoolConfig::default();
    config.name = "orders".into();
    config.max_size = 20;
    config.timeout = Duration::from_millis(1500);
    config.max_lifetime = None;
    config.max_idle = Some(Duration::from_secs(90 * 60));
    config.health_check = HealthCheck::Always;
    config.leak_detection_threshold = Some(Duration::from_secs(30));
    config.null_pool = true;
    config.min_size = 0;

    let text = ok(serde_json::to_string(&config));
    let value: Value = ok(serde_json::from_str(&text));
    assert_eq!(value["name"], json!("orders"));
    assert_eq!(value["timeout"], json!("1s 500ms"));
    assert_eq!(value["connect_timeout"], json!("30s"));
    assert_eq!(value["max_lifetime"], json!("none"));
    assert_eq!(value["max_idle"], json!("1h 30m"));
    assert_eq!(value["health_check"], json!("always"));
    assert_eq!(value["slow_checkout_warning"], json!("1s"));
    assert_eq!(value["null_pool"], json!(true));
    let back: PoolConfig = ok(serde_json::from_str(&text));
    assert_eq!(back, config);

    // The defaults too, and a health check threshold.
    let mut defaults = PoolConfig::default();
    defaults.health_check = HealthCheck::IdleLongerThan(Duration::from_millis(250));
    let text = ok(serde_json::to_string(&defaults));
    assert!(text.contains(r#""health_check":"250ms""#), "{text}");
    let back: PoolConfig = ok(serde_json::from_str(&text));
    assert_eq!(back, defaults);
}

/// The stats' keys, psycopg_pool's first.
const PSYCOPG_NAMES: [&str; 15] = [
    "pool_min",
    "pool_max",
    "pool_size",
    "pool_available",
    "requests_waiting",
    "requests_num",
    "requests_queued",
    "requests_wait_ms",
    "requests_errors",
    "usage_ms",
    "returns_bad",
    "connections_num",
    "connections_ms",
    "connections_errors",
    "connections_lost",
];

fn assert_stats_json(text: &str, requests: u64) {
    let value: Value = ok(serde_json::from_str(text));
    let object = value.as_object().expect("an object");
    for name in PSYCOPG_NAMES {
        assert!(object.contains_key(name), "{name} is missing from {text}");
    }
    assert_eq!(value["pool_min"], json!(1), "{text}");
    assert_eq!(value["pool_max"], json!(2), "{text}");
    assert_eq!(value["requests_num"], json!(requests), "{text}");
    assert_eq!(value["listeners"], json!(0), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_serialize_under_psycopgs_names() {
    let db = database();
    let (_, url) = tagged_url(&db, "serialize");
    let pool = ok(tidepool_async::Pool::builder(&url)
        .min_size(1)
        .max_size(2)
        .build());
    for _ in 0..3 {
        drop(ok(pool.get().await));
    }
    assert_stats_json(&ok(serde_json::to_string(&pool.stats())), 3);
    let config = ok(serde_json::to_string(pool.config()));
    assert!(!config.contains(db.url()), "the URL is not configuration");
}

#[test]
fn blocking_stats_serialize_under_psycopgs_names() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_serialize");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(2)
        .worker_threads(1)
        .build());
    drop(ok(pool.get()));
    assert_stats_json(&ok(serde_json::to_string(&pool.stats())), 1);
}
