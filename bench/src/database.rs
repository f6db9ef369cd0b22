//! The server the database workloads run against.

use std::sync::Arc;

use tidepool_testdb::PgServer;

/// A private server started for the run, or the one `DATABASE_URL` names.
#[derive(Debug)]
pub(crate) enum Database {
    /// Started here; stopped and deleted when dropped.
    Private(Arc<PgServer>),
    /// Someone else's: never restarted.
    External(String),
}

impl Database {
    /// `DATABASE_URL` if set, otherwise a private server on a free port of
    /// 127.0.0.1.
    pub(crate) fn open() -> Result<Self, String> {
        match std::env::var(tidepool_testdb::DATABASE_URL_ENV) {
            Ok(url) if !url.is_empty() => Ok(Database::External(url)),
            _ => PgServer::builder()
                // Room for the spike's and the recovery's pools next to the
                // bench's own connections.
                .setting("max_connections", "200")
                .start()
                .map(|server| Database::Private(Arc::new(server)))
                .map_err(|e| format!("could not start a private PostgreSQL server: {e}")),
        }
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Database::Private(server) => server.url(),
            Database::External(url) => url.clone(),
        }
    }

    /// The server, when the run may stop and start it.
    pub(crate) fn own_server(&self) -> Option<Arc<PgServer>> {
        match self {
            Database::Private(server) => Some(Arc::clone(server)),
            Database::External(_) => None,
        }
    }
}
