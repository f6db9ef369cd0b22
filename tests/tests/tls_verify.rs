//! What the verifying modes check: the certificate's chain (a certificate
//! of another CA fails), the host name (only `verify-full`), and the
//! client certificate that `cert` authentication asks for; and the errors
//! for certificate files that cannot be used.

mod common;

use std::time::Duration;

use common::tls::{CERT_ROLE, CONNECT_LIMIT, Expect, check_cases, session, shared_ssl_server};
use common::{assert_contains, certs, ok};
use tidepool_async::Pool;

const UNKNOWN_ISSUER: &str = "invalid peer certificate: UnknownIssuer";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_another_ca_fails_verification() {
    let server = shared_ssl_server();
    let wrong = format!("sslrootcert={}", server.wrong_root.display());
    let cases = [
        ("verify-ca", format!("sslmode=verify-ca {wrong}")),
        ("verify-full", format!("sslmode=verify-full {wrong}")),
        // libpq checks the chain in every mode once a root is given.
        (
            "require with sslrootcert",
            format!("sslmode=require {wrong}"),
        ),
    ];
    let mut all: Vec<_> = cases
        .into_iter()
        .map(|(label, extra)| {
            (
                label.to_owned(),
                server.dsn("postgres", &extra),
                Expect::Fails(UNKNOWN_ISSUER),
            )
        })
        .collect();
    // Under prefer the failed handshake is followed, as in libpq, by a
    // plain connection (see tls_prefer.rs).
    all.push((
        "prefer with sslrootcert".to_owned(),
        server.dsn("postgres", &format!("sslmode=prefer {wrong}")),
        Expect::Connects { tls: false },
    ));
    // Without a root, require encrypts and checks nothing.
    all.push((
        "require without sslrootcert".to_owned(),
        server.dsn("postgres", "sslmode=require"),
        Expect::Connects { tls: true },
    ));
    check_cases(all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_of_a_failed_verification_names_the_certificate_problem() {
    let server = shared_ssl_server();
    let dsn = server.dsn(
        "postgres",
        &format!(
            "sslmode=verify-full sslrootcert={}",
            server.wrong_root.display()
        ),
    );
    let error = session(&dsn, Duration::from_secs(3))
        .await
        .expect_err("a certificate of another CA");
    assert!(
        error.is_connect(),
        "a refused certificate fails at once: {error:?}"
    );
    let port = server.server.port();
    assert_contains(
        &error.to_string(),
        &[
            &format!("could not connect to 127.0.0.1:{port}"),
            "error performing TLS handshake",
            UNKNOWN_ISSUER,
            "does not chain to a trusted root; name the file of the CA that signed it with \
             sslrootcert",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let server = shared_ssl_server();
    let root = server.root_key();
    let port = server.server.port();
    // hostaddr gives the address; host is the name the certificate must
    // carry.
    let named = |host: &str, mode: &str| {
        format!(
            "host={host} hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres \
             sslmode={mode} {root}"
        )
    };
    check_cases(vec![
        (
            "verify-full, a name the certificate lacks".to_owned(),
            named("db.tidepool.invalid", "verify-full"),
            Expect::Fails("certificate not valid for name \"db.tidepool.invalid\""),
        ),
        (
            "verify-ca, a name the certificate lacks".to_owned(),
            named("db.tidepool.invalid", "verify-ca"),
            Expect::Connects { tls: true },
        ),
        (
            "require, a name the certificate lacks".to_owned(),
            named("db.tidepool.invalid", "require"),
            Expect::Connects { tls: true },
        ),
        (
            "verify-full, localhost".to_owned(),
            named("localhost", "verify-full"),
            Expect::Connects { tls: true },
        ),
        (
            "verify-full, 127.0.0.1".to_owned(),
            server.dsn("postgres", &format!("sslmode=verify-full {root}")),
            Expect::Connects { tls: true },
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sslrootcert_the_system_roots_do_not_trust_a_test_ca() {
    let server = shared_ssl_server();
    for mode in ["verify-ca", "verify-full"] {
        let dsn = server.dsn("postgres", &format!("sslmode={mode}"));
        let error = session(&dsn, Duration::from_secs(3))
            .await
            .expect_err("the test CA is in no system store");
        // With a system store the handshake fails; without one, the
        // pool refuses to build.
        let message = error.to_string();
        assert!(
            message.contains(UNKNOWN_ISSUER)
                || (error.is_config() && message.contains("no trusted root certificate")),
            "{mode}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_its_role_in() {
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
    let session = ok(session(&dsn, CONNECT_LIMIT).await);
    assert!(session.tls, "{session:?}");
    assert_eq!(session.user, CERT_ROLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_foreign_client_certificate_is_refused() {
    let server = shared_ssl_server();
    let root = server.root_key();
    check_cases(vec![
        (
            "no client certificate".to_owned(),
            server.dsn(CERT_ROLE, &format!("sslmode=verify-full {root}")),
            Expect::Fails("connection requires a valid client certificate"),
        ),
        (
            "a certificate for another name".to_owned(),
            server.dsn(
                CERT_ROLE,
                &format!(
                    "sslmode=verify-full {root} sslcert={} sslkey={}",
                    server.stranger_cert.display(),
                    server.stranger_key.display()
                ),
            ),
            Expect::Fails("certificate authentication failed for user \"tp_certuser\""),
        ),
    ])
    .await;
}

#[tokio::test]
async fn unusable_certificate_files_are_config_errors_when_the_pool_is_built() {
    let ca = certs::TestCa::new("files");
    let other = certs::TestCa::new("other");
    let dir = certs::CertDir::new();
    let client = ca.client("someone");
    let cert = dir.write("client.crt", &client.cert);
    let key = dir.write("client.key", &client.key);
    let other_key = dir.write("other.key", &other.client("someone").key);
    let not_pem = dir.write("not.pem", "hello\n");
    let encrypted = dir.write(
        "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let missing = dir.path().join("missing.crt");
    let base = "host=127.0.0.1 port=1 user=u sslmode=require";
    let cases = [
        (
            format!("{base} sslrootcert={}", missing.display()),
            format!("sslrootcert: could not read {}", missing.display()),
        ),
        (
            format!("{base} sslrootcert={}", not_pem.display()),
            format!(
                "sslrootcert: {} holds no PEM certificate",
                not_pem.display()
            ),
        ),
        (
            format!(
                "{base} sslcert={} sslkey={}",
                cert.display(),
                not_pem.display()
            ),
            format!("sslkey: {} holds no PEM private key", not_pem.display()),
        ),
        (
            format!(
                "{base} sslcert={} sslkey={}",
                cert.display(),
                encrypted.display()
            ),
            "encrypted keys are not supported".to_owned(),
        ),
        (
            format!(
                "{base} sslcert={} sslkey={}",
                cert.display(),
                other_key.display()
            ),
            "cannot be used as a client certificate".to_owned(),
        ),
        (
            format!("{base} sslcert={}", cert.display()),
            "sslcert is set but sslkey is not".to_owned(),
        ),
    ];
    for (dsn, expected) in cases {
        let error = Pool::builder(&dsn)
            .build()
            .expect_err("unusable certificate files");
        assert!(error.is_config(), "{dsn}: {error:?}");
        assert_contains(&error.to_string(), &[&expected]);
    }
    // The right pair builds; sslmode=disable reads no file.
    ok(Pool::builder(&format!(
        "{base} sslcert={} sslkey={}",
        cert.display(),
        key.display()
    ))
    .build());
    ok(Pool::builder(&format!(
        "host=127.0.0.1 port=1 user=u sslmode=disable sslrootcert={}",
        missing.display()
    ))
    .build());
}
