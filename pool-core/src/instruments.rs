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
    CONNECTIONS_REJECTED, CONNECTIONS_TIMEOUT, CONNECTIONS_USAGE, POOL_LABEL, REASON_LABEL,
};

/// A pool's metric handles. Without a recorder every handle is a no-op.
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
    pub(crate) timeouts: Counter,
    pub(crate) rejected: Counter,
    pub(crate) created: Counter,
    pub(crate) create_errors: Counter,
    closed: [Counter; CLOSE_REASONS.len()],
    acquire: Histogram,
    usage: Histogram,
    creation: Histogram,
}

impl Instruments {
    /// Describes the metrics to the current recorder and registers the
    /// handles of the pool named `pool`.
    pub(crate) fn register(pool: &str) -> Self {
        describe();
        let label = || [(POOL_LABEL, pool.to_owned())];
        Self {
            connections: gauge!(CONNECTIONS, &label()),
            idle: gauge!(CONNECTIONS_IDLE, &label()),
            in_use: gauge!(CONNECTIONS_IN_USE, &label()),
            pending: gauge!(CONNECTIONS_PENDING, &label()),
            min: gauge!(CONNECTIONS_MIN, &label()),
            max: gauge!(CONNECTIONS_MAX, &label()),
            acquired: counter!(CONNECTIONS_ACQUIRED, &label()),
            timeouts: counter!(CONNECTIONS_TIMEOUT, &label()),
            rejected: counter!(CONNECTIONS_REJECTED, &label()),
            created: counter!(CONNECTIONS_CREATED, &label()),
            create_errors: counter!(CONNECTIONS_CREATE_ERRORS, &label()),
            closed: CLOSE_REASONS.map(|reason| {
                counter!(
                    CONNECTIONS_CLOSED,
                    POOL_LABEL => pool.to_owned(),
                    REASON_LABEL => reason
                )
            }),
            acquire: histogram!(CONNECTIONS_ACQUIRE, &label()),
            usage: histogram!(CONNECTIONS_USAGE, &label()),
            creation: histogram!(CONNECTIONS_CREATION, &label()),
        }
    }

    /// A connection opened: it is idle until checked out.
    pub(crate) fn connection_opened(&self) {
        self.connections.increment(1.0);
        self.idle.increment(1.0);
    }

    /// A connection closed; a connection in use was first checked in.
    pub(crate) fn connection_closed(&self) {
        self.connections.decrement(1.0);
        self.idle.decrement(1.0);
    }

    /// A connection was handed to a user.
    pub(crate) fn checked_out(&self) {
        self.idle.decrement(1.0);
        self.in_use.increment(1.0);
    }

    /// A user gave a connection back (or detached it, which then closes it).
    pub(crate) fn checked_in(&self) {
        self.in_use.decrement(1.0);
        self.idle.increment(1.0);
    }

    /// A request began waiting (`1.0`) or stopped waiting (`-1.0`).
    pub(crate) fn pending(&self, delta: f64) {
        self.pending.increment(delta);
    }

    /// The sizes changed by these amounts (build, resize, close).
    pub(crate) fn sizes_changed(&self, min_delta: f64, max_delta: f64) {
        self.min.increment(min_delta);
        self.max.increment(max_delta);
    }

    /// The pool closed a connection for `reason`.
    pub(crate) fn closed(&self, reason: CloseReason) {
        self.closed[reason.label_index()].increment(1);
    }

    /// A checkout took `elapsed`.
    pub(crate) fn acquire_time(&self, elapsed: Duration) {
        self.acquire.record(elapsed.as_secs_f64());
    }

    /// A connection was held for `held`.
    pub(crate) fn usage_time(&self, held: Duration) {
        self.usage.record(held.as_secs_f64());
    }

    /// A connect took `elapsed`.
    pub(crate) fn creation_time(&self, elapsed: Duration) {
        self.creation.record(elapsed.as_secs_f64());
    }
}

/// Gives the recorder each metric's unit and meaning (the help text of a
/// Prometheus exporter).
fn describe() {
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
