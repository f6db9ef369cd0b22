//! A private PostgreSQL server with TLS, the certificates to reach it, and
//! connecting to it through a pool.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tidepool_async::{Error, Pool};
use tidepool_testdb::PgServer;

use super::certs::{CertDir, TestCa};

/// A role that logs in with its client certificate, over TLS only.
pub(crate) const CERT_ROLE: &str = "tp_certuser";
/// A role that logs in without a password over TLS and is refused plain.
pub(crate) const TLS_ONLY_ROLE: &str = "tp_tlsonly";
/// A role that logs in with a password (SCRAM).
pub(crate) const PASSWORD_ROLE: &str = "tp_pwuser";
/// Its password.
pub(crate) const PASSWORD: &str = "tls-pw-8d1f";

/// A server with `ssl = on`, a certificate for `localhost` and `127.0.0.1`
/// signed by a test CA (which it also trusts for client certificates), and
/// client-side files.
pub(crate) struct SslServer {
    pub(crate) server: PgServer,
    /// The CA that signed the server's certificate.
    pub(crate) root: PathBuf,
    /// A CA that signed nothing the server has.
    pub(crate) wrong_root: PathBuf,
    /// A client certificate and key for [`CERT_ROLE`].
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
    /// A client certificate and key of the right CA for another name.
    pub(crate) stranger_cert: PathBuf,
    pub(crate) stranger_key: PathBuf,
    files: CertDir,
}

impl SslServer {
    /// Makes the certificates and starts the server.
    pub(crate) fn start() -> Self {
        let ca = TestCa::new("server");
        let wrong_ca = TestCa::new("wrong");
        let server_pem = ca.server(&["localhost", "127.0.0.1"]);
        let server = PgServer::builder()
            .setting("ssl", "on")
            .setting("ssl_cert_file", "server.crt")
            .setting("ssl_key_file", "server.key")
            .setting("ssl_ca_file", "root.crt")
            .file("server.crt", server_pem.cert.as_bytes(), 0o600)
            .file("server.key", server_pem.key.as_bytes(), 0o600)
            .file("root.crt", ca.cert_pem.as_bytes(), 0o600)
            .hba_line(format!("hostssl all {CERT_ROLE} 127.0.0.1/32 cert"))
            .hba_line(format!("hostssl all {TLS_ONLY_ROLE} 127.0.0.1/32 trust"))
            .hba_line(format!("hostnossl all {TLS_ONLY_ROLE} 127.0.0.1/32 reject"))
            .start()
            .unwrap_or_else(|e| panic!("the SSL server did not start: {e}"));
        server
            .psql(&format!(
                "create role {CERT_ROLE} login; create role {TLS_ONLY_ROLE} login; \
                 create role {PASSWORD_ROLE} login password '{PASSWORD}'"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        let files = CertDir::new();
        let client = ca.client(CERT_ROLE);
        let stranger = ca.client("tp_stranger");
        Self {
            root: files.write("root.crt", &ca.cert_pem),
            wrong_root: files.write("wrong-root.crt", &wrong_ca.cert_pem),
            client_cert: files.write("client.crt", &client.cert),
            client_key: files.write("client.key", &client.key),
            stranger_cert: files.write("stranger.crt", &stranger.cert),
            stranger_key: files.write("stranger.key", &stranger.key),
            server,
            files,
        }
    }

    /// `host=127.0.0.1 port=PORT user=USER dbname=postgres EXTRA`.
    pub(crate) fn dsn(&self, user: &str, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres {extra}",
            self.server.port()
        )
    }

    /// `sslrootcert=<the right CA>`.
    pub(crate) fn root_key(&self) -> String {
        format!("sslrootcert={}", self.root.display())
    }

    /// The directory of the client-side files.
    pub(crate) fn files(&self) -> &std::path::Path {
        self.files.path()
    }
}

/// The SSL server shared by the tests of one test binary: started by the
/// first test that asks, stopped after the last one drops it.
pub(crate) fn shared_ssl_server() -> Arc<SslServer> {
    static SHARED: Mutex<Weak<SslServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(SslServer::start());
    *shared = Arc::downgrade(&server);
    server
}

/// A server without TLS shared by the tests of one test binary.
pub(crate) fn shared_plain_server() -> Arc<PgServer> {
    static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(PgServer::start().unwrap_or_else(|e| panic!("{e}")));
    *shared = Arc::downgrade(&server);
    server
}

/// What a session is: whether it runs over TLS, and as whom.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) tls: bool,
    pub(crate) user: String,
}

/// The statement that tells whether the session runs over TLS.
pub(crate) const SSL_IN_USE: &str =
    "SELECT ssl, current_user::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// How long a checkout that should succeed may take.
pub(crate) const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// How long to wait for a checkout whose connects should fail: the first
/// connect fails at once, and its error is in the checkout's timeout.
pub(crate) const FAILURE_WAIT: Duration = Duration::from_secs(3);

/// Builds a one-connection pool for `dsn` and checks out a connection,
/// waiting at most `wait`: the session, or the error of the build or of
/// the checkout (which, when connects fail, carries the last connect
/// error).
pub(crate) async fn session(dsn: &str, wait: Duration) -> Result<Session, Error> {
    let pool = Pool::builder(dsn)
        .min_size(0)
        .max_size(1)
        .timeout(CONNECT_LIMIT)
        .build()?;
    let conn = pool.get_timeout(wait).await?;
    let row = conn.query_one(SSL_IN_USE, &[]).await?;
    Ok(Session {
        tls: row.get(0),
        user: row.get(1),
    })
}

/// What a test expects of a connect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Connects, over TLS or not.
    Connects { tls: bool },
    /// Fails, with this text in the error.
    Fails(&'static str),
}

/// Runs every `(label, dsn, expected)` case at once and panics with the
/// list of those that did not go as expected.
pub(crate) async fn check_cases(cases: Vec<(String, String, Expect)>) {
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(label, dsn, expected)| {
            tokio::spawn(async move {
                let wait = match expected {
                    Expect::Connects { .. } => CONNECT_LIMIT,
                    Expect::Fails(_) => FAILURE_WAIT,
                };
                let outcome = session(&dsn, wait).await;
                let good = match (&outcome, expected) {
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
    let mut wrong = Vec::new();
    for handle in handles {
        if let Some(message) = handle.await.expect("a case panicked") {
            wrong.push(message);
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
