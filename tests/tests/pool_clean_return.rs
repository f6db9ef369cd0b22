//! A connection comes back clean, whatever its previous user left behind:
//! an open transaction (a leaked guard, raw `BEGIN` through either
//! protocol or through the raw client), an aborted transaction, a query
//! future dropped while the statement ran, or a panic inside a transaction.
//!
//! Each test uses a pool of one connection, so the next user gets the very
//! same server session (same `pg_backend_pid()`): it must not be inside a
//! transaction, must not see the previous user's uncommitted row, and its
//! own row must autocommit, while the previous user's never does.

mod common;

use std::time::{Duration, Instant};

use common::{Monitor, Table, database, ok, tagged_url};
use tidepool_async::{Pool, PooledConnection};
use tidepool_testdb::TestDatabase;

/// A pool of one connection and a table of the test's own.
struct Case {
    // Dropped before the database handle, so its sessions end first.
    pool: Pool,
    table: Table,
    /// The backend of the pool's only connection.
    pid: i32,
    db: TestDatabase,
}

impl Case {
    async fn new(tag: &str) -> Self {
        Self::with_pool(tag, |builder| builder).await
    }

    async fn with_pool(
        tag: &str,
        configure: impl FnOnce(tidepool_async::PoolBuilder) -> tidepool_async::PoolBuilder,
    ) -> Self {
        let db = database();
        let (_, url) = tagged_url(&db, tag);
        let pool = ok(configure(
            Pool::builder(&url)
                .min_size(1)
                .max_size(1)
                .timeout(Duration::from_secs(10)),
        )
        .build());
        let conn = ok(pool.get().await);
        let pid = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
        drop(conn);
        Self {
            table: Table::create(&db, tag),
            pool,
            pid,
            db,
        }
    }

    async fn get(&self) -> PooledConnection {
        ok(self.pool.get().await)
    }

    /// Inserts the previous user's row, never committed.
    async fn insert_leaked(&self, conn: &PooledConnection) {
        ok(conn.execute(&self.table.insert_sql(), &[&"leaked"]).await);
    }

    /// The next user gets the same session, outside any transaction, and
    /// works normally.
    async fn assert_next_user_is_clean(&self) {
        self.assert_next_user_is_clean_on(Some(self.pid)).await;
        let stats = self.pool.stats();
        assert_eq!(stats.returns_bad, 0, "the reset failed: {stats:?}");
    }

    /// As [`assert_next_user_is_clean`], on backend `pid` when given.
    async fn assert_next_user_is_clean_on(&self, pid: Option<i32>) {
        let before = self.table.committed();
        assert!(
            !before.iter().any(|v| v == "leaked"),
            "the previous user's row was committed: {before:?}"
        );
        let conn = self.get().await;
        let row = ok(conn
            .query_one(
                &format!(
                    "select pg_backend_pid(), txid_current_if_assigned() is null, \
                     (select count(*) from {} where v = 'leaked')",
                    self.table.name
                ),
                &[],
            )
            .await);
        if let Some(pid) = pid {
            assert_eq!(
                row.get::<_, i32>(0),
                pid,
                "the connection must be reset and reused, not replaced"
            );
        }
        assert!(
            row.get::<_, bool>(1),
            "the next user is inside the previous user's transaction"
        );
        assert_eq!(
            row.get::<_, i64>(2),
            0,
            "the next user sees the previous user's uncommitted row"
        );
        ok(conn.execute(&self.table.insert_sql(), &[&"fresh"]).await);
        drop(conn);
        let mut expected = before;
        expected.push("fresh".to_owned());
        assert_eq!(
            self.table.committed(),
            expected,
            "the next user's insert must autocommit, and nothing else"
        );
    }
}

#[tokio::test]
async fn a_leaked_transaction_guard_is_rolled_back() {
    let case = Case::new("leak").await;
    let mut conn = case.get().await;
    let tx = ok(conn.transaction().await);
    ok(tx.execute(&case.table.insert_sql(), &[&"leaked"]).await);
    std::mem::forget(tx);
    drop(conn);
    case.assert_next_user_is_clean().await;
}

#[tokio::test]
async fn a_raw_begin_through_the_simple_protocol_is_rolled_back() {
    let case = Case::new("rawsimple").await;
    let conn = case.get().await;
    ok(conn.batch_execute("BEGIN").await);
    case.insert_leaked(&conn).await;
    drop(conn);
    case.assert_next_user_is_clean().await;

    // BEGIN inside a longer script.
    let conn = case.get().await;
    ok(conn
        .batch_execute(&format!(
            "select 1; begin; {}",
            case.table.insert_literal("leaked")
        ))
        .await);
    ok(conn.simple_query("select 2").await);
    drop(conn);
    case.assert_next_user_is_clean().await;
}

#[tokio::test]
async fn a_raw_begin_through_the_extended_protocol_is_rolled_back() {
    let case = Case::new("rawext").await;
    for begin in ["BEGIN", "start transaction", "  -- a comment\n begin"] {
        let conn = case.get().await;
        ok(conn.execute(begin, &[]).await);
        case.insert_leaked(&conn).await;
        drop(conn);
        case.assert_next_user_is_clean().await;
    }
}

#[tokio::test]
async fn a_begin_through_the_raw_client_is_rolled_back() {
    let case = Case::new("rawclient").await;
    let conn = case.get().await;
    ok(conn.client().batch_execute("BEGIN").await);
    ok(conn
        .client()
        .execute(&case.table.insert_sql(), &[&"leaked"])
        .await);
    drop(conn);
    case.assert_next_user_is_clean().await;
}

#[tokio::test]
async fn an_aborted_transaction_is_rolled_back() {
    let case = Case::new("aborted").await;
    let conn = case.get().await;
    ok(conn.batch_execute("BEGIN").await);
    case.insert_leaked(&conn).await;
    let error = conn
        .execute("select 1 / 0", &[])
        .await
        .expect_err("division by zero");
    assert_eq!(
        error.code(),
        Some(&tidepool_async::tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
    );
    let error = conn
        .query_one("select 1", &[])
        .await
        .expect_err("the transaction is aborted");
    assert_eq!(
        error.code(),
        Some(&tidepool_async::tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
    );
    drop(conn);
    case.assert_next_user_is_clean().await;

    // And a guarded transaction that failed, then was dropped.
    let mut conn = case.get().await;
    let tx = ok(conn.transaction().await);
    ok(tx.execute(&case.table.insert_sql(), &[&"leaked"]).await);
    assert!(tx.execute("select 1 / 0", &[]).await.is_err());
    drop(tx);
    drop(conn);
    case.assert_next_user_is_clean().await;
}

#[tokio::test]
async fn a_query_future_dropped_mid_statement_leaves_a_clean_connection() {
    let case = Case::new("dropped").await;
    let conn = case.get().await;
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        conn.query("select pg_sleep(0.5)", &[]),
    )
    .await;
    assert!(dropped.is_err(), "pg_sleep(0.5) cannot finish within 50 ms");
    drop(conn);
    // The next user gets the session only once the statement is over.
    let monitor = Monitor::connect(case.db.url()).await;
    let conn = case.get().await;
    assert_eq!(
        monitor.backend_state(case.pid).await.as_deref(),
        Some("idle"),
        "the next user got the connection while the dropped statement still ran"
    );
    drop(conn);
    case.assert_next_user_is_clean().await;

    // The same inside a raw transaction.
    let conn = case.get().await;
    ok(conn.batch_execute("BEGIN").await);
    case.insert_leaked(&conn).await;
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        conn.query("select pg_sleep(0.5)", &[]),
    )
    .await;
    assert!(dropped.is_err());
    drop(conn);
    case.assert_next_user_is_clean().await;
}

/// A reset that takes longer than `reset_timeout` closes the connection. A
/// statement left running no longer makes a reset slow (it is cancelled),
/// so a slow `reset` callback stands in for a slow server.
#[tokio::test]
async fn a_reset_slower_than_reset_timeout_closes_the_connection_instead() {
    let slow = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&slow);
    let case = Case::with_pool("slowreset", move |builder| {
        builder
            .reset_timeout(Duration::from_millis(300))
            .reset(move |conn| {
                let slow = flag.load(std::sync::atomic::Ordering::SeqCst);
                Box::pin(async move {
                    if slow {
                        conn.batch_execute("select pg_sleep(3)").await
                    } else {
                        Ok(())
                    }
                })
            })
    })
    .await;
    // The setup's connection must be back (its reset done) before resets
    // turn slow.
    common::eventually("the setup's connection is back", async || {
        case.pool.stats().pool_available == 1
    })
    .await;
    slow.store(true, std::sync::atomic::Ordering::SeqCst);
    let conn = case.get().await;
    ok(conn.batch_execute("BEGIN").await);
    let returned = Instant::now();
    drop(conn);

    // A new session replaces it, long before pg_sleep(3) ends.
    let conn = case.get().await;
    let waited = returned.elapsed();
    slow.store(false, std::sync::atomic::Ordering::SeqCst);
    let pid: i32 = ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0);
    assert_ne!(
        pid, case.pid,
        "a connection whose reset timed out must be closed"
    );
    assert!(
        waited < Duration::from_millis(2500),
        "the checkout waited {waited:?}, as if for the statement to end"
    );
    drop(conn);
    assert_eq!(case.pool.stats().returns_bad, 1);
    case.assert_next_user_is_clean_on(Some(pid)).await;
}

#[tokio::test]
async fn a_panic_inside_a_transaction_leaves_a_clean_connection() {
    let case = std::sync::Arc::new(Case::new("panic").await);

    let panicked = tokio::spawn({
        let case = std::sync::Arc::clone(&case);
        async move {
            let mut conn = case.get().await;
            let tx = ok(conn.transaction().await);
            ok(tx.execute(&case.table.insert_sql(), &[&"leaked"]).await);
            panic!("a panic on purpose, inside a transaction");
        }
    })
    .await;
    assert!(panicked.expect_err("the task panicked").is_panic());
    case.assert_next_user_is_clean().await;

    // A panic inside a raw transaction.
    let panicked = tokio::spawn({
        let case = std::sync::Arc::clone(&case);
        async move {
            let conn = case.get().await;
            ok(conn.batch_execute("BEGIN").await);
            case.insert_leaked(&conn).await;
            panic!("a panic on purpose, inside a raw transaction");
        }
    })
    .await;
    assert!(panicked.expect_err("the task panicked").is_panic());
    case.assert_next_user_is_clean().await;
}

/// Opens a transaction with `begin` through the extended protocol, returns
/// the connection, and checks that the next user does not inherit it.
async fn check_begin_spelling(begin: &str) {
    let case = Case::new("spelling").await;
    let conn = case.get().await;
    ok(conn.execute(begin, &[]).await);
    case.insert_leaked(&conn).await;
    // The server really is inside a transaction now.
    let in_tx: bool = ok(conn
        .query_one("select txid_current_if_assigned() is not null", &[])
        .await)
    .get(0);
    assert!(in_tx, "{begin:?} did not open a transaction");
    drop(conn);
    case.assert_next_user_is_clean().await;
}

/// PostgreSQL skips empty statements, so `;BEGIN` is a single `BEGIN` that
/// the extended protocol accepts.
#[tokio::test]
async fn begin_after_an_empty_statement_is_rolled_back() {
    for begin in [";BEGIN", " ; begin", "/* c */;BEGIN"] {
        check_begin_spelling(begin).await;
    }
}

/// PostgreSQL ends a `--` comment at a carriage return as well as at a
/// line feed.
#[tokio::test]
async fn begin_after_a_comment_ended_by_a_carriage_return_is_rolled_back() {
    check_begin_spelling("-- a comment\rBEGIN").await;
}
