//! Delays between failed connection attempts.

use std::time::Duration;

use crate::jitter::unit_random;

/// The delay before the first retry after a failed connect: short, so that
/// a pool is back within a fraction of a second of a server restart, as
/// HikariCP's first retry is.
pub(crate) const INITIAL_DELAY: Duration = Duration::from_millis(250);
/// The longest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);
/// After a pool lost its connections (a restart, a failover), while
/// requests wait and no connection is open, the next retry comes this soon
/// after a failed one during the first [`QUICK_EARLY`] of the outage: a
/// server restarted on purpose is typically back within 50 to 150 ms, and
/// the requests waiting are then served within 5 ms of it, as soon as by a
/// pool that connects on every request. One attempt at a time, so a server
/// that is down (it refuses, at no cost to it) or starting up (it forks a
/// process to say so) sees at most fifty attempts in that quarter second.
/// These quick retries do not count as rounds of the backoff.
pub(crate) const QUICK_RETRY: Duration = Duration::from_millis(5);
/// How long into the outage the retries come every [`QUICK_RETRY`].
pub(crate) const QUICK_EARLY: Duration = Duration::from_millis(250);
/// The gap between two quick retries after [`QUICK_EARLY`], to the end of
/// [`QUICK_WINDOW`]: about thirty more attempts.
pub(crate) const QUICK_MAX_GAP: Duration = Duration::from_millis(25);
/// Quick retries last at most this long into a run of failures (about
/// eighty attempts in all); then the backoff alone spaces the attempts, up
/// to its cap.
pub(crate) const QUICK_WINDOW: Duration = Duration::from_secs(1);
/// The delay varies by up to this fraction either way, so that many pools
/// (or many processes) do not retry in step.
const JITTER: f64 = 0.1;

/// The delay before the next attempt after `failures` failures in a row:
/// 0.25 s, 0.5 s, 1 s, 2 s, 4 s, 8 s, then 10 s, each within 10 % either way.
pub(crate) fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = INITIAL_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    base.mul_f64(1.0 + JITTER * (2.0 * unit_random() - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_a_quarter_second_up_to_the_cap_with_jitter() {
        for (failures, expected) in [
            (1, 0.25),
            (2, 0.5),
            (3, 1.0),
            (4, 2.0),
            (5, 4.0),
            (6, 8.0),
            (7, 10.0),
            (40, 10.0),
        ] {
            let got = delay(failures).as_secs_f64();
            assert!(
                got >= expected * 0.9 - 1e-9 && got <= expected * 1.1 + 1e-9,
                "after {failures} failures: {got} s, expected {expected} s +-10%"
            );
        }
    }

    #[test]
    fn delays_vary() {
        let delays: std::collections::HashSet<_> = (0..20).map(|_| delay(1)).collect();
        assert!(delays.len() > 1, "jitter gave the same delay 20 times");
    }
}
