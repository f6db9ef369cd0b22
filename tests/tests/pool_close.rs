//! Closing a pool: waiting requests and later checkouts fail with a closed
//! error, idle sessions end on the server at once, sessions in use end
//! when they are returned, and dropping the last handle closes the pool.

mod common;

use std::time::{Duration, Instant};

use common::{Monitor, database, eventually, ok, tagged_url};
use tidepool_async::Pool;

#[tokio::test]
async fn close_fails_the_waiters_and_every_later_checkout() {
    let db = database();
    let (_, url) = tagged_url(&db, "closewait");
    let pool = ok(Pool::builder(&url)
        .name("closing")
        .min_size(1)
        .max_size(1)
        .timeout(Duration::from_secs(30))
        .build());
    let held = ok(pool.get().await);

    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.get().await.map(drop) }
    });
    eventually("the waiter is queued", async || {
        pool.stats().requests_waiting == 1
    })
    .await;

    pool.close();
    assert!(pool.is_closed());
    let error = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("close() must wake the waiter, not leave it to its 30 s timeout")
        .unwrap()
        .expect_err("the pool is closed");
    assert!(error.is_closed(), "{error:?}");
    common::assert_contains(&error.to_string(), &["pool \"closing\" is closed"]);

    let started = Instant::now();
    let error = pool.get().await.expect_err("the pool is closed");
    assert!(error.is_closed(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    let error = pool.wait().await.expect_err("the pool is closed");
    assert!(error.is_closed(), "{error:?}");

    // The connection in use still works until it is returned.
    let one: i32 = ok(held.query_one("select 1", &[]).await).get(0);
    assert_eq!(one, 1);
}

/// A pool of three open sessions on the server, one of them checked out.
struct OneHeld {
    /// Keeps the test server up for as long as the test runs.
    _db: tidepool_testdb::TestDatabase,
    pool: Pool,
    held: tidepool_async::PooledConnection,
    monitor: Monitor,
    /// The sessions' `application_name`.
    app: String,
}

async fn three_sessions_one_held(tag: &str) -> OneHeld {
    let db = database();
    let (app, url) = tagged_url(&db, tag);
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(3).max_size(3).build());
    ok(pool.wait().await);
    monitor.wait_sessions(&app, 3).await;
    let held = ok(pool.get().await);
    OneHeld {
        _db: db,
        pool,
        held,
        monitor,
        app,
    }
}

#[tokio::test]
async fn close_ends_idle_sessions_at_once_and_the_others_when_returned() {
    let one = three_sessions_one_held("closeidle").await;

    one.pool.close();
    one.monitor.wait_sessions(&one.app, 1).await;

    drop(one.held);
    one.monitor.wait_sessions(&one.app, 0).await;
    let stats = one.pool.stats();
    assert_eq!(stats.pool_size, 0, "{stats:?}");
    assert_eq!(stats.pool_available, 0, "{stats:?}");
}

#[tokio::test]
async fn a_connection_returned_for_a_reset_after_close_is_closed_too() {
    let db = database();
    let (app, url) = tagged_url(&db, "closereset");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(1).max_size(1).build());
    let held = ok(pool.get().await);
    ok(held.batch_execute("BEGIN").await);
    monitor.wait_sessions(&app, 1).await;

    pool.close();
    drop(held);
    monitor.wait_sessions(&app, 0).await;
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_pool() {
    let db = database();
    let (app, url) = tagged_url(&db, "closedrop");
    let monitor = Monitor::connect(db.url()).await;
    let pool = ok(Pool::builder(&url).min_size(2).max_size(2).build());
    ok(pool.wait().await);
    let clone = pool.clone();
    monitor.wait_sessions(&app, 2).await;

    drop(pool);
    assert!(!clone.is_closed(), "a clone keeps the pool open");
    drop(ok(clone.get().await));
    drop(clone);
    monitor.wait_sessions(&app, 0).await;
}

#[tokio::test]
async fn a_connection_checked_out_does_not_keep_a_dropped_pool_open() {
    let one = three_sessions_one_held("closedropheld").await;

    // The last handle goes while a connection is out: the idle sessions
    // end at once, the one in use when it comes back.
    drop(one.pool);
    one.monitor.wait_sessions(&one.app, 1).await;
    ok(one.held.simple_query("SELECT 1").await);
    drop(one.held);
    one.monitor.wait_sessions(&one.app, 0).await;
}
