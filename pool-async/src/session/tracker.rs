//! What a connection knows of its session's state.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use tokio_postgres::error::{Severity, SqlState};

use crate::error::Error;
use crate::session::cancel::Canceller;
use crate::session::sql;

/// Tracks whether a connection may be left in a state that the next user
/// must not see: a transaction open, an operation still running on the
/// server, or SQL that may have changed the transaction state.
///
/// The pool asks [`needs_reset`](Tracker::needs_reset) when the connection
/// comes back, and rolls back (or closes) the connection if so.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// Operations started and not seen to finish. A future dropped while
    /// it waited for the server leaves this above zero: its statement may
    /// still be running.
    in_flight: AtomicU32,
    /// Transaction guards alive. Above zero at return only when a guard was
    /// leaked (`mem::forget`), since guards borrow the connection.
    open_transactions: AtomicU32,
    /// The session may be inside a transaction block that no guard tracks:
    /// transaction commands sent as SQL, or the raw client lent out.
    dirty: AtomicBool,
    /// The connection must not serve anyone else: the server ended the
    /// session (a FATAL error, which the client may not have noticed as a
    /// closed socket yet), or a cancel request got no answer and may still
    /// cancel a later statement. Never cleared.
    unusable: AtomicBool,
    /// A named statement may be on the server without a `Statement` that
    /// closes it: a prepare was sent and its future dropped. Behind a
    /// transaction pooler the connection is then closed, and the server
    /// connection it pins with it.
    statement_at_risk: AtomicBool,
    /// The longest an operation may take before it is cancelled.
    pub(crate) query_timeout: Option<Duration>,
    /// The pool's query timeout, restored when the connection is reset.
    default_query_timeout: Option<Duration>,
    /// Cancels the statement running on the connection.
    pub(crate) canceller: Canceller,
    /// Whether the connection may prepare named statements outside
    /// transactions (the pool's `pgbouncer` setting is off), so that losing
    /// one is explained as the work of a transaction pooler.
    names_statements: bool,
    /// `WITH HOLD` cursors may be open: the pool closes them when the
    /// connection comes back.
    held_cursors: AtomicBool,
    /// A statement failed with SQLSTATE 25006 (a write refused in a
    /// read-only transaction): the server may have become read-only
    /// without saying so (a server too old to report it, or a pooler in
    /// between), so a pool that needs a read-write server asks it again
    /// when the connection comes back.
    write_refused: AtomicBool,
    /// Where the connection's statements go, for their spans.
    pub(crate) peer: crate::session::span::Peer,
    /// Whether each statement's duration is recorded in the
    /// `db.client.operation.duration` histogram.
    pub(crate) statement_metrics: bool,
}

impl Tracker {
    pub(crate) fn new(
        canceller: Canceller,
        query_timeout: Option<Duration>,
        names_statements: bool,
    ) -> Self {
        Self {
            in_flight: AtomicU32::new(0),
            open_transactions: AtomicU32::new(0),
            dirty: AtomicBool::new(false),
            unusable: AtomicBool::new(false),
            statement_at_risk: AtomicBool::new(false),
            query_timeout,
            default_query_timeout: query_timeout,
            canceller,
            names_statements,
            held_cursors: AtomicBool::new(false),
            write_refused: AtomicBool::new(false),
            peer: crate::session::span::Peer::default(),
            statement_metrics: false,
        }
    }

    /// Runs the work that `work` makes, the statement `sql`, in its span
    /// (see [`crate::session::span`]).
    ///
    /// The wrappers here take a function that makes the future rather than
    /// the future itself: an `async fn` keeps a future it was given apart
    /// from the same future being awaited, so each layer that took one
    /// would store the statement's future twice, and copy it, at every
    /// statement.
    ///
    /// Not an `async fn`: it hands on the span's future as it is, rather
    /// than wrapping it in one more layer to be moved.
    pub(crate) fn traced<'a, T, F>(
        &'a self,
        sql: &'a str,
        work: impl FnOnce() -> F + 'a,
    ) -> impl Future<Output = Result<T, Error>> + 'a
    where
        T: 'a,
        F: Future<Output = Result<T, Error>> + 'a,
    {
        crate::session::span::traced(&self.peer, sql, self.statement_metrics, work)
    }

    /// Runs one operation, made by `operation`, counting it as in flight
    /// until it finishes, and cancelling it on the server if it outlasts
    /// the query timeout.
    pub(crate) async fn run<T, F>(&self, operation: impl FnOnce() -> F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.in_flight.fetch_add(1, Relaxed);
        let result = match self.query_timeout {
            None => operation().await,
            Some(limit) => match tokio::time::timeout(limit, operation()).await {
                Ok(result) => result,
                Err(_) => {
                    // The statement may still run: cancel it, so that the
                    // connection serves the next statement. It stays counted
                    // in flight, so the pool resets it on return. The cancel
                    // gets as long as the statement had: the network may be
                    // what stalled, and the caller must not hang.
                    // Boxed: it is rare, and in place it would make every
                    // statement's future larger.
                    if !Box::pin(self.canceller.cancel_within(limit)).await {
                        self.unusable.store(true, Relaxed);
                    }
                    return Err(Error::query_timeout(limit));
                }
            },
        };
        // Not reached when the future is dropped: the count then stays up,
        // which is the point.
        self.in_flight.fetch_sub(1, Relaxed);
        if let Err(error) = &result {
            if ends_session(error) {
                self.unusable.store(true, Relaxed);
            }
            if error.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
                self.write_refused.store(true, Relaxed);
            }
        }
        result.map_err(|error| {
            if self.names_statements {
                Error::db_behind_pooler(error)
            } else {
                Error::db(error)
            }
        })
    }

    /// Counts an operation that spans several calls (a COPY) as in flight,
    /// until [`end`](Self::end).
    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// Ends an operation counted by [`begin`](Self::begin).
    pub(crate) fn end(&self) {
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// Notes a statement sent through the extended protocol.
    pub(crate) fn statement(&self, sql: &str) {
        if sql::statement_may_change_transaction(sql) {
            self.mark_dirty();
        }
    }

    /// Notes a script sent through the simple protocol.
    pub(crate) fn script(&self, sql: &str) {
        if sql::script_may_change_transaction(sql) {
            self.mark_dirty();
        }
    }

    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Relaxed);
    }

    pub(crate) fn transaction_opened(&self) {
        self.open_transactions.fetch_add(1, Relaxed);
    }

    /// A transaction guard is gone after its transaction was finished.
    pub(crate) fn transaction_closed(&self) {
        self.open_transactions.fetch_sub(1, Relaxed);
    }

    /// A transaction guard is gone without `commit` or `rollback`: its
    /// `ROLLBACK` is only queued, so the session must be settled (the
    /// rollback's answer awaited) before anyone else uses it.
    pub(crate) fn transaction_abandoned(&self) {
        self.dirty.store(true, Relaxed);
        self.open_transactions.fetch_sub(1, Relaxed);
    }

    /// Runs an operation that prepares a named statement (a COPY through
    /// tokio-postgres). Behind a transaction pooler (`pgbouncer`) the
    /// statement is at risk until it returns: a dropped future may leave
    /// it prepared with nothing to close it, on a server connection that
    /// other clients use next.
    pub(crate) async fn run_naming<T, F>(
        &self,
        operation: impl FnOnce() -> F,
        pgbouncer: bool,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        if !pgbouncer {
            return self.run(operation).await;
        }
        self.statement_at_risk.store(true, Relaxed);
        let result = self.run(operation).await;
        self.statement_at_risk.store(false, Relaxed);
        result
    }

    /// Whether the connection must not serve anyone else (see the fields
    /// `unusable` and `statement_at_risk`).
    pub(crate) fn is_unusable(&self) -> bool {
        self.unusable.load(Relaxed) || self.statement_at_risk.load(Relaxed)
    }

    /// Whether an operation was left unfinished by a dropped future.
    pub(crate) fn has_in_flight(&self) -> bool {
        self.in_flight.load(Relaxed) > 0
    }

    /// Whether the session is surely outside any transaction block, so that
    /// a failed statement may be retried.
    pub(crate) fn is_outside_transactions(&self) -> bool {
        self.open_transactions.load(Relaxed) == 0 && !self.dirty.load(Relaxed)
    }

    /// Notes that a `WITH HOLD` cursor was declared: the pool closes every
    /// cursor when the connection comes back.
    pub(crate) fn cursor_held(&self) {
        self.held_cursors.store(true, Relaxed);
    }

    /// Whether `WITH HOLD` cursors may be open.
    pub(crate) fn has_held_cursors(&self) -> bool {
        self.held_cursors.load(Relaxed)
    }

    /// Whether a statement failed as a write in a read-only transaction
    /// since the last call; forgets it.
    pub(crate) fn take_write_refused(&self) -> bool {
        self.write_refused.swap(false, Relaxed)
    }

    /// Whether a statement failed as a write in a read-only transaction.
    pub(crate) fn write_refused(&self) -> bool {
        self.write_refused.load(Relaxed)
    }

    /// Whether the pool runs behind a transaction pooler.
    pub(crate) fn behind_pooler(&self) -> bool {
        !self.names_statements
    }

    /// Whether the connection must be reset before another user gets it.
    pub(crate) fn needs_reset(&self) -> bool {
        self.held_cursors.load(Relaxed)
            || self.in_flight.load(Relaxed) > 0
            || self.open_transactions.load(Relaxed) > 0
            || self.dirty.load(Relaxed)
            || self.query_timeout != self.default_query_timeout
    }

    /// Forgets everything after a successful reset.
    pub(crate) fn clear(&mut self) {
        self.held_cursors.store(false, Relaxed);
        self.query_timeout = self.default_query_timeout;
        self.in_flight.store(0, Relaxed);
        self.open_transactions.store(0, Relaxed);
        self.dirty.store(false, Relaxed);
    }
}

/// Whether an error means that the session is over: the connection closed,
/// or the server reported a FATAL or PANIC error (a terminated backend, a
/// server shutting down), after which it closes the connection.
fn ends_session(error: &tokio_postgres::Error) -> bool {
    error.is_closed()
        || error.as_db_error().is_some_and(|db| {
            matches!(
                db.parsed_severity(),
                Some(Severity::Fatal | Severity::Panic)
            )
        })
}
