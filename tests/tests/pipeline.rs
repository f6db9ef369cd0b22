//! Pipelines: statements sent together, results in order, an error in the
//! middle reported for its statement alone (outside a transaction) or
//! aborting the rest (inside one).

mod common;

use common::{database, ok, tagged_url};
use tidepool_async::Pool;
use tidepool_async::tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_in_order_and_an_error_stays_with_its_statement() {
    let db = database();
    let (_, url) = tagged_url(&db, "pipeline");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let mut conn = ok(pool.get().await);
    let results = conn
        .pipeline()
        .query("SELECT $1::int AS n", &[&1i32])
        .query("SELECT 1/0", &[])
        .execute("SELECT generate_series(1, $1::int)", &[&3i32])
        .query("SELECT $1::text", &[&"last"])
        .run()
        .await;
    assert_eq!(results.len(), 4);
    assert_eq!(
        ok(results[0].as_ref()).rows().unwrap()[0].get::<_, i32>(0),
        1
    );
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO), "{error}");
    assert_eq!(ok(results[2].as_ref()).count(), Some(3));
    assert_eq!(
        ok(results[3].as_ref()).rows().unwrap()[0].get::<_, String>(0),
        "last"
    );

    // Inside a transaction the pipeline stops at the first error: the
    // statements after it did not run, and say which one failed.
    let tx = ok(conn.transaction().await);
    let results = tx
        .pipeline()
        .query("SELECT 1", &[])
        .query("SELECT 1/0", &[])
        .query("SELECT 2", &[])
        .execute("SELECT 3", &[])
        .run()
        .await;
    assert!(results[0].is_ok());
    let failed = results[1].as_ref().unwrap_err();
    assert_eq!(failed.code(), Some(&SqlState::DIVISION_BY_ZERO), "{failed}");
    assert!(!failed.is_pipeline_aborted());
    for result in &results[2..] {
        let aborted = result.as_ref().unwrap_err();
        assert!(aborted.is_pipeline_aborted(), "{aborted:?}");
        common::assert_contains(&aborted.to_string(), &["statement 1 of the pipeline"]);
    }
    drop(tx);
    ok(conn.query_one("SELECT 1", &[]).await);
}

#[test]
fn blocking_pipeline() {
    let db = database();
    let (_, url) = tagged_url(&db, "pipeline_sync");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .build());
    let conn = ok(pool.get());
    let results = ok(conn
        .pipeline()
        .query("SELECT 10", &[])
        .query("SELECT 20", &[])
        .run());
    let values: Vec<i32> = results
        .iter()
        .map(|r| ok(r.as_ref()).rows().unwrap()[0].get(0))
        .collect();
    assert_eq!(values, [10, 20]);
    drop(conn);

    // The same stop at the first error inside a blocking transaction.
    let mut conn = ok(pool.get());
    let tx = ok(conn.transaction());
    let results = ok(tx
        .pipeline()
        .query("SELECT 1/0", &[])
        .query("SELECT 2", &[])
        .run());
    assert_eq!(
        results[0].as_ref().unwrap_err().code(),
        Some(&SqlState::DIVISION_BY_ZERO)
    );
    let aborted = results[1].as_ref().unwrap_err();
    assert!(aborted.is_pipeline_aborted(), "{aborted:?}");
    common::assert_contains(&aborted.to_string(), &["statement 0 of the pipeline"]);
}
