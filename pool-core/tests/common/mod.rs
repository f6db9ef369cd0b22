//! A fake [`Manager`] shared by the engine's behaviour tests, and helpers to
//! wait for background work under tokio's paused clock.
//!
//! Every test file uses a part of this module only.
#![allow(dead_code)]

pub(crate) mod observe;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tidepool_core::{Manager, Pool};

/// The message of every failed fake connect, to recognise it in errors.
pub(crate) const CONNECT_ERROR: &str = "fake-db: connection refused by the test";
/// The message of every fake connect refused for good (a wrong password).
pub(crate) const PERMANENT_ERROR: &str = "fake-db: password refused by the test";
/// The message of every failed fake reset.
pub(crate) const RESET_ERROR: &str = "fake-db: reset failed on purpose";
/// The message of every failed fake health check.
pub(crate) const CHECK_ERROR: &str = "fake-db: health check failed on purpose";

/// What [`FakeManager::reset`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetOutcome {
    /// Clears `needs_reset` and succeeds.
    Ok,
    /// Fails with [`RESET_ERROR`].
    Error,
    /// Never completes.
    Hang,
}

/// What [`FakeManager::check`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckOutcome {
    /// Succeeds at once.
    Ok,
    /// Fails at once with [`CHECK_ERROR`].
    Error,
    /// Never completes.
    Hang,
}

impl CheckOutcome {
    fn to_raw(self) -> u8 {
        match self {
            CheckOutcome::Ok => 0,
            CheckOutcome::Error => 1,
            CheckOutcome::Hang => 2,
        }
    }

    fn from_raw(raw: u8) -> Self {
        match raw {
            0 => CheckOutcome::Ok,
            1 => CheckOutcome::Error,
            _ => CheckOutcome::Hang,
        }
    }
}

/// The error of the fake manager.
#[derive(Debug, Clone)]
pub(crate) struct FakeError(pub(crate) String);

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FakeError {}

/// The books and switches of a fake manager, shared by all its clones.
#[derive(Debug, Default)]
pub(crate) struct FakeState {
    /// Connect delay in microseconds.
    connect_delay_us: AtomicU64,
    fail_connects: AtomicBool,
    /// Failed connects fail with an error that retrying cannot fix.
    fail_permanently: AtomicBool,
    reset_outcome: AtomicU8,
    next_id: AtomicUsize,
    /// Connects started (attempts).
    pub(crate) connects_started: AtomicUsize,
    /// Connects that returned a connection.
    pub(crate) connects_succeeded: AtomicUsize,
    /// Connects that returned an error.
    pub(crate) connects_failed: AtomicUsize,
    /// Connects running now.
    pub(crate) connecting_now: AtomicUsize,
    /// The most connects ever running at once.
    pub(crate) connecting_max: AtomicUsize,
    /// Connections alive now (created and not dropped).
    pub(crate) live: AtomicUsize,
    /// The most connections ever alive at once.
    pub(crate) live_max: AtomicUsize,
    /// Resets started.
    pub(crate) resets: AtomicUsize,
    /// The `broken` flag of every connection ever made, by id.
    broken_flags: Mutex<Vec<Arc<AtomicBool>>>,
    /// The pool's sweeper, given when the pool was built.
    sweeper: Mutex<Option<tidepool_core::Sweeper>>,
    /// What a check does, unless overridden for the connection.
    check_outcome: AtomicU8,
    /// What a check does, for particular connections (by id).
    check_overrides: Mutex<HashMap<usize, CheckOutcome>>,
    /// The ids of the connections checked, one entry per check started.
    checked_ids: Mutex<Vec<usize>>,
    /// When each connect began (tokio's clock), in order.
    connect_times: Mutex<Vec<Instant>>,
    /// When each connection was dropped (tokio's clock), by id; `None`
    /// while it is alive.
    closed_at: Mutex<Vec<Option<Instant>>>,
}

/// A fake connection.
#[derive(Debug)]
pub(crate) struct FakeConn {
    /// A unique, increasing id (0 for the first connection).
    pub(crate) id: usize,
    /// When set, the manager reports the connection as broken.
    pub(crate) broken: Arc<AtomicBool>,
    /// When set, the manager asks for a reset when it is returned.
    pub(crate) needs_reset: bool,
    alive: Alive,
}

/// Counts a connection as alive until it is dropped, and notes when it was.
#[derive(Debug)]
struct Alive {
    state: Arc<FakeState>,
    id: usize,
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.state.live.fetch_sub(1, SeqCst);
        let mut closed_at = self.state.closed_at.lock().expect("not poisoned");
        closed_at[self.id] = Some(Instant::now());
    }
}

/// Counts a connect in progress, also when the connect future is dropped.
struct InProgress<'a>(&'a FakeState);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.connecting_now.fetch_sub(1, SeqCst);
    }
}

/// A manager of fake connections, with switches for the tests. Clones share
/// their state, so a test can keep one while the pool owns another.
#[derive(Clone, Debug, Default)]
pub(crate) struct FakeManager {
    pub(crate) state: Arc<FakeState>,
}

impl FakeManager {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A manager whose connects take `delay`.
    pub(crate) fn with_delay(delay: Duration) -> Self {
        let manager = Self::new();
        manager.set_connect_delay(delay);
        manager
    }

    pub(crate) fn set_connect_delay(&self, delay: Duration) {
        let us = u64::try_from(delay.as_micros()).expect("a short delay");
        self.state.connect_delay_us.store(us, SeqCst);
    }

    pub(crate) fn set_fail_connects(&self, fail: bool) {
        self.state.fail_connects.store(fail, SeqCst);
    }

    /// Makes connects fail with an error the manager calls permanent.
    pub(crate) fn set_fail_permanently(&self, fail: bool) {
        self.state.fail_permanently.store(fail, SeqCst);
    }

    pub(crate) fn set_reset_outcome(&self, outcome: ResetOutcome) {
        let raw = match outcome {
            ResetOutcome::Ok => 0,
            ResetOutcome::Error => 1,
            ResetOutcome::Hang => 2,
        };
        self.state.reset_outcome.store(raw, SeqCst);
    }

    fn reset_outcome(&self) -> ResetOutcome {
        match self.state.reset_outcome.load(SeqCst) {
            0 => ResetOutcome::Ok,
            1 => ResetOutcome::Error,
            _ => ResetOutcome::Hang,
        }
    }

    pub(crate) fn connects_started(&self) -> usize {
        self.state.connects_started.load(SeqCst)
    }

    pub(crate) fn connects_succeeded(&self) -> usize {
        self.state.connects_succeeded.load(SeqCst)
    }

    pub(crate) fn connects_failed(&self) -> usize {
        self.state.connects_failed.load(SeqCst)
    }

    pub(crate) fn connecting_now(&self) -> usize {
        self.state.connecting_now.load(SeqCst)
    }

    pub(crate) fn connecting_max(&self) -> usize {
        self.state.connecting_max.load(SeqCst)
    }

    pub(crate) fn live(&self) -> usize {
        self.state.live.load(SeqCst)
    }

    pub(crate) fn live_max(&self) -> usize {
        self.state.live_max.load(SeqCst)
    }

    pub(crate) fn resets(&self) -> usize {
        self.state.resets.load(SeqCst)
    }

    /// The `broken` flag of the connection with this id.
    pub(crate) fn broken_flag(&self, id: usize) -> Arc<AtomicBool> {
        let flags = self.state.broken_flags.lock().expect("not poisoned");
        Arc::clone(&flags[id])
    }

    /// What every check does from now on, unless overridden for the
    /// connection with [`set_check_outcome_for`](Self::set_check_outcome_for).
    pub(crate) fn set_check_outcome(&self, outcome: CheckOutcome) {
        self.state.check_outcome.store(outcome.to_raw(), SeqCst);
    }

    /// What the checks of the connection with this id do from now on.
    pub(crate) fn set_check_outcome_for(&self, id: usize, outcome: CheckOutcome) {
        let mut overrides = self.state.check_overrides.lock().expect("not poisoned");
        overrides.insert(id, outcome);
    }

    fn check_outcome_for(&self, id: usize) -> CheckOutcome {
        let overrides = self.state.check_overrides.lock().expect("not poisoned");
        overrides
            .get(&id)
            .copied()
            .unwrap_or_else(|| CheckOutcome::from_raw(self.state.check_outcome.load(SeqCst)))
    }

    /// Checks started.
    pub(crate) fn checks(&self) -> usize {
        self.state.checked_ids.lock().expect("not poisoned").len()
    }

    /// The ids of the connections checked, in order, one per check started.
    pub(crate) fn checked_ids(&self) -> Vec<usize> {
        self.state.checked_ids.lock().expect("not poisoned").clone()
    }

    /// When the connection with this id was closed (dropped), on tokio's
    /// clock; `None` while it is alive or if it was never made.
    pub(crate) fn closed_at(&self, id: usize) -> Option<Instant> {
        let closed_at = self.state.closed_at.lock().expect("not poisoned");
        closed_at.get(id).copied().flatten()
    }

    /// When each connect began (tokio's clock), in order.
    pub(crate) fn connect_times(&self) -> Vec<Instant> {
        self.state
            .connect_times
            .lock()
            .expect("not poisoned")
            .clone()
    }

    /// Asks the pool, through the sweeper it gave, to close the idle
    /// connections now broken.
    pub(crate) fn sweep_soon(&self) {
        let sweeper = self.state.sweeper.lock().expect("not poisoned").clone();
        sweeper.expect("the pool gave its sweeper").sweep_soon();
    }

    /// Whether the connection with this id was made and is not closed.
    pub(crate) fn is_alive(&self, id: usize) -> bool {
        let closed_at = self.state.closed_at.lock().expect("not poisoned");
        matches!(closed_at.get(id), Some(None))
    }

    /// The ids of the connections alive now, in increasing order.
    pub(crate) fn live_ids(&self) -> Vec<usize> {
        let closed_at = self.state.closed_at.lock().expect("not poisoned");
        (0..closed_at.len())
            .filter(|&id| closed_at[id].is_none())
            .collect()
    }
}

/// What the fake manager gives as its target, for the connect spans.
pub(crate) const TARGET: &str = "fake-db:5432";

impl Manager for FakeManager {
    type Connection = FakeConn;
    type Error = FakeError;

    fn target(&self) -> Option<&str> {
        Some(TARGET)
    }

    fn attach(&self, sweeper: tidepool_core::Sweeper) {
        *self.state.sweeper.lock().expect("not poisoned") = Some(sweeper);
    }

    fn is_permanent(&self, error: &FakeError) -> bool {
        error.0 == PERMANENT_ERROR
    }

    async fn connect(&self) -> Result<FakeConn, FakeError> {
        let state = &self.state;
        state.connects_started.fetch_add(1, SeqCst);
        state
            .connect_times
            .lock()
            .expect("not poisoned")
            .push(Instant::now());
        let now = state.connecting_now.fetch_add(1, SeqCst) + 1;
        state.connecting_max.fetch_max(now, SeqCst);
        let _in_progress = InProgress(state);
        let delay = Duration::from_micros(state.connect_delay_us.load(SeqCst));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if state.fail_permanently.load(SeqCst) {
            state.connects_failed.fetch_add(1, SeqCst);
            return Err(FakeError(PERMANENT_ERROR.to_owned()));
        }
        if state.fail_connects.load(SeqCst) {
            state.connects_failed.fetch_add(1, SeqCst);
            return Err(FakeError(CONNECT_ERROR.to_owned()));
        }
        let id = state.next_id.fetch_add(1, SeqCst);
        let broken = Arc::new(AtomicBool::new(false));
        {
            let mut flags = state.broken_flags.lock().expect("not poisoned");
            if flags.len() <= id {
                flags.resize_with(id + 1, || Arc::new(AtomicBool::new(false)));
            }
            flags[id] = Arc::clone(&broken);
        }
        {
            let mut closed_at = state.closed_at.lock().expect("not poisoned");
            if closed_at.len() <= id {
                closed_at.resize(id + 1, None);
            }
            closed_at[id] = None;
        }
        let live = state.live.fetch_add(1, SeqCst) + 1;
        state.live_max.fetch_max(live, SeqCst);
        state.connects_succeeded.fetch_add(1, SeqCst);
        Ok(FakeConn {
            id,
            broken,
            needs_reset: false,
            alive: Alive {
                state: Arc::clone(state),
                id,
            },
        })
    }

    async fn check(&self, conn: &mut FakeConn) -> Result<(), FakeError> {
        self.state
            .checked_ids
            .lock()
            .expect("not poisoned")
            .push(conn.id);
        match self.check_outcome_for(conn.id) {
            CheckOutcome::Ok => Ok(()),
            CheckOutcome::Error => Err(FakeError(CHECK_ERROR.to_owned())),
            CheckOutcome::Hang => std::future::pending().await,
        }
    }

    fn is_broken(&self, conn: &FakeConn) -> bool {
        conn.broken.load(SeqCst)
    }

    fn needs_reset(&self, conn: &FakeConn) -> bool {
        conn.needs_reset
    }

    async fn reset(&self, conn: &mut FakeConn) -> Result<(), FakeError> {
        self.state.resets.fetch_add(1, SeqCst);
        match self.reset_outcome() {
            ResetOutcome::Ok => {
                conn.needs_reset = false;
                Ok(())
            }
            ResetOutcome::Error => Err(FakeError(RESET_ERROR.to_owned())),
            ResetOutcome::Hang => std::future::pending().await,
        }
    }
}

/// Polls `condition` until it holds, first by yielding to the other tasks
/// (no time passes), then by sleeping 1 ms at a time on the (paused) clock;
/// panics with `what` if it does not hold within `limit` of tokio time.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    let mut yields = 0_u32;
    loop {
        if condition() {
            return;
        }
        assert!(
            started.elapsed() <= limit,
            "timed out after {limit:?} waiting until {what}"
        );
        if yields < 200 {
            yields += 1;
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Lets every other task run until they all wait, without moving the clock.
pub(crate) async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

/// Waits until `n` requests wait in the pool's queue (no time passes).
pub(crate) async fn wait_for_waiters(pool: &Pool<FakeManager>, n: usize) {
    wait_until(
        &format!("{n} requests wait in the queue"),
        Duration::from_secs(5),
        || pool.stats().requests_waiting == n,
    )
    .await;
}

/// Runs `future` and returns how long it took on tokio's clock.
pub(crate) async fn timed<T>(future: impl Future<Output = T>) -> (T, Duration) {
    let started = tokio::time::Instant::now();
    let out = future.await;
    (out, started.elapsed())
}

/// A pool of `manager`'s connections with these sizes and checkout
/// timeout, its `min_size` connections open: the set-up most engine tests
/// share.
pub(crate) async fn ready_pool(
    manager: FakeManager,
    min_size: usize,
    max_size: usize,
    timeout: Duration,
) -> Pool<FakeManager> {
    let pool = Pool::builder(manager)
        .min_size(min_size)
        .max_size(max_size)
        .timeout(timeout)
        .build()
        .expect("a valid test pool");
    pool.wait().await.expect("min_size connections open");
    pool
}
