//! A transaction that was not finished by `commit()` or `rollback()` (its
//! guard dropped, a closure's error, a panic) is rolled back before the
//! connection is handed out again, judged from the server's side: at the
//! moment the next user gets the connection, `pg_stat_activity` shows the
//! session `idle` and the previous user's locks are released.
//!
//! The server is read by a second session of its own (the [`Monitor`]), at
//! once after the checkout and before the next user sends anything: a query
//! on the pooled connection itself would queue behind a pending `ROLLBACK`
//! and see a clean session even when the pool handed out a dirty one.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Monitor, database, ok, tagged_url};
use tidepool_async::{Error, Pool};
use tidepool_testdb::TestDatabase;

/// The advisory lock numbers of this file's tests: each test takes its own
/// (the tests run at once), and no other test file takes these.
const LOCK_DROPPED: i64 = 0x7d_0bad_7a11;
const LOCK_CLOSURE: i64 = 0x7d_0bad_7a12;
const LOCK_BLOCKING: i64 = 0x7d_0bad_7a13;

/// A pool of one connection, its backend and a monitor of its own.
struct Case {
    pool: Pool,
    /// The advisory lock of the test.
    lock: i64,
    pid: i32,
    monitor: Monitor,
    _db: TestDatabase,
}

impl Case {
    async fn new(tag: &str, lock: i64) -> Self {
        let db = database();
        let (_, url) = tagged_url(&db, tag);
        let pool = ok(Pool::builder(&url)
            .min_size(1)
            .max_size(1)
            .timeout(Duration::from_secs(10))
            .build());
        let conn = ok(pool.get().await);
        let pid = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
        drop(conn);
        let monitor = Monitor::connect(db.url()).await;
        Self {
            pool,
            lock,
            pid,
            monitor,
            _db: db,
        }
    }

    /// Checks out the connection and asserts, before it is used, that the
    /// server sees its session idle and the advisory lock free.
    async fn assert_handed_out_clean(&self) {
        self.assert_clean(true).await;
    }

    /// As [`assert_handed_out_clean`], the reset expected or not: a
    /// transaction that sent nothing leaves nothing to reset.
    async fn assert_clean(&self, reset: bool) {
        let conn = ok(self.pool.get().await);
        let state = self.monitor.backend_state(self.pid).await;
        let free: bool = ok(self
            .monitor
            .client()
            .query_one("select pg_try_advisory_lock($1)", &[&self.lock])
            .await)
        .get(0);
        if free {
            ok(self
                .monitor
                .client()
                .execute("select pg_advisory_unlock($1)", &[&self.lock])
                .await);
        }
        assert_eq!(
            state.as_deref(),
            Some("idle"),
            "the connection was handed out while the server saw its session {state:?}"
        );
        assert!(
            free,
            "the previous user's transaction still holds its advisory lock"
        );
        let id: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
        assert_eq!(id, self.pid, "the connection must be reset, not replaced");
        drop(conn);
        let stats = self.pool.stats();
        assert_eq!(
            stats.returns_reset >= 1,
            reset,
            "the connection's reset was expected: {reset}; {stats:?}"
        );
        assert_eq!(stats.returns_bad, 0, "the reset failed: {stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_guard_is_rolled_back_before_the_next_checkout() {
    let case = Case::new("drop_tx", LOCK_DROPPED).await;
    let mut conn = ok(case.pool.get().await);
    let tx = ok(conn.transaction().await);
    ok(tx
        .execute("select pg_advisory_xact_lock($1)", &[&case.lock])
        .await);
    drop(tx);
    drop(conn);
    case.assert_handed_out_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_as_soon_as_it_began_is_rolled_back() {
    // A BEGIN with options is sent and answered at once; the guard is
    // dropped right after.
    let case = Case::new("drop_begin", LOCK_DROPPED + 100).await;
    let mut conn = ok(case.pool.get().await);
    let tx = ok(conn
        .build_transaction()
        .isolation_level(tidepool_async::IsolationLevel::Serializable)
        .start()
        .await);
    drop(tx);
    drop(conn);
    case.assert_handed_out_clean().await;
    // A plain BEGIN, answered, then the guard dropped at once.
    let case = Case::new("drop_plain_begin", LOCK_DROPPED + 200).await;
    let mut conn = ok(case.pool.get().await);
    drop(ok(conn.transaction().await));
    drop(conn);
    case.assert_handed_out_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_that_fails_leaves_its_transaction_rolled_back() {
    let case = Case::new("closure_err", LOCK_CLOSURE).await;
    let mut conn = ok(case.pool.get().await);
    let result: Result<(), Error> = conn
        .in_transaction(|tx| {
            Box::pin(async move {
                tx.execute("select pg_advisory_xact_lock($1)", &[&LOCK_CLOSURE])
                    .await?;
                Err(Error::invalid_config("the work failed on purpose"))
            })
        })
        .await;
    assert!(result.is_err(), "the closure's error must come back");
    drop(conn);
    case.assert_handed_out_clean().await;
}

#[test]
fn a_blocking_thread_that_panics_in_a_transaction_leaves_it_rolled_back() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_panic");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build());
    let pid: i32 = {
        let conn = ok(pool.get());
        ok(conn.query_one("select pg_backend_pid()", &[])).get(0)
    };
    let panicked = std::thread::spawn({
        let pool = pool.clone();
        move || {
            let mut conn = ok(pool.get());
            let tx = ok(conn.transaction());
            ok(tx.execute("select pg_advisory_xact_lock($1)", &[&LOCK_BLOCKING]));
            panic!("a panic on purpose, inside a transaction");
        }
    })
    .join();
    assert!(panicked.is_err(), "the thread panicked");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the monitor");
    let monitor = runtime.block_on(Monitor::connect(db.url()));
    let conn = ok(pool.get());
    let (state, free) = runtime.block_on(async {
        let state = monitor.backend_state(pid).await;
        let free: bool = ok(monitor
            .client()
            .query_one("select pg_try_advisory_lock($1)", &[&LOCK_BLOCKING])
            .await)
        .get(0);
        if free {
            ok(monitor
                .client()
                .execute("select pg_advisory_unlock($1)", &[&LOCK_BLOCKING])
                .await);
        }
        (state, free)
    });
    assert_eq!(
        state.as_deref(),
        Some("idle"),
        "the session was handed out {state:?}"
    );
    assert!(
        free,
        "the panicked thread's transaction still holds its lock"
    );
    let id: i32 = ok(conn.query_one("select pg_backend_pid()", &[])).get(0);
    assert_eq!(id, pid, "the connection must be reset, not replaced");
    drop(conn);
    let stats = pool.stats();
    assert!(stats.returns_reset >= 1, "no reset was counted: {stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");
}

/// 64 tasks over 8 connections, checkouts that drop their transaction
/// guards at random: at every checkout the server must see the session
/// idle, read by a monitor before the task sends anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_checkout_under_load_gets_a_session_inside_a_transaction() {
    const TASKS: usize = 64;
    const CHECKOUTS: usize = 3_000;
    let db = database();
    let (_, url) = tagged_url(&db, "drop_fuzz");
    let pool = ok(Pool::builder(&url)
        .min_size(8)
        .max_size(8)
        .timeout(Duration::from_secs(30))
        .build());
    ok(pool.wait().await);
    // The monitors: a few sessions of their own, shared by the tasks.
    let mut monitors = Vec::new();
    for _ in 0..4 {
        monitors.push(Arc::new(Monitor::connect(db.url()).await));
    }
    let pids: Arc<Mutex<HashMap<u64, i32>>> = Arc::default();
    let dirty: Arc<Mutex<Vec<String>>> = Arc::default();
    let checked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let pool = pool.clone();
        let monitor = Arc::clone(&monitors[task % monitors.len()]);
        let pids = Arc::clone(&pids);
        let dirty = Arc::clone(&dirty);
        let checked = Arc::clone(&checked);
        tasks.push(tokio::spawn(async move {
            let mut seed = (task as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for _ in 0..CHECKOUTS / TASKS {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut conn = ok(pool.get().await);
                let known = pids.lock().expect("not poisoned").get(&conn.id()).copied();
                match known {
                    Some(pid) => {
                        let state = monitor.backend_state(pid).await;
                        checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if state.as_deref() != Some("idle") {
                            dirty
                                .lock()
                                .expect("not poisoned")
                                .push(format!("backend {pid}: {state:?}"));
                        }
                    }
                    None => {
                        let pid: i32 =
                            ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
                        pids.lock().expect("not poisoned").insert(conn.id(), pid);
                    }
                }
                let tx = ok(conn.transaction().await);
                ok(tx.execute("select 1", &[]).await);
                match seed % 3 {
                    0 => ok(tx.commit().await),
                    1 => drop(tx),
                    _ => {
                        ok(tx.execute("select pg_sleep(0.001)", &[]).await);
                        drop(tx);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a task of the fuzz failed");
    }
    let dirty = dirty.lock().expect("not poisoned");
    let checked = checked.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{} of {checked} checkouts got a busy session", dirty.len());
    assert!(
        checked > CHECKOUTS / 2,
        "only {checked} checkouts were checked"
    );
    assert!(
        dirty.is_empty(),
        "{} of {checked} checkouts got a session the server saw busy: {:?}",
        dirty.len(),
        &dirty[..dirty.len().min(10)]
    );
    let stats = pool.stats();
    assert!(stats.returns_reset > 0, "{stats:?}");
    assert_eq!(stats.returns_bad, 0, "{stats:?}");
}
