//! A pooled connection with its bookkeeping.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use deadpool::unmanaged;

use crate::books::Books;
use crate::jitter::unit_random;
use crate::waiters::Waiters;

/// The idle connections: a LIFO stack in deadpool's store. Requests that
/// find it empty wait in [`WaitQueue`], not on the store's semaphore.
pub(crate) type Idle<C> = unmanaged::Pool<Box<Slot<C>>>;
/// A connection taken from the idle stack. Dropping it puts it back on the
/// stack, where a request already waiting would not see it: the pool gives
/// it back through [`Waiters::give`](crate::waiters::Waiters::give).
pub(crate) type IdleObject<C> = unmanaged::Object<Box<Slot<C>>>;
/// The requests waiting for a connection.
pub(crate) type WaitQueue<C> = Waiters<Box<Slot<C>>>;

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

/// Counts one open connection in the pool's size for as long as it lives,
/// whichever way the connection goes (closed, detached, dropped with the
/// pool), so that the count can never leak. The size and idle gauges follow
/// it: a new connection is idle until it is checked out.
pub(crate) struct SizeGuard(Arc<Books>);

impl SizeGuard {
    /// Counts a connection the caller has just booked as open.
    pub(crate) fn new(books: Arc<Books>) -> Self {
        books.metrics.connection_opened();
        Self(books)
    }

    /// The books of the pool the connection belongs to.
    pub(crate) fn books(&self) -> &Arc<Books> {
        &self.0
    }
}

impl Drop for SizeGuard {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
        self.0.connection_closed();
    }
}
