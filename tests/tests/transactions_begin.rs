//! A transaction's `BEGIN` goes out with its first statement: beginning
//! waits for nothing, a transaction that runs nothing sends nothing, the
//! statements still share one transaction that commits or rolls back as a
//! whole, and a failed `BEGIN` is the first statement's error, after which
//! the transaction refuses every statement.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{database, ok, tagged_url, with_application_name};
use tidepool_async::{Error, Pool};
use tidepool_testdb::Relay;

async fn one_connection_pool(url: &str) -> Pool {
    ok(Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beginning_waits_for_no_answer_from_the_server() {
    let Some(server) = database().server().cloned() else {
        eprintln!("skipped: needs the private server, to put a relay in front of it");
        return;
    };
    let target: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let relay = Relay::start(target).unwrap_or_else(|e| panic!("{e}"));
    let url = with_application_name(
        &format!("postgresql://postgres@127.0.0.1:{}/postgres", relay.port()),
        "begin_no_wait",
    );
    let pool = one_connection_pool(&url).await;
    let mut conn = ok(pool.get().await);
    // A silent network: anything that waits for the server hangs.
    relay.freeze();
    let tx = tokio::time::timeout(Duration::from_secs(5), conn.transaction())
        .await
        .expect("transaction() waited for the server")
        .unwrap();
    relay.thaw();
    // BEGIN and the first statement, answered together.
    let xact: i64 = ok(tx
        .query_one("SELECT pg_current_xact_id()::text::int8", &[])
        .await)
    .get(0);
    let again: i64 = ok(tx
        .query_one("SELECT pg_current_xact_id()::text::int8", &[])
        .await)
    .get(0);
    assert_eq!(xact, again, "the statements ran in one transaction");
    ok(tx.commit().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_statement_is_inside_the_transaction_and_rolls_back_with_it() {
    let db = database();
    let (_, url) = tagged_url(&db, "begin_rollback");
    let pool = one_connection_pool(&url).await;
    let mut conn = ok(pool.get().await);
    ok(conn
        .batch_execute("CREATE TEMP TABLE first_statement (n int4)")
        .await);

    // Rolled back explicitly, dropped, and by in_transaction's error.
    let tx = ok(conn.transaction().await);
    ok(tx
        .execute("INSERT INTO first_statement VALUES (1)", &[])
        .await);
    ok(tx.rollback().await);
    {
        let tx = ok(conn.transaction().await);
        ok(tx
            .execute("INSERT INTO first_statement VALUES (2)", &[])
            .await);
    }
    let failed: Result<(), Error> = conn
        .in_transaction(|tx| {
            Box::pin(async move {
                tx.execute("INSERT INTO first_statement VALUES (3)", &[])
                    .await?;
                tx.execute("SELECT 1 / 0", &[]).await?;
                Ok(())
            })
        })
        .await;
    assert!(failed.is_err());
    // A script as the first statement: BEGIN goes in its query string.
    let tx = ok(conn.transaction().await);
    ok(tx
        .batch_execute("INSERT INTO first_statement VALUES (4)")
        .await);
    drop(tx);
    // A savepoint as the first thing.
    {
        let mut tx = ok(conn.transaction().await);
        let inner = ok(tx.transaction().await);
        ok(inner
            .execute("INSERT INTO first_statement VALUES (5)", &[])
            .await);
        ok(inner.commit().await);
    }
    let count: i64 = ok(conn
        .query_one("SELECT count(*) FROM first_statement", &[])
        .await)
    .get(0);
    assert_eq!(
        count, 0,
        "a first statement outlived its rolled-back transaction"
    );

    // Committed: every statement stays.
    conn.in_transaction(|tx| {
        Box::pin(async move {
            tx.execute("INSERT INTO first_statement VALUES (6)", &[])
                .await?;
            tx.execute("INSERT INTO first_statement VALUES (7)", &[])
                .await?;
            Ok::<_, Error>(())
        })
    })
    .await
    .unwrap();
    let count: i64 = ok(conn
        .query_one("SELECT count(*) FROM first_statement", &[])
        .await)
    .get(0);
    assert_eq!(count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_runs_nothing_sends_nothing() {
    let db = database();
    let (_, url) = tagged_url(&db, "begin_nothing");
    let pool = one_connection_pool(&url).await;
    {
        let mut conn = ok(pool.get().await);
        drop(ok(conn.transaction().await));
        ok(ok(conn.transaction().await).commit().await);
        ok(ok(conn.transaction().await).rollback().await);
    }
    // Nothing reached the server, so nothing needed a reset on return.
    let stats = pool.stats();
    assert_eq!(stats.returns_reset, 0, "{stats:?}");
    // A transaction that ran a statement and was dropped is reset.
    {
        let mut conn = ok(pool.get().await);
        let tx = ok(conn.transaction().await);
        ok(tx.query("SELECT 1", &[]).await);
    }
    drop(ok(pool.get().await));
    let stats = pool.stats();
    assert_eq!(stats.returns_reset, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_begin_is_the_first_statements_error_and_the_transaction_refuses_the_rest() {
    let db = database();
    let (_, url) = tagged_url(&db, "begin_failed");
    let pool = one_connection_pool(&url).await;
    let mut conn = ok(pool.get().await);
    // Through the raw client, the session is left in an aborted
    // transaction block, where BEGIN fails.
    conn.client()
        .batch_execute("BEGIN; SELECT 1 / 0")
        .await
        .unwrap_err();
    let tx = ok(conn.transaction().await);
    let error = tx.query_one("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(
        error.code().map(|code| code.code()),
        Some("25P02"),
        "{error}"
    );
    let error = tx.query_one("SELECT 2", &[]).await.unwrap_err();
    assert!(error.to_string().contains("BEGIN failed"), "{error}");
    let error = tx.commit().await.unwrap_err();
    assert!(error.to_string().contains("BEGIN failed"), "{error}");
    drop(conn);
    // The pool rolled the session back: the next user gets it clean.
    let conn = ok(pool.get().await);
    assert_eq!(
        ok(conn.query_one("SELECT 3", &[]).await).get::<_, i32>(0),
        3
    );
}

#[test]
fn blocking_transactions_begin_with_their_first_statement() {
    let db = database();
    let (_, url) = tagged_url(&db, "begin_blocking");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .build());
    let mut conn = ok(pool.get());
    ok(conn.batch_execute("CREATE TEMP TABLE blocking_first (n int4)"));
    {
        let tx = ok(conn.transaction());
        ok(tx.execute("INSERT INTO blocking_first VALUES (1)", &[]));
    }
    let committed: Result<(), tidepool_sync::Error> = conn.in_transaction(|tx| {
        tx.execute("INSERT INTO blocking_first VALUES (2)", &[])?;
        Ok(())
    });
    ok(committed);
    let values: Vec<i32> = ok(conn.query("SELECT n FROM blocking_first", &[]))
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(values, [2]);
}
