//! The closure form of transactions and server-side cursors, in both
//! flavours.

mod common;

use common::{Table, database, ok, tagged_url};
use tidepool_async::{Error, Pool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_transaction_commits_on_ok_and_rolls_back_on_err() {
    let db = database();
    let (_, url) = tagged_url(&db, "in_tx");
    let table = Table::create(&db, "in_tx");
    let insert = table.insert_sql();
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let mut conn = ok(pool.get().await);

    let count: u64 = ok(conn
        .in_transaction(|tx| {
            let insert = insert.clone();
            Box::pin(async move {
                tx.execute(&insert, &[&"kept"]).await?;
                Ok::<_, Error>(1)
            })
        })
        .await);
    assert_eq!(count, 1);

    #[derive(Debug)]
    enum AppError {
        Db(#[allow(dead_code)] Error),
        Refused,
    }
    impl From<Error> for AppError {
        fn from(error: Error) -> Self {
            AppError::Db(error)
        }
    }
    let outcome = conn
        .in_transaction(|tx| {
            let insert = insert.clone();
            Box::pin(async move {
                tx.execute(&insert, &[&"rolled back"]).await?;
                Err::<(), _>(AppError::Refused)
            })
        })
        .await;
    assert!(matches!(outcome, Err(AppError::Refused)), "{outcome:?}");
    // A server error inside rolls back too.
    let outcome: Result<(), Error> = conn
        .in_transaction(|tx| {
            let insert = insert.clone();
            Box::pin(async move {
                tx.execute(&insert, &[&"also rolled back"]).await?;
                tx.execute("SELECT 1/0", &[]).await?;
                Ok(())
            })
        })
        .await;
    assert!(outcome.is_err());
    ok(conn.query_one("SELECT 1", &[]).await);
    drop(conn);
    assert_eq!(table.committed(), ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_reads_a_large_result_in_chunks() {
    let db = database();
    let (_, url) = tagged_url(&db, "cursor");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let mut conn = ok(pool.get().await);
    let tx = ok(conn.transaction().await);
    let mut cursor = ok(tx
        .cursor(
            "SELECT n FROM generate_series(1, $1::int) AS n",
            &[&10_005i32],
        )
        .await);
    let mut chunks = 0;
    let mut total: i64 = 0;
    let mut seen = 0;
    loop {
        let rows = ok(cursor.fetch(1000).await);
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 1000);
        chunks += 1;
        seen += rows.len();
        total += rows
            .iter()
            .map(|row| i64::from(row.get::<_, i32>(0)))
            .sum::<i64>();
    }
    assert!(cursor.is_exhausted());
    assert_eq!(seen, 10_005);
    assert_eq!(chunks, 11);
    assert_eq!(total, 10_005 * 10_006 / 2);
    drop(cursor);
    ok(tx.commit().await);
}

#[test]
fn blocking_in_transaction_and_cursor() {
    let db = database();
    let (_, url) = tagged_url(&db, "sync_in_tx");
    let table = Table::create(&db, "sync_in_tx");
    let insert = table.insert_sql();
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .build());
    let mut conn = ok(pool.get());
    ok(conn.in_transaction(|tx| tx.execute(&insert, &[&"kept"])));
    let failed: Result<(), Error> = conn.in_transaction(|tx| {
        tx.execute(&insert, &[&"rolled back"])?;
        tx.execute("SELECT 1/0", &[])?;
        Ok(())
    });
    assert!(failed.is_err());
    assert_eq!(table.committed(), ["kept"]);

    let tx = ok(conn.transaction());
    let mut cursor = ok(tx.cursor("SELECT generate_series(1, 25)", &[]));
    let mut seen = 0;
    while !cursor.is_exhausted() {
        seen += ok(cursor.fetch(10)).len();
    }
    assert_eq!(seen, 25);
}
