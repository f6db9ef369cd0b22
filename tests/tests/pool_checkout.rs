//! Checkout and return against a real server: a connection is handed out,
//! answers queries, goes back to the pool when its guard is dropped, and
//! the same server session serves the next checkout.

mod common;

use std::time::Duration;

use common::{database, ok, tagged_url};
use tidepool_async::{Pool, PooledConnection};

async fn backend_pid(conn: &PooledConnection) -> i32 {
    ok(conn.query_one("select pg_backend_pid()", &[]).await).get(0)
}

#[tokio::test]
async fn a_returned_connection_serves_the_next_checkout() {
    let db = database();
    let (_, url) = tagged_url(&db, "checkout");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());

    let conn = ok(pool.get().await);
    let one: i32 = ok(conn.query_one("SELECT 1", &[]).await).get(0);
    assert_eq!(one, 1);
    let first_pid = backend_pid(&conn).await;
    drop(conn);

    for _ in 0..3 {
        let conn = ok(pool.get_timeout(Duration::from_secs(5)).await);
        assert_eq!(
            backend_pid(&conn).await,
            first_pid,
            "max_size 1: every checkout must reuse the one server session"
        );
    }

    let stats = pool.stats();
    assert_eq!(stats.requests_num, 4, "{stats:?}");
    assert_eq!(stats.requests_errors, 0, "{stats:?}");
    assert_eq!(stats.connections_num, 1, "{stats:?}");
    assert_eq!(stats.pool_size, 1, "{stats:?}");
    assert_eq!(stats.pool_available, 1, "{stats:?}");
}

#[tokio::test]
async fn a_pool_without_min_size_connects_on_demand() {
    let db = database();
    let (app, url) = tagged_url(&db, "ondemand");
    let pool = ok(Pool::builder(&url).min_size(0).max_size(2).build());
    assert_eq!(pool.stats().pool_size, 0);

    let conn = ok(pool.get_timeout(Duration::from_secs(10)).await);
    let row = ok(conn
        .query_one(
            "select current_setting('application_name'), $1::int4 + 1",
            &[&41i32],
        )
        .await);
    assert_eq!(row.get::<_, String>(0), app);
    assert_eq!(row.get::<_, i32>(1), 42);
    let stats = pool.stats();
    assert_eq!(stats.requests_queued, 1, "{stats:?}");
    assert!(stats.connections_num >= 1, "{stats:?}");
}

#[tokio::test]
async fn a_detached_connection_leaves_the_pool() {
    let db = database();
    let (_, url) = tagged_url(&db, "detach");
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());

    let conn = ok(pool.get().await);
    let pid = backend_pid(&conn).await;
    let detached = PooledConnection::detach(conn);

    // The pool replaces it with a new session, while the detached one
    // still works.
    let conn = ok(pool.get_timeout(Duration::from_secs(10)).await);
    assert_ne!(backend_pid(&conn).await, pid);
    let still: i32 = ok(detached.query_one("select pg_backend_pid()", &[]).await).get(0);
    assert_eq!(still, pid);
}
