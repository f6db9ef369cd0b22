#![doc = include_str!("../../README.md")]
//!
//! ---
//!
//! This package holds the runnable programs (`src/bin`) and what they are
//! made of, so that tests can run them too: the web service with its live
//! dashboard ([`service`]), bounded workers ([`workers`]), the database an
//! example uses ([`database_url`]) and stopping on Ctrl-C ([`StopFlag`]).

pub mod service;
mod stop;
pub mod workers;

pub use stop::StopFlag;

use tidepool_tests::{HarnessError, TestDatabase};

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
    if std::env::var_os(tidepool_tests::DATABASE_URL_ENV).is_some() {
        println!("Using the server named by DATABASE_URL.");
    } else {
        println!(
            "DATABASE_URL is not set: starting a private PostgreSQL server in a temporary directory..."
        );
    }
    let db = tidepool_tests::test_database()?;
    if let Some(server) = db.server() {
        println!(
            "Private PostgreSQL {} listening on 127.0.0.1:{} (removed when the program ends).",
            server.binaries().version(),
            server.port()
        );
    }
    Ok(db)
}

/// `url` with its password, if any, replaced by `***`: for printing.
/// Handles URLs (`postgresql://user:secret@host/db`) and key=value strings
/// (`password=secret`).
pub fn masked(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.trim() == "password" => "password=***".to_owned(),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `url` with `application_name` set to `name`, so that the sessions of
/// one pool can be told apart in `pg_stat_activity`. Handles URLs with or
/// without a query part, and key=value strings.
pub fn with_application_name(url: &str, name: &str) -> String {
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}application_name={name}")
    } else {
        format!("{url} application_name={name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_hides_passwords_only() {
        assert_eq!(
            masked("postgresql://app:s3cret@db:5432/app?sslmode=require"),
            "postgresql://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            masked("postgresql://postgres@127.0.0.1:5555/postgres"),
            "postgresql://postgres@127.0.0.1:5555/postgres"
        );
        assert_eq!(
            masked("host=db user=app password=s3cret dbname=app"),
            "host=db user=app password=*** dbname=app"
        );
    }
}
