//! `/stats`: the pool's statistics and configuration, as JSON.

use std::time::Duration;

use serde_json::{Value, json};
use tidepool_async::{HealthCheck, PoolConfig, Stats};

/// Every field of [`Stats`], by its name.
pub(crate) fn stats_json(stats: &Stats) -> Value {
    json!({
        "pool_min": stats.pool_min,
        "pool_max": stats.pool_max,
        "pool_size": stats.pool_size,
        "pool_available": stats.pool_available,
        "in_use": stats.in_use,
        "requests_waiting": stats.requests_waiting,
        "requests_max_wait_ms": stats.requests_max_wait_ms,
        "requests_num": stats.requests_num,
        "requests_queued": stats.requests_queued,
        "requests_wait_ms": stats.requests_wait_ms,
        "requests_errors": stats.requests_errors,
        "requests_timeouts": stats.requests_timeouts,
        "requests_rejected": stats.requests_rejected,
        "usage_ms": stats.usage_ms,
        "returns_bad": stats.returns_bad,
        "returns_reset": stats.returns_reset,
        "connections_num": stats.connections_num,
        "connections_ms": stats.connections_ms,
        "connections_errors": stats.connections_errors,
        "connections_lost": stats.connections_lost,
        "connections_closed_lifetime": stats.connections_closed_lifetime,
        "connections_closed_idle": stats.connections_closed_idle,
        "connections_closed_broken": stats.connections_closed_broken,
        "connections_closed_check_failed": stats.connections_closed_check_failed,
        "connections_closed_reset_failed": stats.connections_closed_reset_failed,
        "connections_closed_drained": stats.connections_closed_drained,
        "connections_closed_shrunk": stats.connections_closed_shrunk,
    })
}

/// The pool's configuration, durations written as in a settings file.
pub(crate) fn config_json(config: &PoolConfig) -> Value {
    json!({
        "name": config.name,
        "min_size": config.min_size,
        "max_size": config.max_size,
        "timeout": duration(config.timeout),
        "max_waiting": config.max_waiting,
        "max_connecting": config.max_connecting,
        "connect_timeout": duration(config.connect_timeout),
        "reset_timeout": duration(config.reset_timeout),
        "max_lifetime": config.max_lifetime.map_or("none".into(), duration),
        "max_idle": config.max_idle.map_or("none".into(), duration),
        "health_check": match config.health_check {
            HealthCheck::Never => "never".into(),
            HealthCheck::Always => "always".into(),
            HealthCheck::IdleLongerThan(idle) => format!("idle > {}", duration(idle)),
            _ => format!("{:?}", config.health_check),
        },
        "slow_checkout_warning": config.slow_checkout_warning.map_or("none".into(), duration),
        "leak_detection_threshold": config.leak_detection_threshold.map_or("none".into(), duration),
    })
}

/// A duration the way the settings files take it: `30s`, `250ms`, `1h`.
fn duration(d: Duration) -> String {
    match d.as_millis() {
        0 => "0s".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}
