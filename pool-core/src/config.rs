//! The pool's settings as plain data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::health::HealthCheck;
use crate::metrics::MetricNames;

/// The settings of a pool, as plain data.
///
/// Every field has a documented default ([`PoolConfig::default`]). The values
/// are checked when the pool is built ([`Builder::build`](crate::Builder::build)),
/// which returns an error for impossible combinations instead of panicking.
///
/// It is written with serde as it is read (durations in humantime's form,
/// `None` as `"none"`), so that a configuration can be shown or saved and
/// read back; it holds no password.
///
/// It can be read with serde from any format: a missing field takes its
/// default, an unknown one is an error; durations are written `"30s"`,
/// `"5m"` or `"1h 30m"` (or a number of seconds), optional ones also
/// `"none"`; `health_check` is `"never"`, `"always"` or a duration (test
/// connections idle longer than it).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tidepool_core::PoolConfig;
///
/// let mut config = PoolConfig::default();
/// config.max_size = 20;
/// config.timeout = Duration::from_secs(5);
/// assert_eq!(config.min_size, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolConfig {
    /// A name for the pool, used in errors, logs and metrics to tell pools
    /// apart. Defaults to `"tidepool"`.
    #[serde(deserialize_with = "duration::text")]
    pub name: String,
    /// How many connections the pool opens in the background when it starts
    /// and keeps open. Defaults to 4.
    pub min_size: usize,
    /// The most connections the pool ever has open at once, in use or idle.
    /// Defaults to 10.
    pub max_size: usize,
    /// How long a checkout may take in total: waiting in the queue, waiting
    /// for a new connection and checking it. Also the default limit of
    /// [`Pool::wait`](crate::Pool::wait). Defaults to 30 s.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    pub timeout: Duration,
    /// How many requests may wait for a connection at once; a request beyond
    /// that fails at once with a "too many requests" error (load shedding).
    /// 0 means no limit. Defaults to 0.
    pub max_waiting: usize,
    /// How many connections may be opening at the same time, so that a burst
    /// of demand or a recovering server does not see a storm of connects.
    /// Defaults to 2.
    pub max_connecting: usize,
    /// How long one connection attempt may take before it is abandoned and
    /// counted as failed. Defaults to 30 s.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    pub connect_timeout: Duration,
    /// How long the reset of a returned connection (for example the rollback
    /// of a transaction left open) may take before the connection is closed
    /// instead. Defaults to 5 s.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    pub reset_timeout: Duration,
    /// How long a connection may live; it is closed (and replaced if the pool
    /// needs it) at the first checkout, return or sweep after that. Each
    /// connection's lifetime is shortened by up to 5 % at random, so that
    /// connections opened together do not all close together. `None` keeps
    /// connections forever. Defaults to 1 h.
    #[serde(
        deserialize_with = "duration::optional",
        serialize_with = "duration::write_optional"
    )]
    pub max_lifetime: Option<Duration>,
    /// How long a connection may stay idle while the pool holds more than
    /// `min_size`; longer-idle connections above `min_size` are closed.
    /// `None` keeps them. Defaults to 10 min.
    #[serde(
        deserialize_with = "duration::optional",
        serialize_with = "duration::write_optional"
    )]
    pub max_idle: Option<Duration>,
    /// When to test an idle connection before handing it out. Defaults to
    /// [`HealthCheck::IdleLongerThan`] 1 s.
    pub health_check: HealthCheck,
    /// How long one health check may take before the connection is deemed
    /// broken. A check also ends at the checkout's own deadline. Defaults to
    /// 5 s.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    pub health_check_timeout: Duration,
    /// How long connects may keep failing before the pool reports that it
    /// cannot reconnect (an error in the log and the `reconnect_failed`
    /// callback of the builder). The pool keeps retrying afterwards, every
    /// 10 s at most, and recovers by itself when the server returns.
    /// Defaults to 5 min.
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::write"
    )]
    pub reconnect_timeout: Duration,
    /// A checkout that waits longer than this for its connection logs a
    /// warning naming where it was called, at most once per second per
    /// pool (with the number of slow checkouts since the last warning).
    /// `None` turns the warning off. Defaults to 1 s: a checkout served by
    /// an idle connection takes microseconds, and one that waits for a new
    /// connection takes about a connect's time (milliseconds), so a wait of
    /// a second means the pool is exhausted, well before checkouts start
    /// timing out (`timeout`, 30 s by default) and in time to act.
    #[serde(
        deserialize_with = "duration::optional",
        serialize_with = "duration::write_optional"
    )]
    pub slow_checkout_warning: Option<Duration>,
    /// A connection held (checked out) longer than this logs a warning, while
    /// it is still held, naming where it was checked out and for how long:
    /// a connection that is never returned (a guard kept in a long-lived
    /// struct, a task stuck while holding it) starves the pool. Set it well
    /// above the longest legitimate use. When set, each checkout starts a
    /// timer task; `None` costs nothing. Defaults to `None` (off).
    #[serde(
        deserialize_with = "duration::optional",
        serialize_with = "duration::write_optional"
    )]
    pub leak_detection_threshold: Option<Duration>,
    /// The names the pool's [metrics](crate::metrics) are reported under:
    /// tidepool's own, OpenTelemetry's semantic conventions, or both
    /// (`"tidepool"`, `"opentelemetry"`, `"both"`). Defaults to
    /// [`MetricNames::Tidepool`].
    pub metric_names: MetricNames,
    /// Makes the pool a null pool, as psycopg's `NullConnectionPool`: it
    /// keeps no connection, opening one for each checkout and closing it
    /// when it is returned (counted as a close for the reason `idle`),
    /// while `max_size`, `timeout`, `max_waiting`, the queue, the stats
    /// and the metrics work as in any pool. A connection opened for a
    /// request that another connection served waits at most 0.1 s for the
    /// next request, then closes (reason `idle`; `max_idle` does not apply).
    /// For programs behind PgBouncer or short-lived ones. Requires
    /// `min_size` 0. Defaults to `false`.
    pub null_pool: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            name: "tidepool".to_owned(),
            min_size: 4,
            max_size: 10,
            timeout: Duration::from_secs(30),
            max_waiting: 0,
            max_connecting: 2,
            connect_timeout: Duration::from_secs(30),
            reset_timeout: Duration::from_secs(5),
            max_lifetime: Some(Duration::from_secs(60 * 60)),
            max_idle: Some(Duration::from_secs(10 * 60)),
            health_check: HealthCheck::default(),
            health_check_timeout: Duration::from_secs(5),
            reconnect_timeout: Duration::from_secs(5 * 60),
            slow_checkout_warning: Some(Duration::from_secs(1)),
            leak_detection_threshold: None,
            metric_names: MetricNames::Tidepool,
            null_pool: false,
        }
    }
}

/// The largest `max_size` a pool accepts.
pub const MAX_SIZE_LIMIT: usize = 10_000;

impl PoolConfig {
    /// Checks the settings, describing the first problem found.
    pub(crate) fn validate(&self) -> Result<(), String> {
        validate_sizes(self.min_size, self.max_size)?;
        validate_null_pool(self.null_pool, self.min_size)?;
        if self.max_connecting == 0 {
            return Err(
                "max_connecting is 0, so no connection could ever open; set it to 1 or more".into(),
            );
        }
        for (name, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
            ("reset_timeout", self.reset_timeout),
            ("health_check_timeout", self.health_check_timeout),
            ("reconnect_timeout", self.reconnect_timeout),
            ("max_lifetime", self.max_lifetime.unwrap_or(Duration::MAX)),
            ("max_idle", self.max_idle.unwrap_or(Duration::MAX)),
            (
                "slow_checkout_warning",
                self.slow_checkout_warning.unwrap_or(Duration::MAX),
            ),
            (
                "leak_detection_threshold",
                self.leak_detection_threshold.unwrap_or(Duration::MAX),
            ),
        ] {
            if value.is_zero() {
                return Err(format!(
                    "{name} is 0; give it a positive duration such as 5 s"
                ));
            }
        }
        if let HealthCheck::IdleLongerThan(threshold) = self.health_check
            && threshold.is_zero()
        {
            return Err("health_check is IdleLongerThan(0); \
                 use HealthCheck::Always to test at every checkout"
                .into());
        }
        Ok(())
    }
}

/// Checks a pair of sizes, as given to the builder or to `resize`.
pub(crate) fn validate_sizes(min_size: usize, max_size: usize) -> Result<(), String> {
    if max_size == 0 {
        return Err(
            "max_size is 0; a pool needs at least one connection: set max_size to 1 or more".into(),
        );
    }
    if max_size > MAX_SIZE_LIMIT {
        return Err(format!(
            "max_size is {max_size}, above the limit of {MAX_SIZE_LIMIT}; lower max_size"
        ));
    }
    if min_size > max_size {
        return Err(format!(
            "min_size ({min_size}) is larger than max_size ({max_size}); \
             lower min_size or raise max_size"
        ));
    }
    Ok(())
}

/// Checks that a null pool keeps no connection open (`min_size` 0).
pub(crate) fn validate_null_pool(null_pool: bool, min_size: usize) -> Result<(), String> {
    if null_pool && min_size > 0 {
        return Err(format!(
            "min_size is {min_size} in a null pool, which keeps no connection open; \
             set min_size to 0, or turn null_pool off to keep connections"
        ));
    }
    Ok(())
}
