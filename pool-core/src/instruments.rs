//! The handles of a pool's metrics, registered once when the pool is built.

use std::time::Duration;

use ::metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};

use crate::close_reason::CloseReason;
use crate::metrics::{
    CLOSE_REASONS, CONNECTIONS, CONNECTIONS_ACQUIRE, CONNECTIONS_ACQUIRED, CONNECTIONS_CLOSED,
    CONNECTIONS_CREATE_ERRORS, CONNECTIONS_CREATED, CONNECTIONS_CREATION, CONNECTIONS_IDLE,
    CONNECTIONS_IN_USE, CONNECTIONS_MAX, CONNECTIONS_MIN, CONNECTIONS_PENDING,
    CONNECTIONS_REJECTED, CONNECTIONS_TIMEOUT, CONNECTIONS_USAGE, MetricNames,
    OTEL_CONNECTION_COUNT, OTEL_CONNECTION_CREATE_TIME, OTEL_CONNECTION_IDLE_MAX,
    OTEL_CONNECTION_IDLE_MIN, OTEL_CONNECTION_MAX, OTEL_CONNECTION_PENDING_REQUESTS,
    OTEL_CONNECTION_TIMEOUTS, OTEL_CONNECTION_USE_TIME, OTEL_CONNECTION_WAIT_TIME, OTEL_POOL_NAME,
    OTEL_STATE, OTEL_STATE_IDLE, OTEL_STATE_USED, POOL_LABEL, REASON_LABEL,
};

/// A pool's metric handles. Without a recorder every handle is a no-op, and
/// so is every handle of a set of names the pool does not report
/// ([`MetricNames`]): each event updates both sets without asking which.
///
/// The gauges only ever move by increments, each paired with its opposite
/// by a guard (a connection's size guard, a checked-out connection, a
/// waiting request): concurrent updates cannot overwrite one another, and
/// every gauge falls back to zero when the pool is closed and empty.
pub(crate) struct Instruments {
    connections: Gauge,
    idle: Gauge,
    in_use: Gauge,
    pending: Gauge,
    min: Gauge,
    max: Gauge,
    pub(crate) acquired: Counter,
    pub(crate) timeouts: Both<Counter>,
    pub(crate) rejected: Counter,
    pub(crate) created: Counter,
    pub(crate) create_errors: Counter,
    closed: [Counter; CLOSE_REASONS.len()],
    acquire: Histogram,
    usage: Histogram,
    creation: Histogram,
    otel: Otel,
}

/// The handles of OpenTelemetry's names.
struct Otel {
    idle: Gauge,
    used: Gauge,
    idle_max: Gauge,
    idle_min: Gauge,
    max: Gauge,
    pending: Gauge,
    wait_time: Histogram,
    use_time: Histogram,
    create_time: Histogram,
}

/// One event reported under both sets of names.
pub(crate) struct Both<T>(T, T);

impl Both<Counter> {
    pub(crate) fn increment(&self, n: u64) {
        self.0.increment(n);
        self.1.increment(n);
    }
}

impl Instruments {
    /// Describes the metrics to the current recorder and registers the
    /// handles of the pool named `pool`, under the `names` asked for.
    pub(crate) fn register(pool: &str, names: MetricNames) -> Self {
        let ours = names.tidepool();
        let theirs = names.open_telemetry();
        describe(names);
        let label = || [(POOL_LABEL, pool.to_owned())];
        let gauge = |name: &'static str| {
            if ours {
                gauge!(name, &label())
            } else {
                Gauge::noop()
            }
        };
        let counter = |name: &'static str| {
            if ours {
                counter!(name, &label())
            } else {
                Counter::noop()
            }
        };
        let histogram = |name: &'static str| {
            if ours {
                histogram!(name, &label())
            } else {
                Histogram::noop()
            }
        };
        let attribute = || [(OTEL_POOL_NAME, pool.to_owned())];
        let otel_gauge = |name: &'static str| {
            if theirs {
                gauge!(name, &attribute())
            } else {
                Gauge::noop()
            }
        };
        let otel_state = |state: &'static str| {
            if theirs {
                gauge!(OTEL_CONNECTION_COUNT, OTEL_POOL_NAME => pool.to_owned(), OTEL_STATE => state)
            } else {
                Gauge::noop()
            }
        };
        let otel_histogram = |name: &'static str| {
            if theirs {
                histogram!(name, &attribute())
            } else {
                Histogram::noop()
            }
        };
        Self {
            connections: gauge(CONNECTIONS),
            idle: gauge(CONNECTIONS_IDLE),
            in_use: gauge(CONNECTIONS_IN_USE),
            pending: gauge(CONNECTIONS_PENDING),
            min: gauge(CONNECTIONS_MIN),
            max: gauge(CONNECTIONS_MAX),
            acquired: counter(CONNECTIONS_ACQUIRED),
            timeouts: Both(
                counter(CONNECTIONS_TIMEOUT),
                if theirs {
                    counter!(OTEL_CONNECTION_TIMEOUTS, &attribute())
                } else {
                    Counter::noop()
                },
            ),
            rejected: counter(CONNECTIONS_REJECTED),
            created: counter(CONNECTIONS_CREATED),
            create_errors: counter(CONNECTIONS_CREATE_ERRORS),
            closed: CLOSE_REASONS.map(|reason| {
                if ours {
                    counter!(
                        CONNECTIONS_CLOSED,
                        POOL_LABEL => pool.to_owned(),
                        REASON_LABEL => reason
                    )
                } else {
                    Counter::noop()
                }
            }),
            acquire: histogram(CONNECTIONS_ACQUIRE),
            usage: histogram(CONNECTIONS_USAGE),
            creation: histogram(CONNECTIONS_CREATION),
            otel: Otel {
                idle: otel_state(OTEL_STATE_IDLE),
                used: otel_state(OTEL_STATE_USED),
                idle_max: otel_gauge(OTEL_CONNECTION_IDLE_MAX),
                idle_min: otel_gauge(OTEL_CONNECTION_IDLE_MIN),
                max: otel_gauge(OTEL_CONNECTION_MAX),
                pending: otel_gauge(OTEL_CONNECTION_PENDING_REQUESTS),
                wait_time: otel_histogram(OTEL_CONNECTION_WAIT_TIME),
                use_time: otel_histogram(OTEL_CONNECTION_USE_TIME),
                create_time: otel_histogram(OTEL_CONNECTION_CREATE_TIME),
            },
        }
    }

    /// A connection opened: it is idle until checked out.
    pub(crate) fn connection_opened(&self) {
        self.connections.increment(1.0);
        self.idle.increment(1.0);
        self.otel.idle.increment(1.0);
    }

    /// A connection closed; a connection in use was first checked in.
    pub(crate) fn connection_closed(&self) {
        self.connections.decrement(1.0);
        self.idle.decrement(1.0);
        self.otel.idle.decrement(1.0);
    }

    /// A connection was handed to a user.
    pub(crate) fn checked_out(&self) {
        self.idle.decrement(1.0);
        self.in_use.increment(1.0);
        self.otel.idle.decrement(1.0);
        self.otel.used.increment(1.0);
    }

    /// A user gave a connection back (or detached it, which then closes it).
    pub(crate) fn checked_in(&self) {
        self.in_use.decrement(1.0);
        self.idle.increment(1.0);
        self.otel.used.decrement(1.0);
        self.otel.idle.increment(1.0);
    }

    /// A request began waiting (`1.0`) or stopped waiting (`-1.0`).
    pub(crate) fn pending(&self, delta: f64) {
        self.pending.increment(delta);
        self.otel.pending.increment(delta);
    }

    /// The sizes changed by these amounts (build, resize, close).
    pub(crate) fn sizes_changed(&self, min_delta: f64, max_delta: f64) {
        self.min.increment(min_delta);
        self.max.increment(max_delta);
        self.otel.idle_min.increment(min_delta);
        self.otel.idle_max.increment(max_delta);
        self.otel.max.increment(max_delta);
    }

    /// The pool closed a connection for `reason`.
    pub(crate) fn closed(&self, reason: CloseReason) {
        self.closed[reason.label_index()].increment(1);
    }

    /// A checkout took `elapsed`.
    pub(crate) fn acquire_time(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.acquire.record(seconds);
        self.otel.wait_time.record(seconds);
    }

    /// A connection was held for `held`.
    pub(crate) fn usage_time(&self, held: Duration) {
        let seconds = held.as_secs_f64();
        self.usage.record(seconds);
        self.otel.use_time.record(seconds);
    }

    /// A connect took `elapsed`.
    pub(crate) fn creation_time(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.creation.record(seconds);
        self.otel.create_time.record(seconds);
    }
}

/// Gives the recorder each metric's unit and meaning (the help text of a
/// Prometheus exporter).
fn describe(names: MetricNames) {
    if names.open_telemetry() {
        describe_open_telemetry();
    }
    if !names.tidepool() {
        return;
    }
    let gauges = [
        (CONNECTIONS, "Open connections, idle and in use."),
        (
            CONNECTIONS_IDLE,
            "Open connections not checked out: idle, or being health-checked or reset.",
        ),
        (CONNECTIONS_IN_USE, "Connections checked out by users."),
        (CONNECTIONS_PENDING, "Checkouts waiting for a connection."),
        (CONNECTIONS_MIN, "The pool's min_size."),
        (CONNECTIONS_MAX, "The pool's max_size."),
    ];
    for (name, help) in gauges {
        describe_gauge!(name, Unit::Count, help);
    }
    let counters = [
        (CONNECTIONS_ACQUIRED, "Checkouts that got a connection."),
        (CONNECTIONS_TIMEOUT, "Checkouts that timed out."),
        (
            CONNECTIONS_REJECTED,
            "Checkouts turned away because max_waiting requests were waiting.",
        ),
        (CONNECTIONS_CREATED, "Connects that succeeded."),
        (CONNECTIONS_CREATE_ERRORS, "Connects that failed."),
        (
            CONNECTIONS_CLOSED,
            "Connections the pool closed, by reason.",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(name, Unit::Count, help);
    }
    let histograms = [
        (CONNECTIONS_ACQUIRE, "How long each checkout took."),
        (CONNECTIONS_USAGE, "How long each connection was held."),
        (CONNECTIONS_CREATION, "How long each connect took."),
    ];
    for (name, help) in histograms {
        describe_histogram!(name, Unit::Seconds, help);
    }
}

/// Gives the recorder OpenTelemetry's units and meanings.
fn describe_open_telemetry() {
    let counts = [
        (
            OTEL_CONNECTION_COUNT,
            "The number of connections that are currently in the state described by the state attribute.",
        ),
        (
            OTEL_CONNECTION_IDLE_MAX,
            "The maximum number of idle open connections allowed.",
        ),
        (
            OTEL_CONNECTION_IDLE_MIN,
            "The minimum number of idle open connections allowed.",
        ),
        (
            OTEL_CONNECTION_MAX,
            "The maximum number of open connections allowed.",
        ),
        (
            OTEL_CONNECTION_PENDING_REQUESTS,
            "The number of current pending requests for an open connection.",
        ),
    ];
    for (name, help) in counts {
        describe_gauge!(name, Unit::Count, help);
    }
    describe_counter!(
        OTEL_CONNECTION_TIMEOUTS,
        Unit::Count,
        "The number of connection timeouts that have occurred trying to obtain a connection from the pool."
    );
    let histograms = [
        (
            OTEL_CONNECTION_CREATE_TIME,
            "The time it took to create a new connection.",
        ),
        (
            OTEL_CONNECTION_WAIT_TIME,
            "The time it took to obtain an open connection from the pool.",
        ),
        (
            OTEL_CONNECTION_USE_TIME,
            "The time between borrowing a connection and returning it to the pool.",
        ),
    ];
    for (name, help) in histograms {
        describe_histogram!(name, Unit::Seconds, help);
    }
}
