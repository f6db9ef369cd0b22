//! `sslmode=prefer` as libpq has it: when the TLS handshake fails, or the
//! server refuses the session over TLS, the connect is tried again without
//! TLS; and `sslrootcert=system` verifying against the system's store.
//!
//! Two private servers with TLS make the failures deterministic: one that
//! offers only TLS 1.0 and 1.1 (which rustls never speaks, so every
//! handshake fails), and one whose `pg_hba.conf` rejects a role over TLS
//! and lets it in without.

mod common;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use common::certs::TestCa;
use common::ok;
use common::tls::{CONNECT_LIMIT, Expect, SSL_IN_USE, check_cases, session, shared_ssl_server};
use tidepool_testdb::PgServer;

/// A role that the second server refuses over TLS and lets in without.
const PLAIN_ROLE: &str = "tp_plainonly";

/// A server with `ssl = on` whose TLS versions rustls does not speak.
fn old_tls_server() -> Arc<PgServer> {
    static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let ca = TestCa::new("old-tls");
    let pem = ca.server(&["localhost", "127.0.0.1"]);
    let server = Arc::new(
        PgServer::builder()
            .setting("ssl", "on")
            .setting("ssl_cert_file", "server.crt")
            .setting("ssl_key_file", "server.key")
            .setting("ssl_min_protocol_version", "TLSv1")
            .setting("ssl_max_protocol_version", "TLSv1.1")
            .file("server.crt", pem.cert.as_bytes(), 0o600)
            .file("server.key", pem.key.as_bytes(), 0o600)
            .start()
            .unwrap_or_else(|e| panic!("the server with old TLS did not start: {e}")),
    );
    *shared = Arc::downgrade(&server);
    server
}

/// A server with TLS that rejects [`PLAIN_ROLE`] over TLS and trusts it
/// without.
fn plain_only_role_server() -> Arc<PgServer> {
    static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let ca = TestCa::new("plain-only");
    let pem = ca.server(&["localhost", "127.0.0.1"]);
    let server = PgServer::builder()
        .setting("ssl", "on")
        .setting("ssl_cert_file", "server.crt")
        .setting("ssl_key_file", "server.key")
        .file("server.crt", pem.cert.as_bytes(), 0o600)
        .file("server.key", pem.key.as_bytes(), 0o600)
        .hba_line(format!("hostssl all {PLAIN_ROLE} 127.0.0.1/32 reject"))
        .hba_line(format!("hostnossl all {PLAIN_ROLE} 127.0.0.1/32 trust"))
        .start()
        .unwrap_or_else(|e| panic!("the server did not start: {e}"));
    ok(server.psql(&format!("create role {PLAIN_ROLE} login")));
    let server = Arc::new(server);
    *shared = Arc::downgrade(&server);
    server
}

fn dsn(server: &PgServer, user: &str, sslmode: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} dbname=postgres sslmode={sslmode}",
        server.port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_connects_without_tls_when_the_handshake_fails() {
    let server = old_tls_server();
    check_cases(vec![
        (
            "prefer".to_owned(),
            dsn(&server, "postgres", "prefer"),
            Expect::Connects { tls: false },
        ),
        // The handshake does fail: require has nothing to fall back to.
        (
            "require".to_owned(),
            dsn(&server, "postgres", "require"),
            Expect::Fails("error performing TLS handshake"),
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_connects_without_tls_when_the_server_refuses_the_tls_session() {
    let server = plain_only_role_server();
    check_cases(vec![
        (
            "prefer, refused over TLS".to_owned(),
            dsn(&server, PLAIN_ROLE, "prefer"),
            Expect::Connects { tls: false },
        ),
        (
            "require, refused over TLS".to_owned(),
            dsn(&server, PLAIN_ROLE, "require"),
            Expect::Fails("pg_hba.conf rejects connection"),
        ),
        // Where TLS works, prefer keeps it.
        (
            "prefer, accepted over TLS".to_owned(),
            dsn(&server, "postgres", "prefer"),
            Expect::Connects { tls: true },
        ),
    ])
    .await;
}

#[test]
fn the_blocking_pool_falls_back_without_tls_under_prefer() {
    let server = old_tls_server();
    let pool = ok(
        tidepool_sync::Pool::builder(&dsn(&server, "postgres", "prefer"))
            .min_size(0)
            .max_size(1)
            .worker_threads(1)
            .timeout(CONNECT_LIMIT)
            .build(),
    );
    let tls: bool = ok(ok(pool.get()).query_one(SSL_IN_USE, &[])).get(0);
    assert!(!tls);
    let refused = plain_only_role_server();
    let pool = ok(
        tidepool_sync::Pool::builder(&dsn(&refused, PLAIN_ROLE, "prefer"))
            .min_size(0)
            .max_size(1)
            .worker_threads(1)
            .timeout(CONNECT_LIMIT)
            .build(),
    );
    let row = ok(ok(pool.get()).query_one(SSL_IN_USE, &[]));
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), PLAIN_ROLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslrootcert_system_verifies_against_the_system_store() {
    let server = shared_ssl_server();
    // verify-full is the default with sslrootcert=system; the test CA is in
    // no system store, so the handshake fails (or, on a machine without a
    // store, the pool refuses to build).
    for extra in [
        "sslrootcert=system",
        "sslrootcert=system sslmode=verify-full",
    ] {
        let error = session(&server.dsn("postgres", extra), Duration::from_secs(3))
            .await
            .expect_err("the test CA is in no system store");
        let message = error.to_string();
        assert!(
            message.contains("invalid peer certificate: UnknownIssuer")
                && message.contains("name the file of the CA that signed it with sslrootcert")
                || (error.is_config() && message.contains("no trusted root certificate")),
            "{extra}: {message}"
        );
    }
    // Weaker modes are refused with it, as in libpq.
    let error = session(
        &server.dsn("postgres", "sslrootcert=system sslmode=require"),
        Duration::from_secs(3),
    )
    .await
    .expect_err("require with system roots");
    assert!(error.is_config(), "{error:?}");
    assert!(error.to_string().contains("use verify-full"), "{error}");
}
