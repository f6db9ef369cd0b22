//! The pool's background worker, one task per pool, and its jobs:
//!
//! - **Opening connections.** Callers never connect: they wait for an idle
//!   connection, and whichever comes first serves them, one returned by
//!   another caller or one this worker opened. The worker opens
//!   connections while the pool is below `min_size`, or while more
//!   requests wait than connections are being opened, never more than
//!   `max_connecting` at once, and backs off after failures (reporting a
//!   run of failures longer than `reconnect_timeout` once). A pool that
//!   lost every connection retries quickly while requests wait, in the
//!   first second of the outage (a restart, a failover), one attempt at a
//!   time; a pool that never connected, or whose error retrying cannot
//!   fix, only backs off.
//! - **Ending waits.** It sleeps until the earliest deadline of the
//!   requests waiting and ends those whose deadline passed (a timeout);
//!   a connect failing with an error that waiting cannot fix, while the
//!   pool has no connection, ends every wait at once.
//! - **Sweeping.** Every few seconds it closes idle connections past
//!   `max_lifetime`, idle above `min_size` longer than `max_idle`, or
//!   found broken (see `lifecycle.rs`).
//!
//! It stops when the pool closes or the last handle to it is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use std::{error::Error as StdError, fmt};
use tokio::time::Instant;

use std::sync::atomic::Ordering::Relaxed;
use tracing::{Instrument, field};

use crate::backoff;
use crate::books::{Books, State};
use crate::error::BoxedCause;
use crate::inner::PoolInner;
use crate::manager::Manager;
use crate::slot::{SizeGuard, Slot};
use crate::stats::{add_time, bump};

/// Starts the worker of a new pool. It stops when the pool closes or the
/// last handle to it is dropped.
pub(crate) fn spawn<M: Manager>(inner: &Arc<PoolInner<M>>) {
    let weak = Arc::downgrade(inner);
    let books = Arc::clone(&inner.books);
    inner.runtime.spawn(run(weak, books));
}

async fn run<M: Manager>(pool: Weak<PoolInner<M>>, books: Arc<Books>) {
    let mut next_sweep = None;
    loop {
        let wake_at = {
            let Some(inner) = pool.upgrade() else { return };
            if books.is_closed() {
                return;
            }
            let now = Instant::now();
            // A sweep asked for by the manager (a connection it now calls
            // broken), or the periodic one when it is due.
            let mut sweep = books.sweep_requested.swap(false, Relaxed);
            if let Some(period) = inner.sweep_period() {
                let due = *next_sweep.get_or_insert(now + period);
                if due <= now {
                    sweep = true;
                    next_sweep = Some(now + period);
                }
            }
            if sweep {
                inner.sweep();
            }
            // Requests past their deadline give up; the next deadline is
            // when to look again.
            let deadline = inner.waiters.expire(now);
            let retry_at = start_connects(&inner);
            [retry_at, next_sweep, deadline].into_iter().flatten().min()
        };
        match wake_at {
            Some(at) => {
                tokio::select! {
                    () = books.wake.notified() => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => books.wake.notified().await,
        }
    }
}

/// Starts as many connects as the pool needs and allows. Returns when to
/// look again if a backoff holds connects back.
fn start_connects<M: Manager>(inner: &Arc<PoolInner<M>>) -> Option<Instant> {
    // A request counts as waiting until it runs again, also after a
    // connection was handed to it: those are served.
    let waiting = inner
        .books
        .waiting
        .load()
        .saturating_sub(inner.waiters.handed());
    let idle = inner.idle.status().available;
    let now = Instant::now();
    let mut state = inner.books.lock();
    while !state.closed && state.connecting < inner.config.max_connecting {
        let total = state.open + state.connecting;
        let below_min = total < state.min_size;
        let unserved = waiting > state.connecting + idle;
        if total >= state.max_size || !(below_min || unserved) {
            break;
        }
        if let Some(at) = retry_at(&state, waiting, now).filter(|at| *at > now) {
            return Some(at);
        }
        // While connects fail, one attempt at a time probes the server.
        if state.failures > 0 && state.connecting > 0 {
            break;
        }
        state.connecting += 1;
        let connecting = Connecting {
            books: Arc::clone(&inner.books),
            done: false,
        };
        inner.runtime.spawn(open_one(Arc::clone(inner), connecting));
    }
    None
}

/// When the next connect may begin after failures: when the backoff
/// allows, or sooner while requests wait on a pool that lost every
/// connection, in the first second of the outage: [`backoff::QUICK_RETRY`]
/// after the last failure during the first [`backoff::QUICK_EARLY`], then
/// [`backoff::QUICK_MAX_GAP`].
/// An error that retrying cannot fix is never retried sooner.
fn retry_at(state: &State, waiting: usize, now: Instant) -> Option<Instant> {
    let after_backoff = state.retry_at?;
    let quick = state.connected_before
        && !state.last_error_permanent
        && state.open == 0
        && waiting > 0
        && state
            .failing_since
            .is_some_and(|since| now.saturating_duration_since(since) < backoff::QUICK_WINDOW);
    match (state.failed_at, state.failing_since) {
        (Some(failed_at), Some(since)) if quick => {
            let lasted = failed_at.saturating_duration_since(since);
            let gap = if lasted < backoff::QUICK_EARLY {
                backoff::QUICK_RETRY
            } else {
                backoff::QUICK_MAX_GAP
            };
            Some(after_backoff.min(failed_at + gap))
        }
        _ => Some(after_backoff),
    }
}

/// Counts one connect in progress until it is settled, also when the task
/// is cancelled or panics.
struct Connecting {
    books: Arc<Books>,
    done: bool,
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if !self.done {
            self.books.lock().connecting -= 1;
            self.books.wake.notify_one();
        }
    }
}

/// A connect that took longer than `connect_timeout`.
#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connecting took longer than connect_timeout ({})",
            crate::error::Secs(self.0)
        )
    }
}

impl StdError for ConnectTimedOut {}

async fn open_one<M: Manager>(inner: Arc<PoolInner<M>>, mut connecting: Connecting) {
    let books = &inner.books;
    let generation = books.generation.load(Relaxed);
    let started = Instant::now();
    let limit = inner.config.connect_timeout;
    let span = tracing::debug_span!(
        "connect",
        pool = %books.name,
        server = inner.manager.target(),
        elapsed_ms = field::Empty,
        error = field::Empty,
    );
    let outcome = tokio::time::timeout(limit, inner.manager.connect())
        .instrument(span.clone())
        .await;
    let elapsed = started.elapsed();
    bump(&books.counters.connections_num);
    add_time(&books.counters.connections_us, elapsed);
    books.metrics.creation_time(elapsed);
    let outcome = match outcome {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(error)) => {
            let permanent = inner.manager.is_permanent(&error);
            Err((Arc::new(error) as BoxedCause, permanent))
        }
        Err(_) => Err((Arc::new(ConnectTimedOut(limit)) as BoxedCause, false)),
    };
    if !span.is_disabled() {
        span.record("elapsed_ms", elapsed.as_secs_f64() * 1000.0);
        if let Err((error, _)) = &outcome {
            span.record("error", field::display(error));
        }
    }
    let _entered = span.enter();
    match outcome {
        Ok(conn) => {
            let keep = {
                let mut state = books.lock();
                state.connecting -= 1;
                connecting.done = true;
                state.failures = 0;
                state.retry_at = None;
                state.failed_at = None;
                state.connected_before = true;
                state.last_error = None;
                state.last_error_permanent = false;
                state.failing_since = None;
                state.reconnect_reported = false;
                // A connect that began before a drain may carry what the
                // drain meant to retire (old credentials, the old primary).
                // And the pool may have shrunk (resize) while it connected.
                let keep = !state.closed
                    && generation == books.generation.load(Relaxed)
                    && state.open < state.max_size;
                if keep {
                    state.open += 1;
                }
                keep
            };
            if keep {
                let size = SizeGuard::new(Arc::clone(books));
                let slot = Slot::new(conn, inner.config.max_lifetime, generation, size);
                // Fails only when the pool closed meanwhile; the slot then
                // closes the connection.
                if inner.idle.try_add(Box::new(slot)).is_ok() {
                    inner.waiters.serve_from(&inner.idle);
                }
            }
            books.metrics.created.increment(1);
            tracing::debug!(pool = %books.name, elapsed = ?elapsed, "opened a connection");
        }
        Err((error, permanent)) => connect_failed(&inner, error, permanent, started, connecting),
    }
    books.wake.notify_one();
    books.progress.notify_waiters();
}

/// Books a failed connect: backoff before the next, and the report once
/// connects have failed for `reconnect_timeout`. An error that retrying
/// cannot fix (`permanent`) fails the requests waiting now, when the pool
/// has no connection that could serve them.
fn connect_failed<M: Manager>(
    inner: &Arc<PoolInner<M>>,
    error: BoxedCause,
    permanent: bool,
    started: Instant,
    mut connecting: Connecting,
) {
    let books = &inner.books;
    bump(&books.counters.connections_errors);
    books.metrics.create_errors.increment(1);
    let now = Instant::now();
    let (delay, failing_for, report, fail_waiters) = {
        let mut state = books.lock();
        state.connecting -= 1;
        connecting.done = true;
        // Connects that fail together (started before the first failure was
        // known), and quick retries before the backoff's delay ran out,
        // count as one failure: the backoff grows per round.
        if state.retry_at.is_none_or(|at| at <= now) {
            state.failures += 1;
        }
        let delay = backoff::delay(state.failures);
        state.retry_at = Some(now + delay);
        state.failed_at = Some(now);
        state.last_error = Some(Arc::clone(&error));
        state.last_error_permanent = permanent;
        let fail_waiters = permanent && state.open == 0;
        // The outage is timed from the start of the first failed attempt.
        let failing_for = now - *state.failing_since.get_or_insert(started);
        let report = !state.reconnect_reported && failing_for >= inner.config.reconnect_timeout;
        if report {
            state.reconnect_reported = true;
        }
        (delay, failing_for, report, fail_waiters)
    };
    if fail_waiters {
        let failed = inner.waiters.fail_all(&error);
        if failed > 0 {
            tracing::debug!(
                pool = %books.name,
                failed,
                "failing the waiting requests at once: the connect error is not one that \
                 waiting fixes"
            );
        }
    }
    if report {
        tracing::error!(
            pool = %books.name,
            %error,
            failing_for = ?failing_for,
            "connects have failed for longer than reconnect_timeout; still retrying"
        );
        if let Some(callback) = &inner.reconnect_failed {
            callback(inner);
        }
    } else {
        tracing::warn!(
            pool = %books.name,
            %error,
            retry_in = ?delay,
            "could not open a connection"
        );
    }
}
