//! Each `sslmode` against a server with TLS and one without: which connect,
//! which fail, and whether the session runs over TLS (`pg_stat_ssl`).
//!
//! | sslmode     | server with TLS        | server without TLS          |
//! |-------------|------------------------|-----------------------------|
//! | disable     | plain                  | plain                       |
//! | allow       | plain                  | plain                       |
//! | prefer      | TLS                    | plain                       |
//! | require     | TLS                    | fails: no TLS on the server |
//! | verify-ca   | TLS (with sslrootcert) | fails: no TLS on the server |
//! | verify-full | TLS (with sslrootcert) | fails: no TLS on the server |

mod common;

use common::tls::{
    CONNECT_LIMIT, Expect, PASSWORD, PASSWORD_ROLE, TLS_ONLY_ROLE, check_cases, session,
    shared_plain_server, shared_ssl_server,
};
use common::{assert_contains, ok};

const NO_TLS: &str = "server does not support TLS";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_against_a_server_with_tls() {
    let server = shared_ssl_server();
    let root = server.root_key();
    let cases = [
        ("disable", "sslmode=disable".to_owned(), false),
        ("allow", "sslmode=allow".to_owned(), false),
        ("prefer", "sslmode=prefer".to_owned(), true),
        ("no sslmode (prefer)", String::new(), true),
        ("require", "sslmode=require".to_owned(), true),
        (
            "require with sslrootcert",
            format!("sslmode=require {root}"),
            true,
        ),
        ("verify-ca", format!("sslmode=verify-ca {root}"), true),
        ("verify-full", format!("sslmode=verify-full {root}"), true),
    ];
    check_cases(
        cases
            .into_iter()
            .map(|(label, extra, tls)| {
                (
                    label.to_owned(),
                    server.dsn("postgres", &extra),
                    Expect::Connects { tls },
                )
            })
            .collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_against_a_server_without_tls() {
    let server = shared_plain_server();
    let tls_files = shared_ssl_server();
    let root = tls_files.root_key();
    let dsn = |extra: &str| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres {extra}",
            server.port()
        )
    };
    let cases = vec![
        (
            "disable",
            dsn("sslmode=disable"),
            Expect::Connects { tls: false },
        ),
        (
            "allow",
            dsn("sslmode=allow"),
            Expect::Connects { tls: false },
        ),
        (
            "prefer",
            dsn("sslmode=prefer"),
            Expect::Connects { tls: false },
        ),
        ("require", dsn("sslmode=require"), Expect::Fails(NO_TLS)),
        (
            "verify-ca",
            dsn(&format!("sslmode=verify-ca {root}")),
            Expect::Fails(NO_TLS),
        ),
        (
            "verify-full",
            dsn(&format!("sslmode=verify-full {root}")),
            Expect::Fails(NO_TLS),
        ),
    ];
    check_cases(
        cases
            .into_iter()
            .map(|(label, dsn, expected)| (label.to_owned(), dsn, expected))
            .collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_is_ignored_over_unix_sockets_and_hostaddr_stands_in_for_the_host() {
    let server = shared_ssl_server();
    let port = server.server.port();
    let address_only = |mode: &str| {
        format!("hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres sslmode={mode}")
    };
    check_cases(vec![
        (
            "verify-full over the Unix socket".to_owned(),
            format!("{} sslmode=verify-full", server.server.socket_dsn()),
            Expect::Connects { tls: false },
        ),
        (
            "require, hostaddr without host".to_owned(),
            address_only("require"),
            Expect::Connects { tls: true },
        ),
        (
            "verify-ca, hostaddr without host".to_owned(),
            address_only(&format!("verify-ca {}", server.root_key())),
            Expect::Connects { tls: true },
        ),
        (
            "verify-full, hostaddr without host".to_owned(),
            address_only(&format!("verify-full {}", server.root_key())),
            Expect::Fails("no hostname provided for TLS handshake"),
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_and_prefer_use_tls_for_a_role_the_server_refuses_plain() {
    let server = shared_ssl_server();
    let user = TLS_ONLY_ROLE;
    check_cases(vec![
        (
            "disable".to_owned(),
            server.dsn(user, "sslmode=disable"),
            Expect::Fails("no encryption"),
        ),
        (
            "allow".to_owned(),
            server.dsn(user, "sslmode=allow"),
            Expect::Connects { tls: true },
        ),
        (
            "prefer".to_owned(),
            server.dsn(user, "sslmode=prefer"),
            Expect::Connects { tls: true },
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_takes_the_tls_keys_too() {
    let server = shared_ssl_server();
    // A path with a space, percent-encoded as a URL needs.
    let root = server.files().join("root copy.crt");
    std::fs::copy(&server.root, &root).expect("copy the root certificate");
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}\
         &application_name=tp_tls_url",
        server.server.port(),
        root.display().to_string().replace(' ', "%20")
    );
    let verified = ok(session(&url, CONNECT_LIMIT).await);
    assert!(verified.tls, "{verified:?}");
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=verify_full",
        server.server.port()
    );
    let error = session(&url, CONNECT_LIMIT)
        .await
        .expect_err("an unknown sslmode");
    assert!(error.is_config(), "{error:?}");
    assert_contains(
        &error.to_string(),
        &[
            "sslmode: expected one of disable, allow, prefer, require, verify-ca, verify-full; \
           got 'verify_full'",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_role_logs_in_over_tls_with_channel_binding() {
    let server = shared_ssl_server();
    let dsn = server.dsn(
        PASSWORD_ROLE,
        &format!(
            "password={PASSWORD} sslmode=verify-full {} channel_binding=require",
            server.root_key()
        ),
    );
    let session = ok(session(&dsn, CONNECT_LIMIT).await);
    assert!(session.tls, "{session:?}");
    assert_eq!(session.user, PASSWORD_ROLE);
}
