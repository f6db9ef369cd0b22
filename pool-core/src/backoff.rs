//! Delays between failed connection attempts.

use std::time::Duration;

use crate::jitter::unit_random;

/// The delay before the first retry after a failed connect.
pub(crate) const INITIAL_DELAY: Duration = Duration::from_secs(1);
/// The longest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);
/// The delay varies by up to this fraction either way, so that many pools
/// (or many processes) do not retry in step.
const JITTER: f64 = 0.1;

/// The delay before the next attempt after `failures` failures in a row:
/// 1 s, 2 s, 4 s, 8 s, then 10 s, each within 10 % either way.
pub(crate) fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = INITIAL_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    base.mul_f64(1.0 + JITTER * (2.0 * unit_random() - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_one_second_up_to_the_cap_with_jitter() {
        for (failures, expected) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (4, 8.0),
            (5, 10.0),
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
