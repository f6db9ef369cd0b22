//! `pg_terminate_backend` of every connection of a pool while they are in
//! use: one held between statements, one inside a transaction, one running
//! a statement. Each holder gets a clear error at once, no terminated
//! connection goes back into service (each counts as a bad return), and the
//! pool refills to `min_size`. (Terminated idle connections are in
//! lifecycle_health.rs.)

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Monitor, Table, database, eventually, ok, tagged_url};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{Error, Pool};
use tokio::sync::{mpsc, watch};

/// What a holder was doing when its backend was terminated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holding {
    BetweenStatements,
    InTransaction,
    RunningStatement,
}

/// What a holder saw: its backend, then its next statement's error and how
/// long that took, and whether the connection said it was closed.
#[derive(Debug)]
struct Seen {
    holding: Holding,
    error: Error,
    took: Duration,
    closed: bool,
}

/// The clear errors of a terminated session: the server's 57P01
/// (admin_shutdown), or the connection closed after it.
fn is_termination(error: &Error) -> bool {
    error.code() == Some(&SqlState::ADMIN_SHUTDOWN)
        || error.as_postgres().is_some_and(|e| e.is_closed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_in_use_fail_clearly_and_are_replaced() {
    let db = database();
    let (app, url) = tagged_url(&db, "terminate_in_use");
    let table = Table::create(&db, "terminate_in_use");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url)
        .min_size(3)
        .max_size(3)
        .timeout(Duration::from_secs(10))
        .build());
    ok(pool.wait().await);
    monitor.wait_sessions(&app, 3).await;

    let (pids_tx, mut pids_rx) = mpsc::unbounded_channel();
    let (go_tx, go_rx) = watch::channel(false);
    let holders: Vec<_> = [
        Holding::BetweenStatements,
        Holding::InTransaction,
        Holding::RunningStatement,
    ]
    .into_iter()
    .map(|holding| {
        let (pool, pids_tx, mut go_rx) = (pool.clone(), pids_tx.clone(), go_rx.clone());
        let insert = table.insert_sql();
        tokio::spawn(async move {
            let mut conn = ok(pool.get().await);
            let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
            pids_tx.send((holding, pid)).unwrap();
            let started;
            let result = match holding {
                Holding::BetweenStatements => {
                    go_rx.wait_for(|go| *go).await.unwrap();
                    started = Instant::now();
                    conn.query_one("select 1", &[]).await.map(drop)
                }
                Holding::InTransaction => {
                    let tx = ok(conn.transaction().await);
                    ok(tx.execute(&insert, &[&"uncommitted"]).await);
                    go_rx.wait_for(|go| *go).await.unwrap();
                    started = Instant::now();
                    let result = tx.query_one("select 1", &[]).await.map(drop);
                    drop(tx);
                    result
                }
                Holding::RunningStatement => {
                    started = Instant::now();
                    conn.query_one("select pg_sleep(60)", &[]).await.map(drop)
                }
            };
            let took = started.elapsed();
            let error = result.expect_err("a statement succeeded on a terminated backend");
            let closed = conn.is_closed();
            drop(conn);
            Seen {
                holding,
                error,
                took,
                closed,
            }
        })
    })
    .collect();

    let mut old_pids = HashSet::new();
    for _ in 0..3 {
        let (holding, pid) = pids_rx.recv().await.expect("a holder ended early");
        let expected = match holding {
            Holding::BetweenStatements => "idle",
            Holding::InTransaction => "idle in transaction",
            Holding::RunningStatement => "active",
        };
        eventually(&format!("backend {pid} is {expected}"), async || {
            monitor.backend_state(pid).await.as_deref() == Some(expected)
        })
        .await;
        old_pids.insert(pid);
    }
    assert_eq!(old_pids.len(), 3);
    for pid in &old_pids {
        let terminated: bool = ok(monitor
            .client()
            .query_one("select pg_terminate_backend($1)", &[pid])
            .await)
        .get(0);
        assert!(terminated, "backend {pid}");
    }
    eventually("the terminated backends are gone", async || {
        let mut alive = false;
        for pid in &old_pids {
            alive |= monitor.backend_state(*pid).await.is_some();
        }
        !alive
    })
    .await;
    go_tx.send(true).unwrap();

    for holder in holders {
        let seen = holder.await.expect("a holder panicked");
        eprintln!(
            "{:?}: failed after {:?} (client closed: {}): {}",
            seen.holding, seen.took, seen.closed, seen.error
        );
        assert!(is_termination(&seen.error), "{seen:?}");
        assert!(!seen.error.is_query_timeout() && !seen.error.is_timeout());
        if seen.holding != Holding::RunningStatement {
            assert!(seen.took < Duration::from_secs(1), "{seen:?}");
        }
    }

    // Not one of them went back into service: each was a bad return, and
    // the pool opened three new connections. (The server lists a session
    // as soon as its backend starts, before the pool's connect is done and
    // counted.)
    monitor.wait_sessions(&app, 3).await;
    eventually("the pool counted three new connections", async || {
        let stats = pool.stats();
        stats.connections_num >= 6 && stats.pool_available + stats.in_use >= 3
    })
    .await;
    let stats = pool.stats();
    eprintln!("after the terminations: {stats:?}");
    assert_eq!(stats.returns_bad, 3, "{stats:?}");
    assert_eq!(stats.connections_lost, 0, "{stats:?}");
    assert_eq!(stats.connections_num, 6, "{stats:?}");
    assert_eq!(stats.pool_size, 3, "{stats:?}");
    let held: Vec<_> = futures_all(&pool, 3).await;
    for conn in &held {
        let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
        assert!(
            !old_pids.contains(&pid),
            "a terminated backend was handed out"
        );
    }
    drop(held);
    assert!(
        table.committed().is_empty(),
        "the terminated transaction's row is visible"
    );
}

/// Checks out `n` connections at once.
async fn futures_all(pool: &Pool, n: usize) -> Vec<tidepool_async::PooledConnection> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(ok(pool.get().await));
    }
    held
}
