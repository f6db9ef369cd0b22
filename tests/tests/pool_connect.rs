//! Where a pool connects: a Unix socket named by a key=value connection
//! string, TCP from a key=value string, and the socket path in the error
//! when nothing listens there.

mod common;

use std::time::Duration;

use common::{ok, with_application_name};
use tidepool_async::Pool;
use tidepool_testdb::private_server;

#[tokio::test]
async fn a_pool_connects_through_the_unix_socket_and_over_tcp() {
    let server = private_server().unwrap_or_else(|e| panic!("{e}"));

    let pool = ok(
        Pool::builder(&with_application_name(&server.socket_dsn(), "tp_socket"))
            .min_size(2)
            .max_size(2)
            .build(),
    );
    ok(pool.wait_timeout(Duration::from_secs(10)).await);
    let conn = ok(pool.get().await);
    let row = ok(conn
        .query_one("select inet_server_addr() is null, current_user", &[])
        .await);
    assert!(
        row.get::<_, bool>(0),
        "the session must run over the Unix socket"
    );
    assert_eq!(row.get::<_, String>(1), "postgres");
    drop(conn);
    // Both of the pool's sessions came through the socket (psql, which
    // counts them, comes over TCP).
    let over_socket = server
        .psql(
            "select count(*) from pg_stat_activity \
             where backend_type = 'client backend' and client_addr is null \
             and application_name = 'tp_socket'",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(over_socket, "2");

    let pool = ok(Pool::builder(&server.key_value_dsn())
        .min_size(1)
        .max_size(1)
        .build());
    let conn = ok(pool.get_timeout(Duration::from_secs(10)).await);
    let address: String = ok(conn.query_one("select host(inet_server_addr())", &[]).await).get(0);
    assert_eq!(address, "127.0.0.1");
}

#[tokio::test]
async fn a_missing_unix_socket_is_named_in_the_error() {
    let dir = std::env::temp_dir().join("tidepool-no-such-socket-dir");
    let pool = ok(Pool::builder(&format!(
        "host={} port=5999 user=postgres dbname=postgres",
        dir.display()
    ))
    .min_size(0)
    .build());
    let error = pool
        .get_timeout(Duration::from_millis(500))
        .await
        .expect_err("no server listens there");
    assert!(error.is_timeout(), "{error:?}");
    common::assert_contains(
        &error.to_string(),
        &[&format!(
            "could not connect to {}/.s.PGSQL.5999",
            dir.display()
        )],
    );
}
