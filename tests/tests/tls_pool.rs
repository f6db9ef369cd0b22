//! The pool's own work over TLS: cancelling a statement left running (the
//! cancel request must use TLS too), the query timeout, the blocking pool
//! with a client certificate, and a connection-string function that turns
//! TLS on.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tls::{CERT_ROLE, SSL_IN_USE, shared_ssl_server};
use common::{Monitor, assert_contains, eventually, ok, unique};
use tidepool_async::Pool;

/// A statement that runs much longer than any test.
const SLEEP: &str = "SELECT pg_sleep(60)";

fn verify_full(server: &common::tls::SslServer, app: &str) -> String {
    server.dsn(
        "postgres",
        &format!(
            "sslmode=verify-full {} application_name={app}",
            server.root_key()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_left_running_on_a_tls_connection_is_cancelled_on_return() {
    let server = shared_ssl_server();
    let app = unique("tls_cancel");
    // A long reset timeout: were the cancel to fail, the rollback would
    // wait for the statement, and the next checkout would be slow or get
    // a new connection.
    let pool = ok(Pool::builder(&verify_full(&server, &app))
        .min_size(1)
        .max_size(1)
        .reset_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(30))
        .build());
    ok(pool.wait().await);
    let monitor = Monitor::connect(&server.server.url()).await;

    let conn = ok(pool.get().await);
    let row = ok(conn
        .query_one(
            "SELECT pg_backend_pid(), (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
            &[],
        )
        .await);
    let (pid, tls): (i32, bool) = (row.get(0), row.get(1));
    assert!(tls, "the pool's connection does not use TLS");
    let sleeping = tokio::time::timeout(Duration::from_millis(200), conn.query(SLEEP, &[])).await;
    assert!(sleeping.is_err(), "pg_sleep(60) finished within 200 ms");
    assert_eq!(monitor.backend_state(pid).await.as_deref(), Some("active"));
    let returned = Instant::now();
    drop(conn);

    let conn = ok(pool.get().await);
    let next_pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    let waited = returned.elapsed();
    assert_eq!(
        next_pid, pid,
        "the connection was replaced instead of cancelled and rolled back"
    );
    assert!(
        waited < Duration::from_secs(5),
        "the next user waited {waited:?}: the statement was not cancelled"
    );
    assert_ne!(
        monitor.backend_state(pid).await.as_deref(),
        Some("active"),
        "the statement still runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_timeout_cancels_a_statement_over_tls() {
    let server = shared_ssl_server();
    let app = unique("tls_timeout");
    // The cancel request goes to hostaddr, and names host in its handshake.
    let dsn = format!(
        "host=localhost hostaddr=127.0.0.1 port={} user=postgres dbname=postgres \
         sslmode=verify-full {} application_name={app}",
        server.server.port(),
        server.root_key()
    );
    let pool = ok(Pool::builder(&dsn)
        .min_size(1)
        .max_size(1)
        .query_timeout(Some(Duration::from_millis(300)))
        .build());
    let conn = ok(pool.get().await);
    let pid: i32 = ok(conn.query_one("SELECT pg_backend_pid()", &[]).await).get(0);
    let started = Instant::now();
    let error = conn
        .query(SLEEP, &[])
        .await
        .expect_err("pg_sleep(60) outlasted the query timeout");
    assert!(error.is_query_timeout(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout took {:?}",
        started.elapsed()
    );
    // The same session goes on, over TLS.
    let row = ok(conn
        .query_one(
            "SELECT pg_backend_pid(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await);
    assert_eq!(row.get::<_, i32>(0), pid);
    assert!(row.get::<_, bool>(1));
}

#[test]
fn the_blocking_pool_connects_with_a_client_certificate() {
    let server = shared_ssl_server();
    let dsn = server.dsn(
        CERT_ROLE,
        &format!(
            "sslmode=verify-full {} sslcert={} sslkey={}",
            server.root_key(),
            server.client_cert.display(),
            server.client_key.display()
        ),
    );
    let pool = ok(tidepool_sync::Pool::builder(&dsn)
        .min_size(1)
        .max_size(2)
        .worker_threads(1)
        .timeout(Duration::from_secs(10))
        .build());
    ok(pool.wait());
    let conn = ok(pool.get());
    let row = ok(conn.query_one(SSL_IN_USE, &[]));
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), CERT_ROLE);
    drop(conn);

    // A certificate of another CA fails the same way as in the async pool.
    let dsn = server.dsn(
        "postgres",
        &format!(
            "sslmode=verify-ca sslrootcert={}",
            server.wrong_root.display()
        ),
    );
    let pool = ok(tidepool_sync::Pool::builder(&dsn)
        .min_size(0)
        .max_size(1)
        .worker_threads(1)
        .build());
    let error = pool
        .get_timeout(Duration::from_secs(2))
        .expect_err("a certificate of another CA");
    assert_contains(
        &error.to_string(),
        &["invalid peer certificate: UnknownIssuer"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_string_function_can_turn_tls_on() {
    let server = shared_ssl_server();
    let app = unique("tls_fn");
    let dsn = Arc::new(Mutex::new(server.dsn(
        "postgres",
        &format!("sslmode=disable application_name={app}"),
    )));
    let current = Arc::clone(&dsn);
    let pool = ok(
        Pool::builder_from_fn(move || current.lock().unwrap().clone())
            .min_size(1)
            .max_size(1)
            .build(),
    );
    let uses_tls = async |pool: &Pool| -> bool {
        let conn = ok(pool.get().await);
        ok(conn.query_one(SSL_IN_USE, &[]).await).get(0)
    };
    assert!(!uses_tls(&pool).await);

    *dsn.lock().unwrap() = verify_full(&server, &app);
    pool.drain();
    eventually("the drained pool connects over TLS", async || {
        uses_tls(&pool).await
    })
    .await;

    // TLS settings that cannot be used fail the connects, with the reason.
    *dsn.lock().unwrap() = server.dsn(
        "postgres",
        "sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
    );
    pool.drain();
    let error = loop {
        match pool.get_timeout(Duration::from_secs(2)).await {
            Ok(conn) => drop(conn),
            Err(error) => break error,
        }
    };
    assert_contains(
        &error.to_string(),
        &["sslrootcert: could not read /nonexistent/ca.pem"],
    );
}
