//! The database the tests use: `DATABASE_URL`, or a private server shared by
//! all tests of the process.

use std::ffi::OsString;
use std::sync::{Arc, Mutex, Weak};

use tidepool_async::redact_dsn;

use crate::binaries;
use crate::error::HarnessError;
use crate::psql::{self, Environment};
use crate::server::PgServer;

/// The environment variable naming an external server for the tests.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";

/// A database the tests may use: either the server named by `DATABASE_URL`
/// or the process-wide shared private server.
///
/// Holding a `TestDatabase` keeps the shared server alive; when the last
/// holder is dropped, the server stops and its directory is removed.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    url: String,
    server: Option<Arc<PgServer>>,
}

impl TestDatabase {
    /// The connection URL (superuser `postgres`, database `postgres` for the
    /// private server; verbatim `DATABASE_URL` otherwise).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The private server, or `None` when `DATABASE_URL` is used. Tests that
    /// need server-side control (settings, stop/start) should skip
    /// themselves when this is `None` or use [`private_server`].
    pub fn server(&self) -> Option<&Arc<PgServer>> {
        self.server.as_ref()
    }

    /// Whether this is the external server named by `DATABASE_URL`.
    pub fn is_external(&self) -> bool {
        self.server.is_none()
    }

    /// Runs `sql` with `psql` and returns its trimmed output (see
    /// [`PgServer::psql`]). For `DATABASE_URL` the URL is the connection
    /// string and the caller's `PG*` environment variables apply.
    ///
    /// # Errors
    ///
    /// [`HarnessError::Psql`] when the connection or the SQL fails,
    /// [`HarnessError::PsqlNotFound`] without a `psql` binary.
    pub fn psql(&self, sql: &str) -> Result<String, HarnessError> {
        match &self.server {
            Some(server) => server.psql(sql),
            None => psql::run_psql(
                &binaries::locate_psql()?,
                &[OsString::from("-d"), OsString::from(&self.url)],
                sql,
                &redact_dsn(&self.url),
                Environment::Inherit,
            ),
        }
    }
}

/// The database for a test: `DATABASE_URL` when set (and not empty),
/// otherwise the private server shared by every test of this process,
/// started on first use.
///
/// Only a [`Weak`] reference is kept globally (statics are never dropped),
/// so the shared server stops when the last `TestDatabase` is dropped, and
/// a later call starts a fresh one.
///
/// # Errors
///
/// Any error of [`PgServer::start`], e.g. [`HarnessError::BinariesNotFound`].
pub fn test_database() -> Result<TestDatabase, HarnessError> {
    if let Some(url) = std::env::var_os(DATABASE_URL_ENV).filter(|url| !url.is_empty()) {
        let url = url.into_string().map_err(|url| {
            HarnessError::invalid(format!("{DATABASE_URL_ENV} is not valid UTF-8: {url:?}"))
        })?;
        return Ok(TestDatabase { url, server: None });
    }
    let server = shared_server()?;
    Ok(TestDatabase {
        url: server.url(),
        server: Some(server),
    })
}

/// The private server shared by the tests of this process (ignores
/// `DATABASE_URL`), started if no test currently holds it.
///
/// # Errors
///
/// Any error of [`PgServer::start`].
pub fn shared_server() -> Result<Arc<PgServer>, HarnessError> {
    static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    // Held while starting, so concurrent tests do not start two servers.
    let mut shared = SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(server) = shared.upgrade() {
        return Ok(server);
    }
    let server = Arc::new(PgServer::start()?);
    *shared = Arc::downgrade(&server);
    Ok(server)
}

/// A server of the test's own, for tests that stop, restart or reconfigure
/// it. Same as [`PgServer::start`]; it ignores `DATABASE_URL`.
///
/// # Errors
///
/// Any error of [`PgServer::start`].
pub fn private_server() -> Result<PgServer, HarnessError> {
    PgServer::start()
}
