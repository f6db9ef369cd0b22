//! Why the pool closed a connection: the `reason` label of its metrics
//! and counters, and the words of its logs.

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
    /// Returned to a null pool, which keeps no connection: counted as
    /// `idle` (a null pool is a pool whose connections may idle for no
    /// time at all).
    NullPool,
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
            CloseReason::Idle | CloseReason::NullPool => 1,
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
            CloseReason::NullPool => "returned to a null pool, which keeps no connection",
        }
    }
}
