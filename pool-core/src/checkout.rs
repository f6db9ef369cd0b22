//! Checkout: a request takes an idle connection, or waits in the queue
//! for one until its deadline; the connection is vetted (lifetime, drain,
//! health check) before it is handed out, and the outcome is booked.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use deadpool::unmanaged::{self, PoolError};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{Instrument, Span, field};

use crate::books::Books;
use crate::close_reason::CloseReason;
use crate::error::{Error, Secs};
use crate::guard::Pooled;
use crate::inner::PoolInner;
use crate::manager::Manager;
use crate::slot::IdleObject;
use crate::stats::bump;
use crate::striped::Striped;
use crate::waiters::{Ended, Handoff};

/// Books the time a queued request waited, however the checkout ends
/// (served, timed out, turned away by close, or dropped).
struct WaitClock<'a> {
    counter: &'a Striped,
    since: Option<Instant>,
}

impl WaitClock<'_> {
    /// Books the wait as ended at `now`.
    fn stop(mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.counter.add_time(now - since);
        }
    }
}

impl Drop for WaitClock<'_> {
    fn drop(&mut self) {
        if let Some(since) = self.since {
            self.counter.add_time(since.elapsed());
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
/// wait enters it in the pool's waiters: see [`Handoff`].)
struct Waiting<'a> {
    books: &'a Books,
    /// Counted exactly: `max_waiting` bounds the queue.
    exact: bool,
    accepted: bool,
}

impl<'a> Waiting<'a> {
    /// Counts one more request waiting; returns the guard and, when
    /// `exact` (the queue is bounded), how many wait now, this one
    /// included.
    fn count(books: &'a Books, exact: bool) -> (Self, usize) {
        let waiting = books.waiting.enter(exact);
        (
            Self {
                books,
                exact,
                accepted: false,
            },
            waiting,
        )
    }

    /// Counts the request in the pending gauge.
    fn accept(&mut self) {
        self.accepted = true;
        self.books.metrics.pending(1.0);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.accepted {
            self.books.metrics.pending(-1.0);
        }
        self.books.waiting.leave(self.exact);
    }
}

/// A connection the checkout holds while it vets it: if the checkout is
/// dropped meanwhile (during a health check), the connection goes back to
/// the pool, to the first request waiting.
struct Vetting<'a, M: Manager> {
    pool: &'a PoolInner<M>,
    /// `Some` until [`done`](Self::done).
    object: Option<IdleObject<M::Connection>>,
}

impl<M: Manager> Vetting<'_, M> {
    fn object_mut(&mut self) -> &mut IdleObject<M::Connection> {
        // Invariant: `object` is only taken by `done`, which consumes self.
        self.object
            .as_mut()
            .expect("a connection being vetted is held")
    }

    fn done(mut self) -> IdleObject<M::Connection> {
        // Invariant: see `object_mut`.
        self.object
            .take()
            .expect("a connection being vetted is held")
    }
}

impl<M: Manager> Drop for Vetting<'_, M> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            self.pool.waiters.give(&self.pool.idle, object);
        }
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
        self.books.counters.requests_num.bump();
        let span = tracing::debug_span!(
            "checkout",
            pool = %self.books.name,
            wait_ms = field::Empty,
            outcome = field::Empty,
        );
        let deadline = started + timeout;
        let counters = &self.books.counters;
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
            // While requests wait, a new one goes behind them.
            let idle = if self.waiters.none_waiting() {
                self.idle.try_get()
            } else {
                Err(PoolError::Timeout)
            };
            let object = match idle {
                Ok(object) => object,
                Err(PoolError::Closed) => break Err(Error::closed(&self.books.name)),
                Err(_) => {
                    let max_waiting = self.config.max_waiting;
                    let (mut waiting_guard, waiting) = Waiting::count(&self.books, max_waiting > 0);
                    if max_waiting > 0 && waiting > max_waiting {
                        break Err(Error::too_many_requests(
                            &self.books.name,
                            waiting - 1,
                            max_waiting,
                        ));
                    }
                    waiting_guard.accept();
                    if clock.since.is_none() {
                        clock.since = Some(started);
                        counters.requests_queued.bump();
                    }
                    // The maintenance worker watches the deadlines, and on
                    // demand opens a connection if the pool may grow. A full
                    // pool has nothing to open, and every change that makes
                    // room wakes the worker, which then sees this request
                    // counted as waiting. (The hint takes no lock; the
                    // worker decides under it.)
                    if self.may_grow() {
                        self.books.wake.notify_one();
                    }
                    now = None;
                    let wait = Handoff::new(
                        &self.waiters,
                        &self.idle,
                        &self.books.wake,
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
                        Ok(object) => object,
                        Err(Ended::Closed) => break Err(Error::closed(&self.books.name)),
                        Err(Ended::Expired) => {
                            let waiting = self.books.waiting.load().saturating_sub(1);
                            break Err(self.timeout_error(started.elapsed(), waiting));
                        }
                        Err(Ended::ConnectFailed(cause)) => {
                            break Err(Error::connect_failed(
                                &self.books.name,
                                started.elapsed(),
                                cause,
                            ));
                        }
                    }
                }
            };
            let at = *now.get_or_insert_with(Instant::now);
            let mut vetting = Vetting {
                pool: self,
                object: Some(object),
            };
            let vetted = self.vet(vetting.object_mut(), at, deadline, &span).await;
            let object = vetting.done();
            match vetted {
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
        self.book(&result, now - started, &span, caller);
        let object = result?;
        let leak_watch = self
            .config
            .leak_detection_threshold
            .map(|threshold| self.watch_for_leak(threshold, now, caller));
        Ok(Pooled::new(object, Arc::clone(self), now, leak_watch))
    }

    /// Books how a checkout ended after waiting `waited`: the counters,
    /// the metrics, the span's fields and the warnings.
    fn book(
        &self,
        result: &Result<IdleObject<M::Connection>, Error>,
        waited: Duration,
        span: &Span,
        caller: &Location<'_>,
    ) {
        let counters = &self.books.counters;
        let metrics = &self.books.metrics;
        let outcome = match result {
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
    }

    /// Warns that a checkout waited `waited`, longer than the pool's
    /// `slow_checkout_warning`; at most once per second per pool.
    fn warn_slow(&self, waited: Duration, threshold: Duration, caller: &Location<'_>) {
        let Some(slow_checkouts) = self.books.slow_checkouts.hit() else {
            return;
        };
        tracing::warn!(
            pool = %self.books.name,
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
        let Some(rejected) = self.books.rejections.hit() else {
            return;
        };
        let max_waiting = self.config.max_waiting;
        tracing::warn!(
            pool = %self.books.name,
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
        let books = Arc::clone(&self.books);
        let task = self.runtime.spawn(async move {
            tokio::time::sleep_until(checked_out_at + threshold).await;
            let held = checked_out_at.elapsed();
            tracing::warn!(
                pool = %books.name,
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
        if object.generation != self.books.generation.load(Relaxed) {
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
                        pool = %self.books.name,
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
}
