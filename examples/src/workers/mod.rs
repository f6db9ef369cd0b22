//! Bounded workers.
