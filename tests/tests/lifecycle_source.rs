//! Connection sources that change (a password or a whole connection string
//! asked for at every connect) and the query timeout.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Monitor, assert_contains, database, ok, psql, tagged_url, unique, with_application_name,
};
use tidepool_async::Pool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_is_used_by_the_connections_opened_after_it() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: needs the private server, whose roles log in with passwords");
        return;
    };
    let role = unique("rotating");
    psql(&db, &format!("create role {role} login password 'first'"));
    let password = Arc::new(Mutex::new("first".to_owned()));
    let current = Arc::clone(&password);
    let url = server.url_for(&role, None, "postgres");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(2)
        .timeout(Duration::from_secs(5))
        .password_fn(move || current.lock().unwrap().clone())
        .build());
    ok(pool.wait().await);
    let first_pid: i32 = ok(ok(pool.get().await)
        .query_one("SELECT pg_backend_pid()", &[])
        .await)
    .get(0);

    // Rotate: the server and the function change; existing sessions stay
    // valid until drained.
    psql(&db, &format!("alter role {role} password 'second'"));
    *password.lock().unwrap() = "second".to_owned();
    pool.drain();
    let conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    assert_ne!(pid, first_pid, "the drained connection was handed out");
    assert_eq!(pool.stats().connections_errors, 0);
    drop(conn);

    // A wrong password from the function fails connects, with the
    // server's reason and without the password.
    *password.lock().unwrap() = "wrong-secret".to_owned();
    pool.drain();
    let error = pool
        .get_timeout(Duration::from_millis(800))
        .await
        .expect_err("a connect with the wrong password succeeded");
    assert_contains(&error.to_string(), &["password authentication failed"]);
    assert!(!error.to_string().contains("wrong-secret"));
    assert!(!format!("{error:?}").contains("wrong-secret"));
    psql(&db, &format!("drop role if exists {role}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_string_function_is_asked_at_every_connect() {
    let db = database();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let base = db.url().to_owned();
    let app = unique("dsnfn");
    let app_for_fn = app.clone();
    let pool = ok(Pool::builder_from_fn(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        with_application_name(&base, &format!("{app_for_fn}_{n}"))
    })
    .min_size(2)
    .max_size(2)
    .build());
    ok(pool.wait().await);
    let monitor = Monitor::connect(db.url()).await;
    monitor.wait_sessions(&format!("{app}_0"), 1).await;
    monitor.wait_sessions(&format!("{app}_1"), 1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A function that returns nonsense fails the connect, saying why.
    let bad = ok(
        Pool::builder_from_fn(|| "host=localhost port=notaport".to_owned())
            .min_size(1)
            .build(),
    );
    let error = bad
        .get_timeout(Duration::from_millis(500))
        .await
        .expect_err("a connect from an invalid connection string succeeded");
    assert_contains(&error.to_string(), &["connection string", "invalid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_query_timeout_is_cancelled_and_the_connection_stays_usable() {
    let db = database();
    let (_, url) = tagged_url(&db, "query_timeout");
    let pool = ok(Pool::builder(&url)
        .min_size(1)
        .max_size(1)
        .query_timeout(Some(Duration::from_millis(300)))
        .build());
    let mut conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);

    let started = Instant::now();
    let error = conn
        .query("SELECT pg_sleep(30)", &[])
        .await
        .expect_err("pg_sleep(30) finished within the query timeout");
    let took = started.elapsed();
    assert!(error.is_query_timeout(), "{error}");
    assert!(
        !error.is_timeout(),
        "a query timeout is not a checkout timeout"
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(10), "the timeout took {took:?}");

    // The statement was cancelled: the same connection answers at once.
    let started = Instant::now();
    ok(conn.query_one("SELECT 1", &[]).await);
    assert!(started.elapsed() < Duration::from_secs(10));

    // A connection may change its own timeout; the pool restores it.
    conn.set_query_timeout(None);
    ok(conn.query_one("SELECT pg_sleep(0.5)", &[]).await);
    drop(conn);
    let conn = ok(pool.get().await);
    assert_eq!(conn.query_timeout(), Some(Duration::from_millis(300)));
    let same: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    assert_eq!(same, pid, "the connection was replaced, not reset");
}
