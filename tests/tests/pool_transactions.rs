//! Transactions on pooled connections: commit persists, rollback and drop
//! discard, a nested transaction is a savepoint, and the builder's
//! isolation level and read-only mode reach the server.

mod common;

use std::time::Duration;

use common::{Table, database, ok, tagged_url};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{IsolationLevel, Pool};

async fn pool(tag: &str) -> (tidepool_testdb::TestDatabase, Pool) {
    let db = database();
    let (_, url) = tagged_url(&db, tag);
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(2)
        .timeout(Duration::from_secs(10))
        .build());
    (db, pool)
}

#[tokio::test]
async fn commit_persists_and_rollback_or_drop_discard() {
    let (db, pool) = pool("txbasic").await;
    let table = Table::create(&db, "txbasic");
    let insert = table.insert_sql();
    let mut conn = ok(pool.get().await);

    let tx = ok(conn.transaction().await);
    ok(tx.execute(&insert, &[&"committed"]).await);
    ok(tx.commit().await);
    assert_eq!(table.committed(), ["committed"]);

    let tx = ok(conn.transaction().await);
    ok(tx.execute(&insert, &[&"rolled back"]).await);
    let seen: i64 = ok(tx
        .query_one(&format!("select count(*) from {}", table.name), &[])
        .await)
    .get(0);
    assert_eq!(seen, 2, "the transaction sees its own row");
    ok(tx.rollback().await);
    assert_eq!(table.committed(), ["committed"]);

    let tx = ok(conn.transaction().await);
    ok(tx.execute(&insert, &[&"dropped"]).await);
    drop(tx);
    // The rollback is queued at once: the same connection no longer sees
    // the row, with no pool round trip in between.
    let seen: i64 = ok(conn
        .query_one(
            &format!("select count(*) from {} where v = 'dropped'", table.name),
            &[],
        )
        .await)
    .get(0);
    assert_eq!(seen, 0);
    assert_eq!(table.committed(), ["committed"]);

    // An error inside a transaction: it can only roll back.
    let tx = ok(conn.transaction().await);
    ok(tx.execute(&insert, &[&"before the error"]).await);
    let error = tx.execute("select 1 / 0", &[]).await.expect_err("1 / 0");
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO));
    // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK;
    // whatever the client makes of it, nothing is kept.
    let _ = tx.commit().await;
    assert_eq!(table.committed(), ["committed"]);
}

#[tokio::test]
async fn a_rolled_back_savepoint_keeps_only_the_outer_rows() {
    let (db, pool) = pool("txnested").await;
    let table = Table::create(&db, "txnested");
    let insert = table.insert_sql();
    let mut conn = ok(pool.get().await);

    let mut outer = ok(conn.transaction().await);
    ok(outer.execute(&insert, &[&"outer 1"]).await);
    {
        let inner = ok(outer.transaction().await);
        ok(inner.execute(&insert, &[&"inner rolled back"]).await);
        ok(inner.rollback().await);
    }
    {
        let inner = ok(outer.transaction().await);
        ok(inner.execute(&insert, &[&"inner dropped"]).await);
        drop(inner);
    }
    {
        let inner = ok(outer.transaction().await);
        ok(inner.execute(&insert, &[&"inner released"]).await);
        ok(inner.commit().await);
    }
    {
        // A savepoint recovers from an error without losing the outer work.
        let inner = ok(outer.transaction().await);
        assert!(inner.execute("select 1 / 0", &[]).await.is_err());
        drop(inner);
    }
    ok(outer.execute(&insert, &[&"outer 2"]).await);
    assert_eq!(
        table.committed(),
        Vec::<String>::new(),
        "nothing committed yet"
    );
    ok(outer.commit().await);

    assert_eq!(
        table.committed(),
        ["inner released", "outer 1", "outer 2"],
        "the outer transaction keeps its rows and the released savepoint's only"
    );
}

#[tokio::test]
async fn a_serializable_read_only_transaction_reaches_the_server() {
    let (db, pool) = pool("txbuild").await;
    let table = Table::create(&db, "txbuild");
    let mut conn = ok(pool.get().await);

    let tx = ok(conn
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .read_only(true)
        .start()
        .await);
    let isolation: String = ok(tx.query_one("SHOW transaction_isolation", &[]).await).get(0);
    assert_eq!(isolation, "serializable");
    let read_only: String = ok(tx.query_one("SHOW transaction_read_only", &[]).await).get(0);
    assert_eq!(read_only, "on");

    let error = tx
        .execute(&table.insert_sql(), &[&"forbidden"])
        .await
        .expect_err("a read-only transaction cannot write");
    assert_eq!(error.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
    let db_error = error.as_db_error().expect("the server's error");
    assert!(
        db_error.message().contains("read-only transaction"),
        "{db_error:?}"
    );
    drop(tx);

    // The settings belonged to that transaction only.
    let isolation: String = ok(conn.query_one("SHOW transaction_isolation", &[]).await).get(0);
    assert_eq!(isolation, "read committed");
    let read_only: String = ok(conn.query_one("SHOW transaction_read_only", &[]).await).get(0);
    assert_eq!(read_only, "off");
    ok(conn.execute(&table.insert_sql(), &[&"allowed"]).await);
    assert_eq!(table.committed(), ["allowed"]);

    // A deferrable one starts too.
    let tx = ok(conn
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .deferrable(true)
        .start()
        .await);
    let isolation: String = ok(tx.query_one("SHOW transaction_isolation", &[]).await).get(0);
    assert_eq!(isolation, "repeatable read");
    ok(tx.commit().await);
}
