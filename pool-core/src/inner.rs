//! The engine: checkout and return.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool::unmanaged::{self, PoolError};
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::error::{BoxedCause, Error, Exhausted};
use crate::guard::Pooled;
use crate::manager::Manager;
use crate::pool::Pool;
use crate::shared::Shared;
use crate::slot::{CloseReason, Slot};
use crate::stats::{Stats, add_time, bump};

/// The idle connections: a LIFO stack behind deadpool's fair (FIFO) semaphore.
pub(crate) type Idle<C> = unmanaged::Pool<Box<Slot<C>>>;
/// A connection taken from the idle stack; dropping it puts it back.
pub(crate) type IdleObject<C> = unmanaged::Object<Box<Slot<C>>>;
/// The callback run when connects kept failing for `reconnect_timeout`.
pub(crate) type ReconnectFailed<M> = Arc<dyn Fn(&Pool<M>) + Send + Sync>;

/// The state behind every [`Pool`] handle.
pub(crate) struct PoolInner<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: PoolConfig,
    pub(crate) idle: Idle<M::Connection>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) runtime: Handle,
    pub(crate) reconnect_failed: Option<ReconnectFailed<M>>,
}

/// Books the time a queued request waited, however the checkout ends
/// (served, timed out, turned away by close, or dropped).
struct WaitClock<'a> {
    counter: &'a std::sync::atomic::AtomicU64,
    since: Option<Instant>,
}

impl Drop for WaitClock<'_> {
    fn drop(&mut self) {
        if let Some(since) = self.since {
            add_time(self.counter, since.elapsed());
        }
    }
}

/// What the checkout decided about an idle connection.
enum Vetted {
    Usable,
    Close(CloseReason),
    /// The checkout's deadline came before the connection could be checked.
    OutOfTime,
}

/// Counts a request as waiting for as long as it lives, so that a checkout
/// future dropped while it waits is no longer counted.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl<M: Manager> PoolInner<M> {
    /// Hands out an idle connection, waiting at most `timeout` in all.
    pub(crate) async fn checkout(self: &Arc<Self>, timeout: Duration) -> Result<Pooled<M>, Error> {
        let started = Instant::now();
        let deadline = started + timeout;
        let counters = &self.shared.counters;
        bump(&counters.requests_num);
        let mut clock = WaitClock {
            counter: &counters.requests_wait_us,
            since: None,
        };
        loop {
            let mut object = match self.idle.try_get() {
                Ok(object) => object,
                Err(PoolError::Closed) => return Err(self.failed(Error::closed(&self.shared.name))),
                Err(_) => {
                    let waiting = self.shared.waiting.fetch_add(1, Relaxed) + 1;
                    let _waiting = Waiting(&self.shared.waiting);
                    let max_waiting = self.config.max_waiting;
                    if max_waiting > 0 && waiting > max_waiting {
                        let error =
                            Error::too_many_requests(&self.shared.name, waiting - 1, max_waiting);
                        return Err(self.failed(error));
                    }
                    if clock.since.is_none() {
                        clock.since = Some(started);
                        bump(&counters.requests_queued);
                    }
                    // Demand: the maintenance worker opens a connection if
                    // the pool may grow.
                    self.shared.wake.notify_one();
                    match tokio::time::timeout_at(deadline, self.idle.timeout_get(None)).await {
                        Ok(Ok(object)) => object,
                        Ok(Err(_)) => return Err(self.failed(Error::closed(&self.shared.name))),
                        Err(_) => {
                            let waiting = self.shared.waiting.load(Relaxed).saturating_sub(1);
                            let error = self.timeout_error(started.elapsed(), waiting);
                            return Err(self.failed(error));
                        }
                    }
                }
            };
            match self.vet(&mut object, deadline).await {
                Vetted::Usable => {
                    return Ok(Pooled::new(object, Arc::downgrade(self), Instant::now()));
                }
                Vetted::Close(reason) => {
                    self.close(unmanaged::Object::take(object), reason);
                    if Instant::now() >= deadline {
                        return Err(self.failed(self.timeout_error(started.elapsed(), 0)));
                    }
                }
                Vetted::OutOfTime => {
                    // The check was cut short by this checkout's deadline, not
                    // failed: the connection goes back the usual way.
                    let now = Instant::now();
                    self.put_back(object, now);
                    return Err(self.failed(self.timeout_error(now - started, 0)));
                }
            }
        }
    }

    /// Decides whether an idle connection may be handed out, testing it
    /// when the health check policy asks.
    async fn vet(&self, object: &mut IdleObject<M::Connection>, deadline: Instant) -> Vetted {
        let now = Instant::now();
        if self.manager.is_broken(&object.conn) {
            return Vetted::Close(CloseReason::Lost);
        }
        if object.generation != self.shared.generation.load(Relaxed) {
            return Vetted::Close(CloseReason::Drained);
        }
        if object.is_expired(now) {
            return Vetted::Close(CloseReason::Lifetime);
        }
        if !self
            .config
            .health_check
            .is_due(now - object.last_seen_fine())
        {
            return Vetted::Usable;
        }
        if now >= deadline {
            return Vetted::OutOfTime;
        }
        let own_limit = now + self.config.health_check_timeout;
        let check = self.manager.check(&mut object.conn);
        match tokio::time::timeout_at(deadline.min(own_limit), check).await {
            Ok(Ok(())) => {
                object.checked_at = Instant::now();
                Vetted::Usable
            }
            Ok(Err(error)) => {
                tracing::warn!(pool = %self.shared.name, %error, "closing a connection that failed its health check");
                Vetted::Close(CloseReason::CheckFailed)
            }
            Err(_) if own_limit <= deadline => Vetted::Close(CloseReason::CheckFailed),
            Err(_) => Vetted::OutOfTime,
        }
    }

    /// Closes a connection that left the idle stack, counting why.
    pub(crate) fn close(&self, slot: Box<Slot<M::Connection>>, reason: CloseReason) {
        let counters = &self.shared.counters;
        match reason {
            CloseReason::Lost | CloseReason::CheckFailed => bump(&counters.connections_lost),
            CloseReason::BadReturn => bump(&counters.returns_bad),
            _ => {}
        }
        tracing::debug!(pool = %self.shared.name, reason = reason.as_str(), "closing a connection");
        // The slot's size guard books the close and wakes the worker, which
        // refills the pool up to min_size.
        drop(slot);
    }

    fn failed(&self, error: Error) -> Error {
        bump(&self.shared.counters.requests_errors);
        error
    }

    fn timeout_error(&self, waited: Duration, waiting: usize) -> Error {
        let (state, cause) = self.exhausted(waited, waiting);
        Error::timeout(state, cause)
    }

    /// Describes the pool for an error after a wait of `waited`.
    pub(crate) fn exhausted(
        &self,
        waited: Duration,
        waiting: usize,
    ) -> (Exhausted, Option<BoxedCause>) {
        let idle = self.idle.status().available;
        let state = self.shared.lock();
        let exhausted = Exhausted {
            pool: self.shared.name.clone(),
            waited,
            in_use: state.open.saturating_sub(idle),
            open: state.open,
            min_size: state.min_size,
            max_size: state.max_size,
            waiting,
        };
        (exhausted, state.last_error.clone())
    }

    /// Takes back a connection from a caller: keeps it, resets it in the
    /// background, or closes it.
    pub(crate) fn put_back(
        self: &Arc<Self>,
        mut object: IdleObject<M::Connection>,
        checked_out_at: Instant,
    ) {
        let now = Instant::now();
        add_time(&self.shared.counters.usage_us, now - checked_out_at);
        if let Some(reason) = self.must_close(&object, now) {
            self.close(unmanaged::Object::take(object), reason);
            return;
        }
        if self.manager.needs_reset(&object.conn) {
            let slot = unmanaged::Object::take(object);
            let inner = Arc::clone(self);
            self.runtime.spawn(async move { inner.reset(slot).await });
            return;
        }
        object.returned_at = now;
        // Dropping the object puts it back on the idle stack, or closes the
        // connection if the pool is closed.
        drop(object);
    }

    /// Why a returned connection must close rather than be kept, if it must.
    fn must_close(&self, slot: &Slot<M::Connection>, now: Instant) -> Option<CloseReason> {
        if self.manager.is_broken(&slot.conn) {
            Some(CloseReason::BadReturn)
        } else if slot.generation != self.shared.generation.load(Relaxed) {
            Some(CloseReason::Drained)
        } else if slot.is_expired(now) {
            Some(CloseReason::Lifetime)
        } else if self.shared.shrinking.load(Relaxed) && self.over_max_size() {
            Some(CloseReason::Shrunk)
        } else {
            None
        }
    }

    /// Whether the pool holds more connections than `max_size` (after a
    /// resize); clears the shrinking flag once it does not.
    fn over_max_size(&self) -> bool {
        let state = self.shared.lock();
        let over = state.open > state.max_size;
        if !over {
            self.shared.shrinking.store(false, Relaxed);
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
                let _ = self.idle.try_add(slot);
            }
            Ok(Err(error)) => {
                tracing::warn!(pool = %self.shared.name, %error, "closing a returned connection: its reset failed");
                self.close(slot, CloseReason::BadReturn);
            }
            Err(_) => {
                tracing::warn!(
                    pool = %self.shared.name,
                    reset_timeout = ?self.config.reset_timeout,
                    "closing a returned connection: its reset took longer than reset_timeout"
                );
                self.close(slot, CloseReason::BadReturn);
            }
        }
    }

    /// Closes the pool: waiters fail, idle connections close now, connections
    /// in use close when they come back, and nothing connects again.
    pub(crate) fn shut(&self) {
        self.shared.lock().closed = true;
        self.idle.close();
        self.shared.wake.notify_one();
        self.shared.progress.notify_waiters();
    }

    pub(crate) fn stats(&self, reset: bool) -> Stats {
        let mut stats = Stats::default();
        {
            let state = self.shared.lock();
            stats.pool_min = state.min_size;
            stats.pool_max = state.max_size;
            stats.pool_size = state.open + state.connecting;
        }
        stats.pool_available = self.idle.status().available;
        stats.requests_waiting = self.shared.waiting.load(Relaxed);
        self.shared.counters.fill(&mut stats, reset);
        stats
    }
}

impl<M: Manager> Drop for PoolInner<M> {
    fn drop(&mut self) {
        self.shut();
    }
}

/// A weak link from a guard back to its pool.
pub(crate) type WeakInner<M> = Weak<PoolInner<M>>;
