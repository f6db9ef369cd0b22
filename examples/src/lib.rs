#![doc = include_str!("../../README.md")]
//!
//! ---
//!
//! This package holds the runnable programs (`src/bin`) and what they are
//! made of, so that tests can run them too: the web service with its live
//! dashboard ([`service`]), bounded workers ([`workers`]), the pool's spans
//! and metrics through OpenTelemetry ([`otel`]), the database an example
//! uses ([`database_url`]) and stopping on Ctrl-C ([`StopFlag`]).

pub mod otel;
pub mod service;
mod stop;
pub mod workers;

pub use stop::StopFlag;

use tidepool_testdb::{HarnessError, TestDatabase};

/// The database an example should use: the server named by `DATABASE_URL`,
/// or else a private PostgreSQL server started in a temporary directory
/// (stopped and removed when the returned value is dropped). Says which on
/// standard output.
///
/// # Errors
///
/// When no `DATABASE_URL` is set and no private server can be started
/// (PostgreSQL's binaries missing, say): the error says what to install.
pub fn database_url() -> Result<TestDatabase, HarnessError> {
    if std::env::var_os(tidepool_testdb::DATABASE_URL_ENV).is_some() {
        println!("Using the server named by DATABASE_URL.");
    } else {
        println!(
            "DATABASE_URL is not set: starting a private PostgreSQL server in a temporary directory..."
        );
    }
    let db = tidepool_testdb::test_database()?;
    if let Some(server) = db.server() {
        println!(
            "Private PostgreSQL {} listening on 127.0.0.1:{} (removed when the program ends).",
            server.binaries().version(),
            server.port()
        );
    }
    Ok(db)
}
