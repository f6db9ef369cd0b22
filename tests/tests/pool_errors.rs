//! Errors a user meets first: a connection string that does not parse,
//! impossible settings, a server that refuses connections, and a wrong
//! password, each reported with the right predicate, the server's SQLSTATE
//! where there is one, and a message that explains it without revealing
//! the password.

mod common;

use std::time::Duration;

use common::{database, ok, unique};
use tidepool_async::Pool;
use tidepool_async::tokio_postgres::error::SqlState;

#[tokio::test]
async fn an_unparseable_connection_string_is_a_config_error() {
    for dsn in [
        "postgresql://postgres@host:notaport/db",
        "host=localhost port=abc user=postgres",
        "postgresql://postgres:s3cret-in-a-bad-dsn@localhost:99999999/db",
    ] {
        let error = Pool::builder(dsn)
            .build()
            .expect_err("the connection string cannot be parsed");
        assert!(error.is_config(), "{dsn}: {error:?}");
        let message = error.to_string();
        common::assert_contains(&message, &["invalid connection string"]);
        assert!(!message.contains("s3cret"), "{message}");
        assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
    }
}

#[tokio::test]
async fn a_configuration_without_host_or_user_is_a_config_error() {
    // A connection string takes libpq's defaults for both; a configuration
    // built in code takes none.
    let mut config = tidepool_async::tokio_postgres::Config::new();
    config.user("postgres").dbname("postgres");
    let error = Pool::builder_from_config(config)
        .build()
        .expect_err("no host");
    assert!(error.is_config(), "{error:?}");
    common::assert_contains(&error.to_string(), &["no host"]);

    let mut config = tidepool_async::tokio_postgres::Config::new();
    config.host("127.0.0.1").dbname("postgres");
    let error = Pool::builder_from_config(config)
        .build()
        .expect_err("no user");
    assert!(error.is_config(), "{error:?}");
    common::assert_contains(&error.to_string(), &["no user"]);
}

#[tokio::test]
async fn impossible_settings_are_config_errors() {
    let url = "postgresql://postgres@127.0.0.1:1/postgres";
    let error = Pool::builder(url)
        .min_size(5)
        .max_size(2)
        .build()
        .expect_err("min_size above max_size");
    assert!(error.is_config(), "{error:?}");
    common::assert_contains(
        &error.to_string(),
        &["min_size (5) is larger than max_size (2)"],
    );

    let error = Pool::builder(url)
        .min_size(0)
        .max_size(0)
        .build()
        .expect_err("max_size 0");
    assert!(error.is_config(), "{error:?}");
    common::assert_contains(&error.to_string(), &["max_size is 0"]);

    let error = Pool::builder(url)
        .timeout(Duration::ZERO)
        .build()
        .expect_err("a zero timeout");
    assert!(error.is_config(), "{error:?}");

    // The blocking pool checks the same settings, and its own.
    let error = tidepool_sync::Pool::builder(url)
        .min_size(5)
        .max_size(2)
        .build()
        .expect_err("min_size above max_size");
    assert!(error.is_config(), "{error:?}");
    let error = tidepool_sync::Pool::builder(url)
        .worker_threads(0)
        .build()
        .expect_err("no worker thread");
    assert!(error.is_config(), "{error:?}");
}

#[test]
fn building_an_async_pool_outside_a_runtime_is_a_config_error() {
    let error = Pool::builder("postgresql://postgres@127.0.0.1:1/postgres")
        .build()
        .expect_err("no runtime");
    assert!(error.is_config(), "{error:?}");
    common::assert_contains(&error.to_string(), &["outside a tokio runtime"]);
}

#[tokio::test]
async fn an_unreachable_server_times_out_with_the_connect_error() {
    let (_refusing, port) = common::refusing_port();
    let pool = ok(
        Pool::builder(&format!("postgresql://postgres@127.0.0.1:{port}/postgres"))
            .min_size(0)
            .max_size(2)
            .build(),
    );

    let error = pool
        .get_timeout(Duration::from_secs(1))
        .await
        .expect_err("nothing listens on the port");
    assert!(error.is_timeout(), "{error:?}");
    common::assert_contains(
        &error.to_string(),
        &[
            "no connection became available within 1",
            &format!("could not connect to 127.0.0.1:{port}"),
        ],
    );
    // Why, through the chain of sources.
    common::assert_contains(&chain(&error), &["refused"]);
    assert!(error.as_postgres().is_some(), "{error:?}");
    assert_eq!(error.code(), None, "no server answered");
    let stats = pool.stats();
    assert!(stats.connections_errors >= 1, "{stats:?}");
    assert_eq!(stats.requests_errors, 1, "{stats:?}");
}

#[tokio::test]
async fn a_wrong_password_fails_at_once_with_the_servers_error_and_no_password() {
    const WRONG: &str = "Wr0ng-Pa55word-xyzzy";
    let db = database();
    let Some(server) = db.server() else {
        eprintln!("skipped: DATABASE_URL is set and this test needs the private server");
        return;
    };
    let role = unique("role");
    common::psql(
        &db,
        &format!("create role {role} login password 'the-right-password'"),
    );
    let url = server.url_for(&role, Some(WRONG), "postgres");
    let builder = Pool::builder(&url).min_size(1).max_size(1);
    assert!(!format!("{builder:?}").contains(WRONG), "{builder:?}");
    let pool = ok(builder.build());

    let started = std::time::Instant::now();
    let error = pool
        .get_timeout(Duration::from_secs(10))
        .await
        .expect_err("the password is wrong");
    assert!(error.is_connect(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the checkout waited {:?} for a password that cannot work",
        started.elapsed()
    );
    assert_eq!(error.code(), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
    let message = error.to_string();
    common::assert_contains(
        &message,
        &[&format!("could not connect to 127.0.0.1:{}", server.port())],
    );
    let db_error = error.as_db_error().expect("the server's error");
    common::assert_contains(
        db_error.message(),
        &["password authentication failed", &role],
    );
    let chain = chain(&error);
    common::assert_contains(&chain, &["password authentication failed"]);
    assert!(
        !message.contains(WRONG),
        "the message reveals the password: {message}"
    );
    assert!(
        !chain.contains(WRONG),
        "the sources reveal the password: {chain}"
    );
    let debug = format!("{error:?}");
    assert!(
        !debug.contains(WRONG),
        "Debug reveals the password: {debug}"
    );
    assert!(!format!("{pool:?}").contains(WRONG), "{pool:?}");

    let error = pool
        .wait_timeout(Duration::from_secs(10))
        .await
        .expect_err("no connection can open");
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(error.code(), Some(&SqlState::INVALID_PASSWORD), "{error:?}");
    common::assert_contains(&error.to_string(), &["no connection could be opened"]);
    assert!(!error.to_string().contains(WRONG), "{error}");
}

/// The message of an error and of each of its sources, joined.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(" <- ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The message alone, as `{}` prints it in a log line, should say why a
/// connect, a query or the parsing of a connection string failed.
#[tokio::test]
async fn messages_say_why_a_connect_a_query_or_a_parse_failed() {
    // The option at fault is named (the hint's example names no option
    // in backquotes).
    let error = Pool::builder("host=localhost port=abc user=postgres")
        .build()
        .expect_err("the port is not a number");
    common::assert_contains(&error.to_string(), &["`port`"]);

    let (_refusing, port) = common::refusing_port();
    let pool = ok(
        Pool::builder(&format!("postgresql://postgres@127.0.0.1:{port}/postgres"))
            .min_size(0)
            .build(),
    );
    let error = pool
        .get_timeout(Duration::from_secs(1))
        .await
        .expect_err("nothing listens on the port");
    common::assert_contains(
        &error.to_string(),
        &[&format!("could not connect to 127.0.0.1:{port}"), "refused"],
    );

    let db = database();
    let pool = ok(Pool::builder(db.url()).min_size(1).max_size(1).build());
    let conn = ok(pool.get().await);
    let error = conn
        .query("select 1 / 0", &[])
        .await
        .expect_err("division by zero");
    common::assert_contains(&error.to_string(), &["division by zero"]);

    if let Some(server) = db.server() {
        let role = unique("role");
        common::psql(&db, &format!("create role {role} login password 'right'"));
        let pool = ok(
            Pool::builder(&server.url_for(&role, Some("wrong"), "postgres"))
                .min_size(1)
                .build(),
        );
        let error = pool
            .get_timeout(Duration::from_secs(1))
            .await
            .expect_err("the password is wrong");
        common::assert_contains(&error.to_string(), &["password authentication failed"]);
    }
}
