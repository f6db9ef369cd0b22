//! `WITH HOLD` cursors outlive their statement's transaction: read in
//! chunks between other statements, closed by `close`, and at the latest
//! when the connection goes back to the pool (the next user of the same
//! session sees no cursor). Refused behind a transaction pooler. Both
//! flavours.

mod common;

use std::time::Duration;

use common::{database, ok, tagged_url};
use tidepool_async::Pool;

const OPEN_CURSORS: &str = "SELECT count(*) FROM pg_cursors WHERE is_holdable";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_cursor_is_read_across_statements_and_closed_on_return() {
    let db = database();
    let (_, url) = tagged_url(&db, "hold");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(10))
        .build());
    let conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    let mut cursor = ok(conn
        .cursor_with_hold("SELECT generate_series(1, $1::int)", &[&10i32])
        .await);
    let mut seen = Vec::new();
    while !cursor.is_exhausted() {
        for row in ok(cursor.fetch(3).await) {
            seen.push(row.get::<_, i32>(0));
        }
        // Other statements run between the chunks, each in its own
        // transaction: the cursor outlives them.
        ok(conn.query_one("SELECT 1", &[]).await);
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    // Closed explicitly: gone at once.
    ok(cursor.close().await);
    let open: i64 = ok(conn.query_one(OPEN_CURSORS, &[]).await).get(0);
    assert_eq!(open, 0);
    // Left open: closed when the connection comes back.
    let mut left = ok(conn.cursor_with_hold("SELECT 1", &[]).await);
    assert_eq!(ok(left.fetch(1).await).len(), 1);
    let open: i64 = ok(conn.query_one(OPEN_CURSORS, &[]).await).get(0);
    assert_eq!(open, 1);
    drop(left);
    drop(conn);
    let conn = ok(pool.get().await);
    let same: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    assert_eq!(same, pid, "the same session, reset rather than replaced");
    let open: i64 = ok(conn.query_one(OPEN_CURSORS, &[]).await).get(0);
    assert_eq!(open, 0, "the next user sees the previous user's cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_cursor_is_refused_behind_a_transaction_pooler() {
    let db = database();
    let (_, url) = tagged_url(&db, "hold_pooler");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .pgbouncer(true)
        .build());
    let conn = ok(pool.get().await);
    let error = conn
        .cursor_with_hold("SELECT 1", &[])
        .await
        .expect_err("session state behind a pooler");
    assert!(error.is_config(), "{error:?}");
    common::assert_contains(&error.to_string(), &["WITH HOLD", "Transaction::cursor"]);
}

#[test]
fn a_blocking_held_cursor_is_read_and_closed_on_return() {
    let db = database();
    let (_, url) = tagged_url(&db, "hold_sync");
    let pool = ok(tidepool_sync::Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .build());
    let conn = ok(pool.get());
    let mut cursor = ok(conn.cursor_with_hold("SELECT generate_series(1, 5)", &[]));
    let mut seen = 0;
    while !cursor.is_exhausted() {
        seen += ok(cursor.fetch(2)).len();
        ok(conn.query_one("SELECT 1", &[]));
    }
    assert_eq!(seen, 5);
    drop(cursor);
    drop(conn);
    let conn = ok(pool.get());
    let open: i64 = ok(conn.query_one(OPEN_CURSORS, &[])).get(0);
    assert_eq!(open, 0);
}
