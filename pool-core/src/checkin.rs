//! Return: a connection comes back from its user and is kept, reset in
//! the background first, or closed.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use deadpool::unmanaged;
use tokio::time::Instant;

use crate::close_reason::CloseReason;
use crate::inner::PoolInner;
use crate::manager::Manager;
use crate::slot::{IdleObject, Slot};
use crate::stats::bump;

impl<M: Manager> PoolInner<M> {
    /// Takes back a connection from a caller: keeps it, resets it in the
    /// background, or closes it.
    pub(crate) fn put_back(
        self: &Arc<Self>,
        object: IdleObject<M::Connection>,
        checked_out_at: Instant,
    ) {
        let now = Instant::now();
        let held = now - checked_out_at;
        self.books.counters.usage_us.add_time(held);
        self.books.metrics.usage_time(held);
        self.put_back_unused(object, now);
    }

    /// Keeps, resets or closes a connection that comes back at `now`.
    pub(crate) fn put_back_unused(
        self: &Arc<Self>,
        mut object: IdleObject<M::Connection>,
        now: Instant,
    ) {
        if let Some(reason) = self.must_close(&object, now) {
            self.close(unmanaged::Object::take(object), reason);
            return;
        }
        if self.manager.needs_reset(&object.conn) {
            bump(&self.books.counters.returns_reset);
            let slot = unmanaged::Object::take(object);
            let inner = Arc::clone(self);
            self.runtime.spawn(async move { inner.reset(slot).await });
            return;
        }
        object.returned_at = now;
        // To the first request waiting, or back on the idle stack (or
        // closed if the pool is closed).
        self.waiters.give(&self.idle, object);
    }

    /// Why a returned connection must close rather than be kept, if it must.
    fn must_close(&self, slot: &Slot<M::Connection>, now: Instant) -> Option<CloseReason> {
        if self.manager.is_broken(&slot.conn) {
            Some(CloseReason::ReturnedBroken)
        } else if slot.generation != self.books.generation.load(Relaxed) {
            Some(CloseReason::Drained)
        } else if slot.is_expired(now) {
            Some(CloseReason::Lifetime)
        } else if self.books.shrinking.load(Relaxed) && self.over_max_size() {
            Some(CloseReason::Shrunk)
        } else if self.config.null_pool {
            Some(CloseReason::NullPool)
        } else {
            None
        }
    }

    /// Whether the pool holds more connections than `max_size` (after a
    /// resize); clears the shrinking flag once it does not.
    fn over_max_size(&self) -> bool {
        let state = self.books.lock();
        let over = state.open > state.max_size;
        if !over {
            self.books.shrinking.store(false, Relaxed);
        }
        over
    }

    /// Resets a returned connection, then keeps or closes it.
    async fn reset(self: Arc<Self>, mut slot: Box<Slot<M::Connection>>) {
        let outcome = tokio::time::timeout(
            self.config.reset_timeout,
            self.manager.reset(&mut slot.conn),
        )
        .await;
        match outcome {
            Ok(Ok(())) => {
                let now = Instant::now();
                if let Some(reason) = self.must_close(&slot, now) {
                    self.close(slot, reason);
                    return;
                }
                slot.returned_at = now;
                // Fails only when the pool is closed; the connection then closes.
                if self.idle.try_add(slot).is_ok() {
                    self.waiters.serve_from(&self.idle);
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(pool = %self.books.name, %error, "closing a returned connection: its reset failed");
                self.close(slot, CloseReason::ResetFailed);
            }
            Err(_) => {
                tracing::warn!(
                    pool = %self.books.name,
                    reset_timeout = ?self.config.reset_timeout,
                    "closing a returned connection: its reset took longer than reset_timeout"
                );
                self.close(slot, CloseReason::ResetFailed);
            }
        }
    }

    /// Closes a connection that left the idle stack, counting why.
    pub(crate) fn close(&self, slot: Box<Slot<M::Connection>>, reason: CloseReason) {
        self.books.counters.closed(reason);
        self.books.metrics.closed(reason);
        tracing::debug!(
            pool = %self.books.name,
            reason = reason.label(),
            "closing a connection: {}",
            reason.as_str()
        );
        // The slot's size guard books the close and wakes the worker, which
        // refills the pool up to min_size.
        drop(slot);
    }
}
