//! A pooled connection with its bookkeeping.

use std::sync::Arc;
use tokio::time::Instant;

use crate::shared::Shared;

/// A connection as the pool keeps it: the connection, when it was made and
/// last returned, and the guard that counts it in the pool's size.
pub(crate) struct Slot<C> {
    pub(crate) conn: C,
    pub(crate) created_at: Instant,
    pub(crate) returned_at: Instant,
    pub(crate) _size: SizeGuard,
}

/// Counts one open connection in the pool's size for as long as it lives,
/// whichever way the connection goes (closed, detached, dropped with the
/// pool), so that the count can never leak.
pub(crate) struct SizeGuard(pub(crate) Arc<Shared>);

impl Drop for SizeGuard {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}
