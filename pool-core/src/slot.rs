//! A pooled connection with its bookkeeping.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::jitter::unit_random;
use crate::shared::Shared;

/// The most a connection's lifetime is shortened, at random, below
/// `max_lifetime`.
const LIFETIME_JITTER: f64 = 0.05;

/// A connection as the pool keeps it: the connection, when it was made, when
/// it must close and when it was last returned, and the guard that counts it
/// in the pool's size.
pub(crate) struct Slot<C> {
    pub(crate) conn: C,
    pub(crate) created_at: Instant,
    pub(crate) returned_at: Instant,
    /// When the connection last passed a health check.
    pub(crate) checked_at: Instant,
    /// When the connection has lived long enough (`max_lifetime`, jittered).
    pub(crate) expires_at: Option<Instant>,
    /// The pool's generation when the connect began: a connection of an
    /// older generation was drained and must not be handed out.
    pub(crate) generation: u64,
    pub(crate) size: SizeGuard,
}

impl<C> Slot<C> {
    pub(crate) fn new(
        conn: C,
        max_lifetime: Option<Duration>,
        generation: u64,
        size: SizeGuard,
    ) -> Self {
        let now = Instant::now();
        Self {
            conn,
            created_at: now,
            returned_at: now,
            checked_at: now,
            expires_at: max_lifetime
                .map(|lifetime| now + lifetime.mul_f64(1.0 - LIFETIME_JITTER * unit_random())),
            generation,
            size,
        }
    }

    /// The last time the connection was known to work: returned by a user
    /// or passing a health check. The health check policy counts idle time
    /// from here; `max_idle` counts from the return only.
    pub(crate) fn last_seen_fine(&self) -> Instant {
        self.returned_at.max(self.checked_at)
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Why the pool closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// Found broken (socket closed) while idle: at checkout, by the sweep
    /// or by `check()`.
    Lost,
    /// Returned broken by its user.
    ReturnedBroken,
    /// Its reset after a return failed or took longer than `reset_timeout`.
    ResetFailed,
    /// Failed its health check.
    CheckFailed,
    /// Lived longer than `max_lifetime`.
    Lifetime,
    /// Idle longer than `max_idle` above `min_size`.
    Idle,
    /// Replaced by `drain()`.
    Drained,
    /// Above a lowered `max_size`.
    Shrunk,
}

impl CloseReason {
    /// The values of the `reason` label of closed connections, in the order
    /// of [`label_index`](Self::label_index).
    pub(crate) const LABELS: [&'static str; 7] = [
        "lifetime",
        "idle",
        "broken",
        "check_failed",
        "reset_failed",
        "drained",
        "shrunk",
    ];

    /// Where the reason's label is in [`LABELS`](Self::LABELS): a broken
    /// connection counts as broken whether it was found idle or returned.
    pub(crate) fn label_index(self) -> usize {
        match self {
            CloseReason::Lifetime => 0,
            CloseReason::Idle => 1,
            CloseReason::Lost | CloseReason::ReturnedBroken => 2,
            CloseReason::CheckFailed => 3,
            CloseReason::ResetFailed => 4,
            CloseReason::Drained => 5,
            CloseReason::Shrunk => 6,
        }
    }

    /// The value of the `reason` label.
    pub(crate) fn label(self) -> &'static str {
        Self::LABELS[self.label_index()]
    }

    /// The reason in words, for logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CloseReason::Lost => "broken",
            CloseReason::ReturnedBroken => "returned broken",
            CloseReason::ResetFailed => "its reset failed",
            CloseReason::CheckFailed => "health check failed",
            CloseReason::Lifetime => "max_lifetime reached",
            CloseReason::Idle => "idle longer than max_idle",
            CloseReason::Drained => "drained",
            CloseReason::Shrunk => "above max_size after a resize",
        }
    }
}

/// Counts one open connection in the pool's size for as long as it lives,
/// whichever way the connection goes (closed, detached, dropped with the
/// pool), so that the count can never leak. The size and idle gauges follow
/// it: a new connection is idle until it is checked out.
pub(crate) struct SizeGuard(Arc<Shared>);

impl SizeGuard {
    /// Counts a connection the caller has just booked as open.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.metrics.connection_opened();
        Self(shared)
    }

    /// The books of the pool the connection belongs to.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl Drop for SizeGuard {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
        self.0.connection_closed();
    }
}
