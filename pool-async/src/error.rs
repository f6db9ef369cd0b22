//! The error type of the PostgreSQL pool.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use tokio_postgres::error::{DbError, SqlState};

use crate::hosts::{Attempt, Failure, SessionAttrs};

/// An error from the pool or from PostgreSQL.
///
/// Ask what happened through the predicates ([`is_timeout`](Error::is_timeout),
/// [`is_too_many_requests`](Error::is_too_many_requests), [`is_closed`](Error::is_closed),
/// [`is_config`](Error::is_config)); reach the server's error through
/// [`as_db_error`](Error::as_db_error) and [`code`](Error::code), which also
/// look into the last connection error behind a checkout timeout.
pub struct Error {
    kind: Kind,
}

enum Kind {
    Pool(tidepool_core::Error),
    Db(tokio_postgres::Error),
    /// A prepared statement missing, or its name taken, on a connection
    /// that prepares named statements: most likely a transaction pooler.
    LostStatement(tokio_postgres::Error),
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
    /// No host gave a connection that fits (several hosts, or a server
    /// of the wrong role).
    Hosts {
        attrs: SessionAttrs,
        attempts: Vec<Attempt>,
    },
    Config(String),
    Blocking {
        method: &'static str,
        /// On a thread of a blocking pool's own runtime (a callback), not
        /// on a current-thread runtime's own future.
        own_runtime: bool,
    },
    Callback {
        name: &'static str,
        source: Box<Error>,
    },
    QueryTimeout(Duration),
    /// A statement of a pipeline in a transaction, after the one (by its
    /// index) that failed.
    PipelineAborted(usize),
    Row(crate::rows::RowError),
}

impl Error {
    pub(crate) fn pool(error: tidepool_core::Error) -> Self {
        Self {
            kind: Kind::Pool(error),
        }
    }

    pub(crate) fn db(error: tokio_postgres::Error) -> Self {
        Self {
            kind: Kind::Db(error),
        }
    }

    /// The server's error on a connection that may prepare named
    /// statements outside transactions: a prepared statement that is
    /// missing (SQLSTATE 26000) or whose name is taken (42P05) is
    /// explained as the work of a transaction pooler.
    pub(crate) fn db_behind_pooler(error: tokio_postgres::Error) -> Self {
        let lost = error.as_db_error().is_some_and(|db| {
            (db.code() == &SqlState::INVALID_SQL_STATEMENT_NAME
                || db.code() == &SqlState::DUPLICATE_PSTATEMENT)
                && names_a_protocol_statement(db.message())
        });
        Self {
            kind: if lost {
                Kind::LostStatement(error)
            } else {
                Kind::Db(error)
            },
        }
    }

    pub(crate) fn connect(target: String, source: tokio_postgres::Error) -> Self {
        Self {
            kind: Kind::Connect { target, source },
        }
    }

    /// The error of a walk over the hosts that found no server to keep:
    /// a single refused host reads as before, as that host's error.
    pub(crate) fn hosts(attrs: SessionAttrs, mut attempts: Vec<Attempt>) -> Self {
        if let [
            Attempt {
                failure: Failure::Connect(_),
                ..
            },
        ] = attempts.as_slice()
            && let Some(Attempt {
                server,
                failure: Failure::Connect(source),
            }) = attempts.pop()
        {
            return Self::connect(server, source);
        }
        Self {
            kind: Kind::Hosts { attrs, attempts },
        }
    }

    /// The health check found the server no longer fits the pool's
    /// `target_session_attrs` (a standby promoted, a primary turned
    /// read-only).
    pub(crate) fn wrong_role(attrs: SessionAttrs, server: String, what: &'static str) -> Self {
        Self::hosts(
            attrs,
            vec![Attempt {
                server,
                failure: Failure::Role(what),
            }],
        )
    }

    pub(crate) fn callback(name: &'static str, source: Error) -> Self {
        Self {
            kind: Kind::Callback {
                name,
                source: Box::new(source),
            },
        }
    }

    pub(crate) fn pipeline_aborted(failed: usize) -> Self {
        Self {
            kind: Kind::PipelineAborted(failed),
        }
    }

    pub(crate) fn query_timeout(limit: Duration) -> Self {
        Self {
            kind: Kind::QueryTimeout(limit),
        }
    }

    pub(crate) fn row(error: crate::rows::RowError) -> Self {
        Self {
            kind: Kind::Row(error),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Config(message.into()),
        }
    }

    /// The error of a blocking call made in the future that a
    /// current-thread tokio runtime runs on its only thread (the body of
    /// `#[tokio::main(flavor = "current_thread")]` or `#[tokio::test]`),
    /// where blocking would stall the whole runtime.
    ///
    /// Used by the blocking facade (`tidepool-sync`); `method` names the
    /// call.
    #[doc(hidden)]
    pub fn blocking_in_async(method: &'static str) -> Self {
        Self {
            kind: Kind::Blocking {
                method,
                own_runtime: false,
            },
        }
    }

    /// The error of a blocking call made on a thread of a blocking pool's
    /// own runtime (inside one of its callbacks), where it would wait for
    /// the threads it holds.
    ///
    /// Used by the blocking facade (`tidepool-sync`); `method` names the
    /// call.
    #[doc(hidden)]
    pub fn blocking_in_pool_runtime(method: &'static str) -> Self {
        Self {
            kind: Kind::Blocking {
                method,
                own_runtime: true,
            },
        }
    }

    /// A configuration error with `message`.
    ///
    /// Used by the blocking facade (`tidepool-sync`) for its own settings.
    #[doc(hidden)]
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::config(message)
    }

    /// True when a checkout or a wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(&self.kind, Kind::Pool(e) if e.is_timeout())
    }

    /// True when a statement of a pipeline run inside a transaction did not
    /// run because an earlier statement of the pipeline failed (the
    /// message names it, counting from 0); see
    /// [`Pipeline`](crate::Pipeline).
    pub fn is_pipeline_aborted(&self) -> bool {
        matches!(self.kind, Kind::PipelineAborted(_))
    }

    /// True when a statement outlasted the connection's query timeout and
    /// was cancelled.
    pub fn is_query_timeout(&self) -> bool {
        matches!(self.kind, Kind::QueryTimeout(_))
    }

    /// True when a checkout was turned away because `max_waiting` requests
    /// were already waiting.
    pub fn is_too_many_requests(&self) -> bool {
        matches!(&self.kind, Kind::Pool(e) if e.is_too_many_requests())
    }

    /// True when the pool was closed.
    pub fn is_closed(&self) -> bool {
        matches!(&self.kind, Kind::Pool(e) if e.is_closed())
    }

    /// True when the settings or the connection string were rejected.
    pub fn is_config(&self) -> bool {
        match &self.kind {
            Kind::Pool(e) => e.is_config(),
            Kind::Config(_) => true,
            _ => false,
        }
    }

    /// True when a connection attempt failed (the server unreachable, the
    /// password wrong, ...), also when a checkout failed at once because
    /// the pool had no connection and its connects failed with an error
    /// that retrying cannot fix ([`code`](Error::code) then gives its
    /// SQLSTATE, such as `28P01` for a wrong password).
    pub fn is_connect(&self) -> bool {
        match &self.kind {
            Kind::Connect { .. } | Kind::Hosts { .. } => true,
            Kind::Pool(e) => e.is_connect(),
            _ => false,
        }
    }

    /// Whether this error, met while connecting, is one that retrying
    /// cannot fix: the password or the role refused (SQLSTATE class 28),
    /// a database that does not exist (3D000), TLS refused by one side, or
    /// settings that do not resolve to a connection. Refused, reset and
    /// timed-out connects, a server starting up (57P03) or out of
    /// connection slots (53300) are worth retrying.
    pub(crate) fn is_permanent_connect(&self) -> bool {
        match &self.kind {
            Kind::Connect { source, .. } => is_permanent_source(source),
            // Permanent only when every host said so: another may come up.
            Kind::Hosts { attempts, .. } => {
                !attempts.is_empty()
                    && attempts.iter().all(|attempt| match &attempt.failure {
                        Failure::Connect(source) => is_permanent_source(source),
                        _ => false,
                    })
            }
            Kind::Config(_) => true,
            _ => false,
        }
    }

    /// True when the row factory could not build a row from the result
    /// (a missing column, a value of the wrong type, ...); the message
    /// names the column.
    pub fn is_row(&self) -> bool {
        matches!(self.kind, Kind::Row(_))
    }

    /// True when the server did not have a prepared statement that the
    /// connection had prepared (SQLSTATE 26000), or already had one of the
    /// name the connection chose (42P05), on a pool whose
    /// [`pgbouncer`](crate::PoolBuilder::pgbouncer) setting is off: the
    /// mark of a transaction pooler (PgBouncer in transaction mode) between
    /// the pool and the server, which hands each transaction to any of its
    /// server connections. The message says so and names the setting.
    pub fn is_lost_prepared_statement(&self) -> bool {
        matches!(self.kind, Kind::LostStatement(_))
    }

    /// True when a call of the blocking pool was refused because blocking
    /// would stall or wait for itself: made in the future that a
    /// current-thread runtime runs on its only thread (an async `main` or
    /// test body), or on a thread of a blocking pool's own runtime (inside
    /// one of its callbacks). See `tidepool_sync::Pool` for where calls
    /// work.
    pub fn is_blocking_in_async(&self) -> bool {
        matches!(self.kind, Kind::Blocking { .. })
    }

    /// The tokio-postgres error behind this one: a failed query or connect,
    /// or the last failed connect behind a checkout timeout.
    pub fn as_postgres(&self) -> Option<&tokio_postgres::Error> {
        match &self.kind {
            Kind::Db(e) | Kind::LostStatement(e) | Kind::Connect { source: e, .. } => Some(e),
            Kind::Pool(e) => e
                .cause()
                .and_then(|cause| cause.downcast_ref::<Error>())
                .and_then(Error::as_postgres),
            Kind::Callback { source, .. } => source.as_postgres(),
            Kind::Hosts { attempts, .. } => {
                attempts
                    .iter()
                    .rev()
                    .find_map(|attempt| match &attempt.failure {
                        Failure::Connect(source) => Some(source),
                        _ => None,
                    })
            }
            Kind::Config(_)
            | Kind::Blocking { .. }
            | Kind::QueryTimeout(_)
            | Kind::PipelineAborted(_)
            | Kind::Row(_) => None,
        }
    }

    /// The error the server reported, if there is one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        self.as_postgres()
            .and_then(tokio_postgres::Error::as_db_error)
    }

    /// The SQLSTATE code of the server's error, if there is one.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_postgres().and_then(tokio_postgres::Error::code)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Pool(e) => fmt::Display::fmt(e, f),
            Kind::Db(e) => write_postgres(f, e),
            Kind::LostStatement(e) => {
                write_postgres(f, e)?;
                f.write_str(
                    "; the connection's prepared statements are not on the server session \
                     it reached: a transaction pooler between the pool and the server \
                     (PgBouncer in transaction mode) is the likely cause; build the pool \
                     with pgbouncer(true) (the `pgbouncer` setting), which runs every \
                     statement unnamed",
                )
            }
            Kind::Connect { target, source } => {
                write!(f, "could not connect to {target}: ")?;
                write_postgres(f, source)?;
                match crate::tls::tls_hint(source) {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
            Kind::Hosts { attrs, attempts } => {
                match attrs {
                    SessionAttrs::Any => f.write_str("could not connect to any host")?,
                    attrs => write!(
                        f,
                        "could not connect to a server that fits target_session_attrs={attrs}"
                    )?,
                }
                for (i, attempt) in attempts.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    fmt::Display::fmt(attempt, f)?;
                }
                Ok(())
            }
            Kind::Config(message) => f.write_str(message),
            Kind::Callback { name, source } => write!(f, "the {name} callback failed: {source}"),
            Kind::PipelineAborted(failed) => write!(
                f,
                "not run: statement {failed} of the pipeline (counting from 0) failed first, \
                 which aborted the transaction"
            ),
            Kind::QueryTimeout(limit) => write!(
                f,
                "the statement ran longer than the query timeout ({:?}) and was cancelled",
                limit
            ),
            Kind::Row(error) => fmt::Display::fmt(error, f),
            Kind::Blocking {
                method,
                own_runtime: true,
            } => write!(
                f,
                "{method} is a blocking call and was made on a thread of a blocking pool's \
                 own runtime (inside one of its callbacks, say), where it would wait for the \
                 threads it holds; use the callback's connection, or the async pool \
                 (Pool::as_async) there"
            ),
            Kind::Blocking {
                method,
                own_runtime: false,
            } => write!(
                f,
                "{method} is a blocking call and was made in the future a current-thread \
                 tokio runtime runs on its only thread (the body of #[tokio::main(flavor = \
                 \"current_thread\")] or #[tokio::test], or Runtime::block_on), where it \
                 would stall the whole runtime; move the call into \
                 tokio::task::spawn_blocking, or use the async pool (Pool::as_async) there"
            ),
        }
    }
}

/// Whether a server message is about a statement tokio-postgres prepared:
/// `prepared statement "s12" does not exist` (or `already exists`), the
/// name being `s` and a number; a statement the user named with SQL
/// (`PREPARE`, `EXECUTE`) is not.
fn names_a_protocol_statement(message: &str) -> bool {
    message
        .strip_prefix("prepared statement \"s")
        .and_then(|rest| rest.split_once('"'))
        .is_some_and(|(digits, _)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a connect error is one that retrying cannot fix (see
/// [`Error::is_permanent_connect`]).
fn is_permanent_source(source: &tokio_postgres::Error) -> bool {
    source.code().is_some_and(|code| {
        code.code().starts_with("28") || *code == SqlState::INVALID_CATALOG_NAME
    }) || crate::tls::tls_refused(source)
}

/// Writes a tokio-postgres error with what its own `Display` leaves out:
/// the server's message, SQLSTATE, detail and hint, or the chain of causes
/// ("error connecting to server: Connection refused").
pub(crate) fn write_postgres(
    f: &mut fmt::Formatter<'_>,
    error: &tokio_postgres::Error,
) -> fmt::Result {
    if let Some(db) = error.as_db_error() {
        write!(
            f,
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        )?;
        if let Some(detail) = db.detail() {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = db.hint() {
            write!(f, "; hint: {hint}")?;
        }
        return Ok(());
    }
    write!(f, "{error}")?;
    let mut source = error.source();
    while let Some(cause) = source {
        write!(f, ": {cause}")?;
        source = cause.source();
    }
    Ok(())
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Pool(e) => f.debug_tuple("Error::Pool").field(e).finish(),
            Kind::Db(e) => f.debug_tuple("Error::Db").field(e).finish(),
            Kind::LostStatement(e) => f.debug_tuple("Error::LostStatement").field(e).finish(),
            Kind::Connect { target, source } => f
                .debug_struct("Error::Connect")
                .field("target", target)
                .field("source", source)
                .finish(),
            Kind::Hosts { attrs, attempts } => f
                .debug_struct("Error::Hosts")
                .field("target_session_attrs", attrs)
                .field("attempts", attempts)
                .finish(),
            Kind::Config(message) => f.debug_tuple("Error::Config").field(message).finish(),
            Kind::Blocking {
                method,
                own_runtime,
            } => f
                .debug_struct("Error::BlockingInAsync")
                .field("method", method)
                .field("own_runtime", own_runtime)
                .finish(),
            Kind::QueryTimeout(limit) => f.debug_tuple("Error::QueryTimeout").field(limit).finish(),
            Kind::PipelineAborted(failed) => f
                .debug_tuple("Error::PipelineAborted")
                .field(failed)
                .finish(),
            Kind::Row(error) => f.debug_tuple("Error::Row").field(error).finish(),
            Kind::Callback { name, source } => f
                .debug_struct("Error::Callback")
                .field("name", name)
                .field("source", source)
                .finish(),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Pool(e) => Some(e),
            Kind::Db(e) | Kind::LostStatement(e) | Kind::Connect { source: e, .. } => Some(e),
            Kind::Callback { source, .. } => Some(&**source),
            Kind::Row(error) => Some(error),
            Kind::Hosts { .. } => self.as_postgres().map(|e| e as &(dyn StdError + 'static)),
            Kind::Config(_)
            | Kind::Blocking { .. }
            | Kind::QueryTimeout(_)
            | Kind::PipelineAborted(_) => None,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::db(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokio_postgres_statement_names_are_explained() {
        assert!(names_a_protocol_statement(
            "prepared statement \"s12\" does not exist"
        ));
        assert!(names_a_protocol_statement(
            "prepared statement \"s0\" already exists"
        ));
        assert!(!names_a_protocol_statement(
            "prepared statement \"sales\" does not exist"
        ));
        assert!(!names_a_protocol_statement(
            "prepared statement \"s\" does not exist"
        ));
        assert!(!names_a_protocol_statement("division by zero"));
    }

    #[test]
    fn a_walk_names_every_host_and_why() {
        let error = Error::hosts(
            SessionAttrs::ReadWrite,
            vec![
                Attempt {
                    server: "db1:5432".to_owned(),
                    failure: Failure::TimedOut(Duration::from_secs(2)),
                },
                Attempt {
                    server: "db2:5432 (10.0.0.2)".to_owned(),
                    failure: Failure::Role("a standby (in hot standby)"),
                },
            ],
        );
        assert!(error.is_connect());
        assert!(!error.is_permanent_connect());
        assert_eq!(
            error.to_string(),
            "could not connect to a server that fits target_session_attrs=read-write: \
             db1:5432: no answer within connect_timeout (2 s); \
             db2:5432 (10.0.0.2): the server is a standby (in hot standby)"
        );
    }
}
