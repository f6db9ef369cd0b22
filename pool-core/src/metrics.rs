//! The pool's metrics, through the [`metrics`](https://docs.rs/metrics)
//! facade.
//!
//! Every pool reports its gauges, counters and histograms to the recorder
//! the program installed (a Prometheus exporter, StatsD, ...). The library
//! never installs a recorder or an exporter of its own: without one, the
//! metrics cost a branch each and go nowhere.
//!
//! **Install the recorder before building the pool.** A pool registers its
//! metrics once, when it is built, and keeps the handles, so that checkouts
//! and returns do no registry look-ups; a pool built before the recorder
//! was installed reports to no one.
//!
//! Every series carries the label `pool`, the pool's
//! [`name`](crate::PoolConfig::name), and no other label except `reason` on
//! closed connections: no connection string, host or user ever becomes a
//! label. Give pools distinct names to tell them apart; the gauges of pools
//! that share a name add up, and fall back to zero as a pool closes.
//!
//! The names follow HikariCP's (`hikaricp_connections_pending`, `_acquire`,
//! `_usage`, `_creation`, `_timeout`) with the prefix `tidepool_`, so that
//! existing dashboards translate. Durations are in seconds.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tidepool_connections` | gauge | `pool` | open connections, idle and in use (connects in progress not included) |
//! | `tidepool_connections_idle` | gauge | `pool` | open connections not checked out: idle in the pool, or being health-checked or reset |
//! | `tidepool_connections_in_use` | gauge | `pool` | connections checked out by users |
//! | `tidepool_connections_pending` | gauge | `pool` | checkouts waiting for a connection |
//! | `tidepool_connections_min` | gauge | `pool` | the pool's `min_size` (0 once the pool is closed) |
//! | `tidepool_connections_max` | gauge | `pool` | the pool's `max_size` (0 once the pool is closed) |
//! | `tidepool_connections_acquired_total` | counter | `pool` | checkouts that got a connection |
//! | `tidepool_connections_timeout_total` | counter | `pool` | checkouts that timed out |
//! | `tidepool_connections_rejected_total` | counter | `pool` | checkouts turned away at once because `max_waiting` requests were waiting |
//! | `tidepool_connections_created_total` | counter | `pool` | connects that succeeded |
//! | `tidepool_connections_create_errors_total` | counter | `pool` | connects that failed (an error, or longer than `connect_timeout`) |
//! | `tidepool_connections_closed_total` | counter | `pool`, `reason` | connections the pool closed, by reason: `lifetime`, `idle`, `broken`, `check_failed`, `reset_failed`, `drained`, `shrunk` (not those closed with the pool, or detached) |
//! | `tidepool_connections_acquire_seconds` | histogram | `pool` | how long each checkout took, from the call to getting a connection or failing (timeouts included, rejections not) |
//! | `tidepool_connections_usage_seconds` | histogram | `pool` | how long each connection was held, from checkout to return |
//! | `tidepool_connections_creation_seconds` | histogram | `pool` | how long each connect took, whether it succeeded or not |
//!
//! The constants of this module hold these names, for code that reads the
//! metrics back (tests, dashboards as code).
//!
//! # OpenTelemetry's names
//!
//! With [`PoolConfig::metric_names`](crate::PoolConfig::metric_names) set to
//! [`MetricNames::OpenTelemetry`] (or [`MetricNames::Both`], during a
//! migration), the pool reports the metrics that OpenTelemetry's semantic
//! conventions name for database client connection pools, as the
//! instrumentations of HikariCP, SqlClient or SQLAlchemy do. The pool's name
//! is the `db.client.connection.pool.name` attribute. The `metrics` facade
//! has three kinds of instrument: an OpenTelemetry UpDownCounter is a gauge
//! that the pool only ever moves by increments, a Counter a counter, a
//! Histogram a histogram; units are given to the recorder as
//! [`Unit::Count`](::metrics::Unit::Count) (the conventions' `{connection}`,
//! `{request}`, `{timeout}`) and [`Unit::Seconds`](::metrics::Unit::Seconds)
//! (`s`).
//!
//! | name | instrument | unit | attributes | meaning |
//! |---|---|---|---|---|
//! | `db.client.connection.count` | UpDownCounter (gauge) | `{connection}` | `db.client.connection.pool.name`, `db.client.connection.state` (`idle`, `used`) | open connections by state |
//! | `db.client.connection.idle.max` | UpDownCounter (gauge) | `{connection}` | `db.client.connection.pool.name` | the most idle connections allowed: `max_size` |
//! | `db.client.connection.idle.min` | UpDownCounter (gauge) | `{connection}` | `db.client.connection.pool.name` | the fewest idle connections kept: `min_size` |
//! | `db.client.connection.max` | UpDownCounter (gauge) | `{connection}` | `db.client.connection.pool.name` | the most open connections allowed: `max_size` |
//! | `db.client.connection.pending_requests` | UpDownCounter (gauge) | `{request}` | `db.client.connection.pool.name` | checkouts waiting for a connection |
//! | `db.client.connection.timeouts` | Counter | `{timeout}` | `db.client.connection.pool.name` | checkouts that timed out |
//! | `db.client.connection.create_time` | Histogram | `s` | `db.client.connection.pool.name` | how long each connect took |
//! | `db.client.connection.wait_time` | Histogram | `s` | `db.client.connection.pool.name` | how long each checkout took to get a connection (or fail) |
//! | `db.client.connection.use_time` | Histogram | `s` | `db.client.connection.pool.name` | how long each connection was held, from checkout to return |
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use tidepool_core::{Manager, Pool, metrics};
//!
//! struct Numbers;
//!
//! impl Manager for Numbers {
//!     type Connection = u32;
//!     type Error = Infallible;
//!
//!     async fn connect(&self) -> Result<u32, Infallible> {
//!         Ok(42)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tidepool_core::Error> {
//! // A program installs its recorder first, for example
//! // metrics_exporter_prometheus::PrometheusBuilder::new().install()?;
//! let pool = Pool::builder(Numbers).name("orders").build()?;
//! assert_eq!(metrics::CONNECTIONS_IN_USE, "tidepool_connections_in_use");
//! # drop(pool);
//! # Ok(())
//! # }
//! ```

/// The label every series carries: the pool's name.
pub const POOL_LABEL: &str = "pool";
/// The label of [`CONNECTIONS_CLOSED`]: why the connection was closed.
pub const REASON_LABEL: &str = "reason";

/// Gauge: open connections, idle and in use.
pub const CONNECTIONS: &str = "tidepool_connections";
/// Gauge: open connections not checked out.
pub const CONNECTIONS_IDLE: &str = "tidepool_connections_idle";
/// Gauge: connections checked out by users.
pub const CONNECTIONS_IN_USE: &str = "tidepool_connections_in_use";
/// Gauge: checkouts waiting for a connection.
pub const CONNECTIONS_PENDING: &str = "tidepool_connections_pending";
/// Gauge: the pool's `min_size`.
pub const CONNECTIONS_MIN: &str = "tidepool_connections_min";
/// Gauge: the pool's `max_size`.
pub const CONNECTIONS_MAX: &str = "tidepool_connections_max";
/// Counter: checkouts that got a connection.
pub const CONNECTIONS_ACQUIRED: &str = "tidepool_connections_acquired_total";
/// Counter: checkouts that timed out.
pub const CONNECTIONS_TIMEOUT: &str = "tidepool_connections_timeout_total";
/// Counter: checkouts turned away because `max_waiting` requests were waiting.
pub const CONNECTIONS_REJECTED: &str = "tidepool_connections_rejected_total";
/// Counter: connects that succeeded.
pub const CONNECTIONS_CREATED: &str = "tidepool_connections_created_total";
/// Counter: connects that failed.
pub const CONNECTIONS_CREATE_ERRORS: &str = "tidepool_connections_create_errors_total";
/// Counter, with a [`REASON_LABEL`]: connections the pool closed.
pub const CONNECTIONS_CLOSED: &str = "tidepool_connections_closed_total";
/// Histogram, in seconds: how long each checkout took.
pub const CONNECTIONS_ACQUIRE: &str = "tidepool_connections_acquire_seconds";
/// Histogram, in seconds: how long each connection was held.
pub const CONNECTIONS_USAGE: &str = "tidepool_connections_usage_seconds";
/// Histogram, in seconds: how long each connect took.
pub const CONNECTIONS_CREATION: &str = "tidepool_connections_creation_seconds";

/// The values of [`REASON_LABEL`] on [`CONNECTIONS_CLOSED`].
pub const CLOSE_REASONS: [&str; 7] = crate::close_reason::CloseReason::LABELS;

/// Which names the pool's metrics are reported under: tidepool's own
/// (HikariCP's, prefixed `tidepool_`), OpenTelemetry's semantic
/// conventions, or both during a migration. Read from settings files and
/// the environment as `"tidepool"`, `"opentelemetry"` or `"both"`.
/// Defaults to [`MetricNames::Tidepool`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MetricNames {
    /// The names of the table above, `tidepool_connections` and its kin.
    #[default]
    Tidepool,
    /// OpenTelemetry's names, `db.client.connection.count` and its kin.
    #[serde(alias = "otel")]
    OpenTelemetry,
    /// Both sets at once.
    Both,
}

impl MetricNames {
    /// Whether tidepool's own names are reported.
    pub fn tidepool(self) -> bool {
        matches!(self, MetricNames::Tidepool | MetricNames::Both)
    }

    /// Whether OpenTelemetry's names are reported.
    pub fn open_telemetry(self) -> bool {
        matches!(self, MetricNames::OpenTelemetry | MetricNames::Both)
    }
}

/// OpenTelemetry's attribute of every series: the pool's name.
pub const OTEL_POOL_NAME: &str = "db.client.connection.pool.name";
/// OpenTelemetry's attribute of [`OTEL_CONNECTION_COUNT`]: the state.
pub const OTEL_STATE: &str = "db.client.connection.state";
/// The value of [`OTEL_STATE`] for idle connections.
pub const OTEL_STATE_IDLE: &str = "idle";
/// The value of [`OTEL_STATE`] for connections in use.
pub const OTEL_STATE_USED: &str = "used";
/// UpDownCounter (a gauge here): open connections, by [`OTEL_STATE`].
pub const OTEL_CONNECTION_COUNT: &str = "db.client.connection.count";
/// UpDownCounter (a gauge here): the most idle connections allowed.
pub const OTEL_CONNECTION_IDLE_MAX: &str = "db.client.connection.idle.max";
/// UpDownCounter (a gauge here): the fewest idle connections kept.
pub const OTEL_CONNECTION_IDLE_MIN: &str = "db.client.connection.idle.min";
/// UpDownCounter (a gauge here): the most open connections allowed.
pub const OTEL_CONNECTION_MAX: &str = "db.client.connection.max";
/// UpDownCounter (a gauge here): checkouts waiting for a connection.
pub const OTEL_CONNECTION_PENDING_REQUESTS: &str = "db.client.connection.pending_requests";
/// Counter: checkouts that timed out.
pub const OTEL_CONNECTION_TIMEOUTS: &str = "db.client.connection.timeouts";
/// Histogram, in seconds: how long each connect took.
pub const OTEL_CONNECTION_CREATE_TIME: &str = "db.client.connection.create_time";
/// Histogram, in seconds: how long each checkout took.
pub const OTEL_CONNECTION_WAIT_TIME: &str = "db.client.connection.wait_time";
/// Histogram, in seconds: how long each connection was held.
pub const OTEL_CONNECTION_USE_TIME: &str = "db.client.connection.use_time";
