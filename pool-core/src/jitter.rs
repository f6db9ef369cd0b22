//! A little randomness, so that connections and pools do not act in step.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A number in [0, 1), random enough for jitter (not for anything secret).
pub(crate) fn unit_random() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}
