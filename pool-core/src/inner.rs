//! The engine: checkout and return.

use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool::unmanaged::{self, PoolError};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{Instrument, Span, field};

use crate::config::PoolConfig;
use crate::error::{BoxedCause, Error, Exhausted, Secs};
use crate::guard::Pooled;
use crate::manager::Manager;
use crate::pool::Pool;
use crate::shared::Shared;
use crate::slot::{CloseReason, Slot};
use crate::stats::{Stats, add_time, bump};
use crate::waiters::{Ended, UntilDeadline, Waited};

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

impl WaitClock<'_> {
    /// Books the wait as ended at `now`.
    fn stop(mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            add_time(self.counter, now - since);
        }
    }
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
    /// It may be handed out as it is.
    Usable,
    /// It passed a health check, which took time.
    Checked,
    Close(CloseReason),
    /// The checkout's deadline came before the connection could be checked.
    OutOfTime,
}

/// Counts a request as waiting for as long as it lives, so that a checkout
/// future dropped while it waits is no longer counted. Once the request is
/// accepted into the queue, it is also counted in the pending gauge. (Its
/// wait enters it in the pool's waiters: see [`UntilDeadline`].)
struct Waiting<'a> {
    shared: &'a Shared,
    accepted: bool,
}

impl<'a> Waiting<'a> {
    /// Counts one more request waiting; returns the guard and how many wait
    /// now, this one included.
    fn count(shared: &'a Shared) -> (Self, usize) {
        let waiting = shared.waiting.fetch_add(1, Relaxed) + 1;
        (
            Self {
                shared,
                accepted: false,
            },
            waiting,
        )
    }

    /// Counts the request in the pending gauge.
    fn accept(&mut self) {
        self.accepted = true;
        self.shared.metrics.pending(1.0);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.accepted {
            self.shared.metrics.pending(-1.0);
        }
        self.shared.waiting.fetch_sub(1, Relaxed);
    }
}

/// Milliseconds, with a fraction, for trace fields.
fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

impl<M: Manager> PoolInner<M> {
    /// Hands out an idle connection, waiting at most `timeout` in all, and
    /// keeps the books of the checkout: stats, metrics, its span and
    /// warnings. `caller` is where the checkout was asked for.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        timeout: Duration,
        caller: &'static Location<'static>,
    ) -> Result<Pooled<M>, Error> {
        let started = Instant::now();
        bump(&self.shared.counters.requests_num);
        let span = tracing::debug_span!(
            "checkout",
            pool = %self.shared.name,
            wait_ms = field::Empty,
            outcome = field::Empty,
        );
        let deadline = started + timeout;
        let counters = &self.shared.counters;
        let mut clock = WaitClock {
            counter: &counters.requests_wait_us,
            since: None,
        };
        // The time now, while nothing has awaited since it was read: the
        // clock is read as little as possible (on some virtual machines a
        // read costs as much as the rest of a checkout).
        let mut now = Some(started);
        // The loop is written out here, not in a function of its own: a
        // nested future would be moved (copied) on every checkout.
        let result = loop {
            let mut object = match self.idle.try_get() {
                Ok(object) => object,
                Err(PoolError::Closed) => break Err(Error::closed(&self.shared.name)),
                Err(_) => {
                    let (mut waiting_guard, waiting) = Waiting::count(&self.shared);
                    let max_waiting = self.config.max_waiting;
                    if max_waiting > 0 && waiting > max_waiting {
                        break Err(Error::too_many_requests(
                            &self.shared.name,
                            waiting - 1,
                            max_waiting,
                        ));
                    }
                    waiting_guard.accept();
                    if clock.since.is_none() {
                        clock.since = Some(started);
                        bump(&counters.requests_queued);
                    }
                    // The maintenance worker watches the deadlines, and on
                    // demand opens a connection if the pool may grow. A full
                    // pool has nothing to open, and every change that makes
                    // room wakes the worker, which then sees this request
                    // counted as waiting.
                    if self.has_room() {
                        self.shared.wake.notify_one();
                    }
                    now = None;
                    let acquire = std::pin::pin!(self.idle.timeout_get(None));
                    let wait = UntilDeadline::new(
                        acquire,
                        &self.shared.waiters,
                        &self.shared.wake,
                        started,
                        deadline,
                    );
                    // Entering a span at every poll costs even when nothing
                    // listens: the wait runs in it only when it is enabled.
                    let waited = if span.is_disabled() {
                        wait.await
                    } else {
                        wait.instrument(span.clone()).await
                    };
                    match waited {
                        Waited::Ready(Ok(object)) => object,
                        Waited::Ready(Err(_)) => break Err(Error::closed(&self.shared.name)),
                        Waited::Ended(Ended::Expired) => {
                            let waiting = self.shared.waiting.load(Relaxed).saturating_sub(1);
                            break Err(self.timeout_error(started.elapsed(), waiting));
                        }
                        Waited::Ended(Ended::ConnectFailed(cause)) => {
                            break Err(Error::connect_failed(
                                &self.shared.name,
                                started.elapsed(),
                                cause,
                            ));
                        }
                    }
                }
            };
            let at = *now.get_or_insert_with(Instant::now);
            match self.vet(&mut object, at, deadline, &span).await {
                Vetted::Usable => break Ok(object),
                Vetted::Checked => {
                    // The check took time: the clock must be read again.
                    now = None;
                    break Ok(object);
                }
                Vetted::Close(reason) => {
                    span.in_scope(|| self.close(unmanaged::Object::take(object), reason));
                    now = None;
                    if Instant::now() >= deadline {
                        break Err(self.timeout_error(started.elapsed(), 0));
                    }
                }
                Vetted::OutOfTime => {
                    // The check was cut short by this checkout's deadline, not
                    // failed: the connection goes back the usual way.
                    let now = Instant::now();
                    self.put_back_unused(object, now);
                    break Err(self.timeout_error(now - started, 0));
                }
            }
        };
        let now = now.unwrap_or_else(Instant::now);
        clock.stop(now);
        let waited = now - started;
        let metrics = &self.shared.metrics;
        let outcome = match &result {
            Ok(_) => {
                metrics.acquired.increment(1);
                metrics.acquire_time(waited);
                if let Some(threshold) = self.config.slow_checkout_warning
                    && waited >= threshold
                {
                    span.in_scope(|| self.warn_slow(waited, threshold, caller));
                }
                "ok"
            }
            Err(error) => {
                bump(&counters.requests_errors);
                if error.is_too_many_requests() {
                    bump(&counters.requests_rejected);
                    metrics.rejected.increment(1);
                    span.in_scope(|| self.warn_rejected());
                    "rejected"
                } else if error.is_timeout() {
                    bump(&counters.requests_timeouts);
                    metrics.timeouts.increment(1);
                    metrics.acquire_time(waited);
                    "timeout"
                } else if error.is_connect() {
                    metrics.acquire_time(waited);
                    "connect_failed"
                } else {
                    metrics.acquire_time(waited);
                    "closed"
                }
            }
        };
        if !span.is_disabled() {
            span.record("wait_ms", millis(waited));
            span.record("outcome", outcome);
        }
        let object = result?;
        let leak_watch = self
            .config
            .leak_detection_threshold
            .map(|threshold| self.watch_for_leak(threshold, now, caller));
        Ok(Pooled::new(object, Arc::downgrade(self), now, leak_watch))
    }

    /// Warns that a checkout waited `waited`, longer than the pool's
    /// `slow_checkout_warning`; at most once per second per pool.
    fn warn_slow(&self, waited: Duration, threshold: Duration, caller: &Location<'_>) {
        let Some(slow_checkouts) = self.shared.slow_checkouts.hit() else {
            return;
        };
        tracing::warn!(
            pool = %self.shared.name,
            wait_ms = millis(waited),
            caller = %caller,
            slow_checkouts,
            "a checkout at {caller} waited {} for a connection, longer than \
             slow_checkout_warning ({}); slow checkouts since the last warning: \
             {slow_checkouts}. The pool is too small for the load or connections are held \
             too long: raise max_size, or hold connections for shorter times",
            Secs(waited),
            Secs(threshold),
        );
    }

    /// Warns that a checkout was turned away because the queue was full; at
    /// most once per second per pool.
    fn warn_rejected(&self) {
        let Some(rejected) = self.shared.rejections.hit() else {
            return;
        };
        let max_waiting = self.config.max_waiting;
        tracing::warn!(
            pool = %self.shared.name,
            max_waiting,
            rejected,
            "the queue is full ({max_waiting} requests waiting, max_waiting); checkouts \
             turned away since the last warning: {rejected}. Raise max_size or max_waiting, \
             or shed load earlier",
        );
    }

    /// Starts the timer that warns when a connection checked out at `caller`
    /// is still held after `threshold` (`leak_detection_threshold`).
    fn watch_for_leak(
        &self,
        threshold: Duration,
        checked_out_at: Instant,
        caller: &'static Location<'static>,
    ) -> AbortHandle {
        let shared = Arc::clone(&self.shared);
        let task = self.runtime.spawn(async move {
            tokio::time::sleep_until(checked_out_at + threshold).await;
            let held = checked_out_at.elapsed();
            tracing::warn!(
                pool = %shared.name,
                held_ms = millis(held),
                checked_out_at = %caller,
                "a connection checked out at {caller} has been held for {}, longer than \
                 leak_detection_threshold ({}); it may have leaked: drop the guard as soon \
                 as the work is done",
                Secs(held),
                Secs(threshold),
            );
        });
        task.abort_handle()
    }

    /// Decides whether an idle connection may be handed out, testing it
    /// when the health check policy asks.
    /// `now` is the time now, read by the caller.
    async fn vet(
        &self,
        object: &mut IdleObject<M::Connection>,
        now: Instant,
        deadline: Instant,
        span: &Span,
    ) -> Vetted {
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
        let check = tokio::time::timeout_at(deadline.min(own_limit), check);
        match check.instrument(span.clone()).await {
            Ok(Ok(())) => {
                object.checked_at = Instant::now();
                Vetted::Checked
            }
            Ok(Err(error)) => {
                span.in_scope(|| {
                    tracing::warn!(
                        pool = %self.shared.name,
                        %error,
                        "closing a connection that failed its health check"
                    );
                });
                Vetted::Close(CloseReason::CheckFailed)
            }
            Err(_) if own_limit <= deadline => Vetted::Close(CloseReason::CheckFailed),
            Err(_) => Vetted::OutOfTime,
        }
    }

    /// Closes a connection that left the idle stack, counting why.
    pub(crate) fn close(&self, slot: Box<Slot<M::Connection>>, reason: CloseReason) {
        self.shared.counters.closed(reason);
        self.shared.metrics.closed(reason);
        tracing::debug!(
            pool = %self.shared.name,
            reason = reason.label(),
            "closing a connection: {}",
            reason.as_str()
        );
        // The slot's size guard books the close and wakes the worker, which
        // refills the pool up to min_size.
        drop(slot);
    }

    fn timeout_error(&self, waited: Duration, waiting: usize) -> Error {
        let (state, cause) = self.exhausted(waited, waiting);
        Error::timeout(state, cause)
    }

    /// Whether the pool may open another connection (it is below
    /// `max_size`, counting connects in progress).
    fn has_room(&self) -> bool {
        let state = self.shared.lock();
        !state.closed && state.open + state.connecting < state.max_size
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
        object: IdleObject<M::Connection>,
        checked_out_at: Instant,
    ) {
        let now = Instant::now();
        let held = now - checked_out_at;
        add_time(&self.shared.counters.usage_us, held);
        self.shared.metrics.usage_time(held);
        self.put_back_unused(object, now);
    }

    /// Keeps, resets or closes a connection that comes back at `now`.
    fn put_back_unused(self: &Arc<Self>, mut object: IdleObject<M::Connection>, now: Instant) {
        if let Some(reason) = self.must_close(&object, now) {
            self.close(unmanaged::Object::take(object), reason);
            return;
        }
        if self.manager.needs_reset(&object.conn) {
            bump(&self.shared.counters.returns_reset);
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
            Some(CloseReason::ReturnedBroken)
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
                self.close(slot, CloseReason::ResetFailed);
            }
            Err(_) => {
                tracing::warn!(
                    pool = %self.shared.name,
                    reset_timeout = ?self.config.reset_timeout,
                    "closing a returned connection: its reset took longer than reset_timeout"
                );
                self.close(slot, CloseReason::ResetFailed);
            }
        }
    }

    /// Closes the pool: waiters fail, idle connections close now, connections
    /// in use close when they come back, and nothing connects again.
    pub(crate) fn shut(&self) {
        {
            let mut state = self.shared.lock();
            if !std::mem::replace(&mut state.closed, true) {
                // A closed pool has no sizes to report.
                self.shared
                    .metrics
                    .sizes_changed(-(state.min_size as f64), -(state.max_size as f64));
            }
        }
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
        stats.requests_max_wait_ms =
            u64::try_from(self.shared.waiters.longest_wait(Instant::now()).as_millis())
                .unwrap_or(u64::MAX);
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
