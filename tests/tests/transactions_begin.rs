//! A transaction's statements share one transaction that commits or rolls
//! back as a whole, from its first statement on, however it begins (a
//! statement, a script, a savepoint), in both flavours.

mod common;

use std::time::Duration;

use common::{database, ok, tagged_url};
use tidepool_async::{Error, Pool};

async fn one_connection_pool(url: &str) -> Pool {
    ok(Pool::builder(url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build())
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

#[test]
fn blocking_transactions_hold_their_first_statement() {
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
