//! Work on the idle connections as a whole: the periodic sweep (lifetimes,
//! idle time), `check()`, `drain()` and `resize()`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use deadpool::unmanaged::Object;
use tokio::time::Instant;

use crate::close_reason::CloseReason;
use crate::config::{validate_null_pool, validate_sizes};
use crate::error::Error;
use crate::inner::PoolInner;
use crate::manager::Manager;
use crate::slot::IdleObject;

/// The longest time between two sweeps.
const MAX_SWEEP_PERIOD: Duration = Duration::from_secs(30);
/// The shortest time between two sweeps.
const MIN_SWEEP_PERIOD: Duration = Duration::from_millis(100);
/// How long a null pool lets a connection idle: one opened for a request
/// that another connection served closes after this.
const NULL_POOL_MAX_IDLE: Duration = Duration::from_millis(100);

/// Hands idle connections to the requests waiting when dropped.
struct ServeWaiting<'a, M: Manager>(&'a PoolInner<M>);

impl<M: Manager> Drop for ServeWaiting<'_, M> {
    fn drop(&mut self) {
        self.0.waiters.serve_from(&self.0.idle);
    }
}

impl<M: Manager> PoolInner<M> {
    /// Takes every idle connection off the stack, the most recently returned
    /// first. Requests that arrive meanwhile wait, and are served as the
    /// connections are put back.
    fn take_idle(&self) -> Vec<IdleObject<M::Connection>> {
        let mut taken = Vec::new();
        while let Ok(object) = self.idle.try_get() {
            taken.push(object);
        }
        taken
    }

    /// Puts connections taken by [`take_idle`](Self::take_idle) back in
    /// their order.
    fn put_back_idle(&self, mut taken: Vec<IdleObject<M::Connection>>) {
        // The last one taken was at the bottom of the stack: it goes back
        // first. A request that waits meanwhile is served in turn.
        while let Some(object) = taken.pop() {
            self.waiters.give(&self.idle, object);
        }
    }

    /// How often the worker sweeps the idle connections: often enough to
    /// honour `max_idle` and `max_lifetime` closely, rarely enough to cost
    /// nothing.
    pub(crate) fn sweep_period(&self) -> Option<Duration> {
        let shortest = [self.max_idle(), self.config.max_lifetime]
            .into_iter()
            .flatten()
            .min()?;
        Some((shortest / 4).clamp(MIN_SWEEP_PERIOD, MAX_SWEEP_PERIOD))
    }

    /// `max_idle`, or a short grace in a null pool, which keeps no
    /// connection.
    fn max_idle(&self) -> Option<Duration> {
        if self.config.null_pool {
            Some(NULL_POOL_MAX_IDLE)
        } else {
            self.config.max_idle
        }
    }

    /// Closes idle connections found broken, past their lifetime, drained
    /// ones, and those
    /// idle longer than `max_idle` while the pool holds more than
    /// `min_size` (the longest idle first).
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let generation = self.books.generation.load(Relaxed);
        let mut taken = self.take_idle();
        let (mut open, min_size) = {
            let state = self.books.lock();
            (state.open, state.min_size)
        };
        let mut kept = Vec::with_capacity(taken.len());
        // From the bottom of the stack: the longest idle first.
        while let Some(object) = taken.pop() {
            let reason = if self.manager.is_broken(&object.conn) {
                Some(CloseReason::Lost)
            } else if object.generation != generation {
                Some(CloseReason::Drained)
            } else if object.is_expired(now) {
                Some(CloseReason::Lifetime)
            } else if open > min_size
                && self
                    .max_idle()
                    .is_some_and(|max_idle| now - object.returned_at >= max_idle)
            {
                Some(CloseReason::Idle)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    open = open.saturating_sub(1);
                    self.close(Object::take(object), reason);
                }
                None => kept.push(object),
            }
        }
        kept.reverse();
        self.put_back_idle(kept);
    }

    /// Tests every idle connection now, closing those that fail; returns
    /// how many were closed.
    pub(crate) async fn check_idle(self: &Arc<Self>) -> usize {
        // Declared first, dropped last: if the check is dropped midway, the
        // connections not yet checked go back on the stack, and then to the
        // requests waiting.
        let _serve = ServeWaiting(self);
        let taken = self.take_idle();
        let mut closed = 0;
        for mut object in taken {
            let failed = if self.manager.is_broken(&object.conn) {
                Some(CloseReason::Lost)
            } else {
                let check = tokio::time::timeout(
                    self.config.health_check_timeout,
                    self.manager.check(&mut object.conn),
                );
                match check.await {
                    Ok(Ok(())) => None,
                    _ => Some(CloseReason::CheckFailed),
                }
            };
            match failed {
                None => {
                    // The idle clock (max_idle) goes on: a check is not a use.
                    object.checked_at = Instant::now();
                    self.waiters.give(&self.idle, object);
                }
                Some(reason) => {
                    closed += 1;
                    self.close(Object::take(object), reason);
                }
            }
        }
        closed
    }

    /// Retires every connection: idle ones close now, those in use when
    /// they are returned, and the worker opens new ones.
    pub(crate) fn drain(&self) {
        self.books.generation.fetch_add(1, Relaxed);
        self.sweep();
        self.books.wake.notify_one();
    }

    /// Changes the pool's sizes at run time.
    pub(crate) fn resize(&self, min_size: usize, max_size: usize) -> Result<(), Error> {
        validate_sizes(min_size, max_size).map_err(Error::config)?;
        validate_null_pool(self.config.null_pool, min_size).map_err(Error::config)?;
        let excess = {
            let mut state = self.books.lock();
            if !state.closed {
                // Under the lock, so that concurrent resizes add up.
                self.books.metrics.sizes_changed(
                    min_size as f64 - state.min_size as f64,
                    max_size as f64 - state.max_size as f64,
                );
            }
            state.min_size = min_size;
            state.max_size = max_size;
            self.books.max_size.store(max_size, Relaxed);
            state.open.saturating_sub(max_size)
        };
        if excess > 0 {
            self.books.shrinking.store(true, Relaxed);
            let mut taken = self.take_idle();
            // Close the longest idle (the bottom of the stack) first.
            let keep = taken.len().saturating_sub(excess);
            for object in taken.drain(keep..) {
                self.close(Object::take(object), CloseReason::Shrunk);
            }
            self.put_back_idle(taken);
        }
        self.books.wake.notify_one();
        self.books.progress.notify_waiters();
        Ok(())
    }

    /// Waits until every connection has closed (after [`shut`](Self::shut)),
    /// at most until `deadline`; returns how many are still open.
    pub(crate) async fn wait_all_closed(&self, deadline: Instant) -> usize {
        loop {
            let progress = self.books.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let remaining = {
                let state = self.books.lock();
                state.open + state.connecting
            };
            if remaining == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, progress).await.is_err() {
                return remaining;
            }
        }
    }
}
