//! When to test a connection before handing it out.

use std::time::Duration;

/// When the pool tests an idle connection (with
/// [`Manager::check`](crate::Manager::check)) before handing it out.
///
/// A connection that fails the test is closed and the checkout goes on with
/// another one, within the same deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthCheck {
    /// Never test: a broken connection is found by the first statement that
    /// uses it.
    Never,
    /// Test at every checkout: safest, and a round trip to the server each
    /// time.
    Always,
    /// Test only a connection that was idle longer than this: a connection
    /// used a moment ago is very likely fine (HikariCP's rule).
    IdleLongerThan(Duration),
}

impl Default for HealthCheck {
    /// Test connections idle longer than 1 s.
    fn default() -> Self {
        HealthCheck::IdleLongerThan(Duration::from_secs(1))
    }
}

impl HealthCheck {
    /// Whether a connection idle for `idle` must be tested.
    pub(crate) fn is_due(self, idle: Duration) -> bool {
        match self {
            HealthCheck::Never => false,
            HealthCheck::Always => true,
            HealthCheck::IdleLongerThan(threshold) => idle > threshold,
        }
    }
}
