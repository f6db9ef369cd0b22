//! A connect error that retrying cannot fix fails a waiting checkout at
//! once, with the server's error, instead of waiting out the timeout: a
//! wrong password (28P01), a database that does not exist (3D000), a role
//! that may not log in (28000). The pool keeps retrying in the background,
//! so creating the database heals it. A refused port is worth waiting for:
//! the checkout keeps its timeout.

mod common;

use std::time::{Duration, Instant};

use common::{database, ok, refusing_port, unique};
use tidepool_async::tokio_postgres::error::SqlState;
use tidepool_async::{Error, Pool};

/// The checkouts' timeout: a permanent error must fail well before it.
const TIMEOUT: Duration = Duration::from_secs(10);
/// What "at once" means here: one connect attempt to a local server.
const AT_ONCE: Duration = Duration::from_secs(2);

/// Asserts that `error` is the connect error `code`, seen after `took`.
fn assert_fails_at_once(error: &Error, took: Duration, code: &SqlState, what: &str) {
    eprintln!("{what}: failed after {took:?}: {error}");
    assert!(error.is_connect(), "{what}: {error:?}");
    assert!(!error.is_timeout(), "{what}: {error:?}");
    assert_eq!(error.code(), Some(code), "{what}: {error:?}");
    assert!(
        took < AT_ONCE,
        "{what}: the checkout waited {took:?} for an error that waiting cannot fix"
    );
    common::assert_contains(&error.to_string(), &["keeps retrying"]);
}

/// Checks out from `url` in both flavours and asserts each fails at once
/// with `code`; returns the async pool, still retrying.
async fn assert_both_flavours_fail_at_once(url: &str, code: &SqlState, what: &str) -> Pool {
    let pool = ok(Pool::builder(url)
        .min_size(1)
        .max_size(2)
        .timeout(TIMEOUT)
        .build());
    let started = Instant::now();
    let error = pool.get().await.expect_err(what);
    assert_fails_at_once(&error, started.elapsed(), code, what);
    let started = Instant::now();
    let error = pool.wait().await.expect_err(what);
    assert_fails_at_once(&error, started.elapsed(), code, &format!("{what}, wait()"));

    let url = url.to_owned();
    let code = code.clone();
    let what = format!("{what}, blocking");
    // A thread of its own: the blocking pool is not used from a runtime.
    std::thread::spawn(move || {
        let pool = ok(tidepool_sync::Pool::builder(&url)
            .min_size(1)
            .max_size(2)
            .timeout(TIMEOUT)
            .build());
        let started = Instant::now();
        let error = pool.get().expect_err(&what);
        assert_fails_at_once(&error, started.elapsed(), &code, &what);
    })
    .join()
    .expect("the blocking checks");
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_at_once() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: DATABASE_URL is set and this test needs the private server");
        return;
    };
    let role = unique("perm_pw");
    common::psql(&db, &format!("create role {role} login password 'right'"));
    let url = server.url_for(&role, Some("wrong"), "postgres");
    let pool =
        assert_both_flavours_fail_at_once(&url, &SqlState::INVALID_PASSWORD, "wrong password")
            .await;
    drop(pool);
    common::psql(&db, &format!("drop role {role}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_not_log_in_fails_at_once() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: DATABASE_URL is set and this test needs the private server");
        return;
    };
    let role = unique("perm_nologin");
    common::psql(&db, &format!("create role {role} nologin password 'pw'"));
    let url = server.url_for(&role, Some("pw"), "postgres");
    let pool = assert_both_flavours_fail_at_once(
        &url,
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        "nologin role",
    )
    .await;
    // Allowed to log in, the role is served by the same pool, which kept
    // retrying.
    common::psql(&db, &format!("alter role {role} login"));
    let conn = ok(pool.get_timeout(Duration::from_secs(15)).await);
    let user: String = ok(conn.query_one("select current_user::text", &[]).await).get(0);
    assert_eq!(user, role);
    drop(conn);
    drop(pool);
    common::psql(&db, &format!("drop role {role}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_fails_at_once_and_the_pool_heals_when_it_is_created() {
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: DATABASE_URL is set and this test needs the private server");
        return;
    };
    let name = unique("perm_db");
    let url = server.url_for("postgres", None, &name);
    let pool = assert_both_flavours_fail_at_once(
        &url,
        &SqlState::INVALID_CATALOG_NAME,
        "missing database",
    )
    .await;
    let errors = pool.stats().connections_errors;
    common::psql(&db, &format!("create database {name}"));
    // The next checkout waits for the pool's next attempt, which succeeds.
    let conn = ok(pool.get_timeout(Duration::from_secs(15)).await);
    let current: String = ok(conn.query_one("select current_database()::text", &[]).await).get(0);
    assert_eq!(current, name);
    assert!(pool.stats().connections_errors >= errors);
    drop(conn);
    drop(pool);
    common::psql(&db, &format!("drop database {name} with (force)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_port_still_waits_out_the_timeout() {
    let (_held, port) = refusing_port();
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres?connect_timeout=1");
    let pool = ok(Pool::builder(&url).min_size(0).max_size(2).build());
    let limit = Duration::from_millis(800);
    let started = Instant::now();
    let error = pool.get_timeout(limit).await.expect_err("nothing listens");
    let took = started.elapsed();
    assert!(error.is_timeout(), "{error:?}");
    assert!(!error.is_connect(), "{error:?}");
    assert!(took >= limit, "gave up after {took:?}");
}
