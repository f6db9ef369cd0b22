//! Cancellation at every await point: a checkout, a transaction, a
//! statement, a COMMIT, dropped at any point, never leave a connection that
//! the next user sees inside a transaction or with a statement running.

mod common;

use std::time::{Duration, Instant};

use common::{Table, database, drop_after, ok, tagged_url};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{Pool, PooledConnection};

/// Asserts that the session of `conn` is not inside a transaction block:
/// `SAVEPOINT` is refused outside one.
async fn assert_not_in_transaction(conn: &PooledConnection) {
    let error = conn
        .batch_execute("SAVEPOINT probe")
        .await
        .expect_err("SAVEPOINT succeeded: the connection was handed out inside a transaction");
    assert_eq!(
        error.code(),
        Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION),
        "unexpected error: {error}"
    );
}

fn single_connection_pool(url: &str) -> Pool {
    ok(Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_dropped_at_any_await_point_leaves_a_clean_connection() {
    let db = database();
    let (_, url) = tagged_url(&db, "cancel_tx");
    let table = Table::create(&db, "cancel_tx");
    let pool = single_connection_pool(&url);
    ok(pool.wait().await);
    let insert = table.insert_sql();

    let mut finished = false;
    let mut points = 0;
    for pendings in 0..200 {
        let value = format!("v{pendings:03}");
        let work = async {
            let mut conn = pool.get().await?;
            let tx = conn.transaction().await?;
            tx.execute(&insert, &[&value]).await?;
            tx.query_one("SELECT 1", &[]).await?;
            tx.commit().await
        };
        match drop_after(work, pendings).await {
            Some(result) => {
                ok(result);
                finished = true;
            }
            None => points += 1,
        }
        let conn = ok(pool.get().await);
        assert_not_in_transaction(&conn).await;
        drop(conn);
        if finished {
            break;
        }
    }
    assert!(finished, "the work never finished within 200 await points");
    assert!(points >= 4, "only {points} await points were exercised");
    // Only the run that finished committed for sure; a run dropped during
    // COMMIT may have committed too, but nothing else did.
    let committed = table.committed();
    let last = format!("v{points:03}");
    assert!(committed.contains(&last), "{committed:?} lacks {last}");
    assert!(
        committed.len() <= 3,
        "rows of dropped transactions committed: {committed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_left_running_is_cancelled_on_return() {
    let db = database();
    let (app, url) = tagged_url(&db, "cancel_running");
    let pool = single_connection_pool(&url);
    ok(pool.wait().await);
    let monitor = common::Monitor::connect(db.url()).await;

    let conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    let sleeping = tokio::time::timeout(
        Duration::from_millis(200),
        conn.query("SELECT pg_sleep(60)", &[]),
    )
    .await;
    assert!(sleeping.is_err(), "pg_sleep(60) finished within 200 ms");
    assert_eq!(monitor.backend_state(pid).await.as_deref(), Some("active"));
    let returned = Instant::now();
    drop(conn);

    let conn = ok(pool.get().await);
    ok(conn.query_one("SELECT 1", &[]).await);
    let waited = returned.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "the next user's first query finished {waited:?} after the return: \
         the running statement was not cancelled"
    );
    assert_not_in_transaction(&conn).await;
    drop(conn);
    // Nothing of this pool runs on the server any more.
    let active: i64 = ok(monitor
        .client()
        .query_one(
            "select count(*) from pg_stat_activity where application_name = $1 and query like '%pg_sleep(60)%' and state = 'active'",
            &[&app],
        )
        .await)
    .get(0);
    assert_eq!(active, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_dropped_at_any_await_point_leaves_a_clean_connection() {
    let db = database();
    let (_, url) = tagged_url(&db, "cancel_stmt");
    let pool = single_connection_pool(&url);
    ok(pool.wait().await);

    let mut finished = false;
    for pendings in 0..100 {
        let work = async {
            let conn = pool.get().await?;
            conn.batch_execute("BEGIN; SELECT pg_sleep(0.01)").await?;
            conn.query_one("SELECT 1", &[]).await
        };
        if let Some(result) = drop_after(work, pendings).await {
            ok(result);
            finished = true;
        }
        let conn = ok(pool.get().await);
        assert_not_in_transaction(&conn).await;
        if finished {
            break;
        }
    }
    assert!(finished, "the work never finished within 100 await points");
}
