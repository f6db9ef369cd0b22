//! The blocking pool works from every thread a program may call it on: a
//! plain thread, a `spawn_blocking` thread (multi-thread and current-thread
//! runtimes), inside `block_in_place`, a multi-thread runtime's worker
//! (whose other tasks keep running meanwhile) and its `block_on` thread,
//! and a task of a current-thread runtime (with one warning per pool).
//! Each does a checkout, a statement, a transaction and a COPY, with the
//! same results and timeouts, and drops the last handle there. Refused
//! with an error, never a panic or a deadlock: the future a current-thread
//! runtime runs on its only thread (an async test body), which blocking
//! would stall whole, and a thread of the pool's own runtime (inside one of
//! its callbacks), where the call would wait for itself.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Table, database, ok, tagged_url};
use tidepool_sync::Pool;

/// A pool of two connections and a table of the test's own.
fn pool_and_table(tag: &str) -> (Pool, Table) {
    let db = database();
    let (_, url) = tagged_url(&db, tag);
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(2)
        .timeout(Duration::from_secs(10))
        .build());
    (pool, Table::create(&db, tag))
}

/// A checkout, a statement, a transaction, a COPY in and a COPY out, and a
/// checkout that times out; then the last handle is dropped here.
fn exercise(pool: Pool, table: &Table, tag: &str) {
    let mut conn = ok(pool.get());
    let answer: i32 = ok(conn.query_one("select 41 + 1", &[])).get(0);
    assert_eq!(answer, 42, "{tag}");

    let tx = ok(conn.transaction());
    ok(tx.execute(&table.insert_sql(), &[&format!("{tag} tx")]));
    ok(tx.commit());

    let mut copy = ok(conn.copy_in(&format!("copy {} (v) from stdin", table.name)));
    ok(copy.write(format!("{tag} copy 1\n{tag} copy 2\n").as_bytes()));
    assert_eq!(ok(copy.finish()), 2, "{tag}: rows copied in");
    let mut out = ok(conn.copy_out(&format!(
        "copy (select v from {} where v like '{tag} %' order by v) to stdout",
        table.name
    )));
    let mut text = Vec::new();
    while let Some(chunk) = ok(out.next_chunk()) {
        text.extend_from_slice(&chunk);
    }
    assert_eq!(
        String::from_utf8(text).expect("text"),
        format!("{tag} copy 1\n{tag} copy 2\n{tag} tx\n"),
        "{tag}: rows copied out"
    );

    // The same timeouts: both connections held, a third checkout waits
    // its limit and fails with a timeout.
    let other = ok(pool.get());
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let error = pool
        .get_timeout(limit)
        .expect_err("both connections are held");
    assert!(error.is_timeout(), "{tag}: {error:?}");
    assert!(started.elapsed() >= limit, "{tag}: gave up early");
    drop(other);
    drop(conn);
    // The last handle is dropped on this thread.
    drop(pool);
}

#[test]
fn on_a_plain_thread() {
    let (pool, table) = pool_and_table("sync_plain");
    std::thread::spawn(move || exercise(pool, &table, "plain"))
        .join()
        .expect("the thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_spawn_blocking_thread_of_a_multi_thread_runtime() {
    let (pool, table) = pool_and_table("sync_sb_multi");
    tokio::task::spawn_blocking(move || exercise(pool, &table, "sb multi"))
        .await
        .expect("the spawn_blocking task");
}

#[tokio::test(flavor = "current_thread")]
async fn on_a_spawn_blocking_thread_of_a_current_thread_runtime() {
    let (pool, table) = pool_and_table("sync_sb_current");
    tokio::task::spawn_blocking(move || exercise(pool, &table, "sb current"))
        .await
        .expect("the spawn_blocking task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_block_in_place_on_a_worker() {
    let (pool, table) = pool_and_table("sync_bip");
    tokio::spawn(async move {
        tokio::task::block_in_place(|| exercise(pool, &table, "block_in_place"));
    })
    .await
    .expect("the task");
}

/// A runtime with one worker: a task calls the blocking pool there, and a
/// second task keeps ticking while the call waits on the server, so the
/// call did not stall the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn on_a_multi_thread_worker_without_stalling_its_runtime() {
    let (pool, table) = pool_and_table("sync_worker");
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                ticks.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let during = tokio::spawn({
        let pool = pool.clone();
        let ticks = Arc::clone(&ticks);
        async move {
            let conn = ok(pool.get());
            let before = ticks.load(Ordering::SeqCst);
            ok(conn.execute("select pg_sleep(0.3)", &[]));
            ticks.load(Ordering::SeqCst) - before
        }
    })
    .await
    .expect("the task");
    ticker.abort();
    assert!(
        during > 0,
        "the runtime's other task never ran while the blocking call waited"
    );
    tokio::spawn(async move { exercise(pool, &table, "worker") })
        .await
        .expect("the task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_body_of_a_multi_thread_runtime() {
    let (pool, table) = pool_and_table("sync_multi_body");
    exercise(pool, &table, "multi body");
}

/// A task of a current-thread runtime: the call works (and warns once
/// per pool: see `blocking_warning.rs`).
#[tokio::test(flavor = "current_thread")]
async fn in_a_task_of_a_current_thread_runtime() {
    let (pool, table) = pool_and_table("sync_current");
    tokio::spawn(async move { exercise(pool, &table, "current task") })
        .await
        .expect("the task");
}

/// The body of a current-thread runtime is its only thread's own future:
/// blocking there would stall the runtime whole, so each call returns an
/// error, and nothing panics, also when the last handle is dropped there.
#[tokio::test(flavor = "current_thread")]
async fn in_the_body_of_a_current_thread_runtime_calls_are_refused_without_a_panic() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_current_body");
    // Building is allowed here.
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let error = pool.get().expect_err("Pool::get in a current-thread body");
    assert!(error.is_blocking_in_async(), "{error:?}");
    common::assert_contains(
        &error.to_string(),
        &["Pool::get", "current-thread", "spawn_blocking"],
    );
    let error = pool
        .wait()
        .expect_err("Pool::wait in a current-thread body");
    assert!(error.is_blocking_in_async(), "{error:?}");
    // A connection checked out elsewhere refuses too, and works elsewhere.
    let inside = pool.clone();
    let mut conn = tokio::task::spawn_blocking(move || ok(inside.get()))
        .await
        .expect("spawn_blocking");
    let error = conn
        .query("select 1", &[])
        .expect_err("a statement in the body");
    assert!(error.is_blocking_in_async(), "{error:?}");
    let error = conn.transaction().expect_err("a transaction in the body");
    assert!(error.is_blocking_in_async(), "{error:?}");
    let error = conn
        .copy_out("copy (select 1) to stdout")
        .expect_err("a COPY in the body");
    assert!(error.is_blocking_in_async(), "{error:?}");
    let answer: i32 = tokio::task::spawn_blocking(move || {
        let answer = ok(conn.query_one("select 41 + 1", &[])).get(0);
        drop(conn);
        answer
    })
    .await
    .expect("spawn_blocking");
    assert_eq!(answer, 42);
    // The async pool behind it works here, and dropping the last handle of
    // the blocking pool here does not panic.
    let conn = ok(pool.as_async().get().await);
    ok(conn.query_one("select 1", &[]).await);
    drop(conn);
    drop(pool);
}

#[test]
fn inside_a_callback_of_the_pool_the_call_is_refused_not_deadlocked() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_callback");
    let this_pool: Arc<OnceLock<Pool>> = Arc::default();
    let seen: Arc<Mutex<Option<tidepool_sync::Error>>> = Arc::default();
    let pool = ok(Pool::builder(&url)
        .min_size(0)
        .max_size(2)
        .timeout(Duration::from_secs(10))
        .configure({
            let this_pool = Arc::clone(&this_pool);
            let seen = Arc::clone(&seen);
            move |_conn| {
                if let Some(pool) = this_pool.get() {
                    let result = pool.get_timeout(Duration::from_secs(30)).map(drop);
                    *seen.lock().expect("not poisoned") = result.err();
                }
                Ok(())
            }
        })
        .build());
    assert!(this_pool.set(pool.clone()).is_ok());
    let started = Instant::now();
    let conn = ok(pool.get());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the callback waited for its own pool"
    );
    drop(conn);
    let error = seen
        .lock()
        .expect("not poisoned")
        .take()
        .expect("the callback's call must fail");
    assert!(error.is_blocking_in_async(), "{error:?}");
    common::assert_contains(
        &error.to_string(),
        &["Pool::get_timeout", "own runtime", "callback"],
    );
}
