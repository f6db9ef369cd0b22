//! Each `sslmode` through the blocking pool, against a server with TLS and
//! one without, as through the async pool (`tls_modes.rs`): which connect,
//! which fail and why, and whether the session runs over TLS
//! (`pg_stat_ssl`).
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

use std::thread;
use std::time::Duration;

use common::tls::{
    CONNECT_LIMIT, Expect, FAILURE_WAIT, SSL_IN_USE, Session, TLS_ONLY_ROLE, shared_plain_server,
    shared_ssl_server,
};
use tidepool_sync::{Error, Pool};

const NO_TLS: &str = "server does not support TLS";

/// Builds a one-connection blocking pool for `dsn` and checks out a
/// connection, waiting at most `wait`: the session, or the error of the
/// build or of the checkout (which carries the last connect error).
fn session(dsn: &str, wait: Duration) -> Result<Session, Error> {
    let pool = Pool::builder(dsn)
        .min_size(0)
        .max_size(1)
        .worker_threads(1)
        .timeout(CONNECT_LIMIT)
        .build()?;
    let conn = pool.get_timeout(wait)?;
    let row = conn.query_one(SSL_IN_USE, &[])?;
    Ok(Session {
        tls: row.get(0),
        user: row.get(1),
    })
}

/// Runs every `(label, dsn, expected)` case at once, each on a thread of
/// its own, and panics with the list of those that did not go as expected.
fn check_cases(cases: Vec<(&str, String, Expect)>) {
    let wrong: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(label, dsn, expected)| {
                scope.spawn(move || {
                    let wait = match expected {
                        Expect::Connects { .. } => CONNECT_LIMIT,
                        Expect::Fails(_) => FAILURE_WAIT,
                    };
                    let outcome = session(dsn, wait);
                    let good = match (&outcome, *expected) {
                        (Ok(session), Expect::Connects { tls }) => session.tls == tls,
                        (Err(error), Expect::Fails(text)) => error.to_string().contains(text),
                        _ => false,
                    };
                    (!good).then(|| {
                        let got = match outcome {
                            Ok(session) => format!("connected (tls: {})", session.tls),
                            Err(error) => format!("failed: {error}"),
                        };
                        format!("{label}: expected {expected:?}, {got}")
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().expect("a case panicked"))
            .collect()
    });
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn each_sslmode_against_a_server_with_tls() {
    let server = shared_ssl_server();
    let root = server.root_key();
    let tls = |label, extra: &str, tls| {
        (
            label,
            server.dsn("postgres", extra),
            Expect::Connects { tls },
        )
    };
    check_cases(vec![
        tls("disable", "sslmode=disable", false),
        tls("allow", "sslmode=allow", false),
        tls("prefer", "sslmode=prefer", true),
        tls("no sslmode (prefer)", "", true),
        tls("require", "sslmode=require", true),
        tls("verify-ca", &format!("sslmode=verify-ca {root}"), true),
        tls("verify-full", &format!("sslmode=verify-full {root}"), true),
        (
            "verify-ca, a root of another CA",
            server.dsn(
                "postgres",
                &format!(
                    "sslmode=verify-ca sslrootcert={}",
                    server.wrong_root.display()
                ),
            ),
            Expect::Fails("invalid peer certificate: UnknownIssuer"),
        ),
    ]);
}

#[test]
fn each_sslmode_against_a_server_without_tls() {
    let server = shared_plain_server();
    // Only for its root certificate, which lives as long as the server.
    let tls_files = shared_ssl_server();
    let root = tls_files.root_key();
    let dsn = |extra: &str| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres {extra}",
            server.port()
        )
    };
    check_cases(vec![
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
    ]);
}

#[test]
fn allow_and_prefer_use_tls_for_a_role_the_server_refuses_plain() {
    let server = shared_ssl_server();
    let user = TLS_ONLY_ROLE;
    check_cases(vec![
        (
            "disable",
            server.dsn(user, "sslmode=disable"),
            Expect::Fails("no encryption"),
        ),
        (
            "allow",
            server.dsn(user, "sslmode=allow"),
            Expect::Connects { tls: true },
        ),
        (
            "prefer",
            server.dsn(user, "sslmode=prefer"),
            Expect::Connects { tls: true },
        ),
    ]);
}
