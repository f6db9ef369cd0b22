//! Transactions, nested as savepoints, rolled back unless committed.

use std::fmt;
use std::sync::Mutex;

use std::future::Future;
use std::task::{Context, Waker};

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, IsolationLevel, SimpleQueryMessage};

use crate::error::Error;
use crate::rows::{RowFactory, TupleRow};
use crate::session::begin::Begin;
use crate::session::cache::StatementCache;
use crate::session::execute::Session;
use crate::session::tracker::Tracker;

/// The future of the work given to
/// [`Connection::in_transaction`](crate::Connection::in_transaction).
pub type TransactionFuture<'t, T, E> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 't>>;

/// A transaction on a pooled connection.
///
/// It commits only through [`commit`](Transaction::commit). Dropped any
/// other way (an early return, an error, a panic, a cancelled future), it
/// rolls back: the `ROLLBACK` is queued on the connection at once, before
/// any later statement, and when the connection goes back to the pool the
/// pool waits for the server's answer (the connection is reset, counted in
/// `returns_reset`) before anyone else gets it. A transaction opened inside
/// another ([`transaction`](Transaction::transaction)) is a savepoint.
///
/// Its `BEGIN` is answered before its first statement is sent (see
/// [`TransactionBuilder::start`]).
///
/// Its queries build rows with the connection's row factory `R`.
pub struct Transaction<'a, R = TupleRow> {
    client: &'a Client,
    cache: &'a Mutex<StatementCache>,
    rows: &'a R,
    /// The transaction's `BEGIN`; for a savepoint, sent already.
    begin: Begin,
    /// The savepoint's name, for a nested transaction.
    savepoint: Option<String>,
    /// How deeply nested: 0 for the transaction, 1 for its savepoints...
    depth: u32,
    _open: Open<'a>,
}

/// Counts a transaction guard as alive in the connection's tracker.
///
/// A guard dropped before its transaction was finished by `commit` or
/// `rollback` leaves only a queued `ROLLBACK` behind, whose answer nobody
/// waits for: the tracker is told, so that the pool resets the connection
/// (and waits for the rollback) before anyone else gets it.
struct Open<'a> {
    tracker: &'a Tracker,
    finished: bool,
}

impl<'a> Open<'a> {
    fn new(tracker: &'a Tracker) -> Self {
        tracker.transaction_opened();
        Self {
            tracker,
            finished: false,
        }
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if self.finished {
            self.tracker.transaction_closed();
        } else {
            self.tracker.transaction_abandoned();
        }
    }
}

impl<'a, R: Sync> Transaction<'a, R> {
    pub(crate) fn tracker(&self) -> &'a Tracker {
        self._open.tracker
    }

    pub(crate) fn session(&self) -> Session<'_> {
        Session {
            client: self.client,
            tracker: self._open.tracker,
            cache: self.cache,
            begin: Some(&self.begin),
        }
    }

    /// The row factory of [`query`](Transaction::query) and its kin: the
    /// connection's.
    pub fn row_factory(&self) -> &R {
        self.rows
    }

    crate::session::methods::statement_methods! {
        errors: "The server's error (the transaction is then aborted and can only roll back, or roll back to a savepoint), or a connection error. ",
        cancel: "Dropping the future leaves the connection to be reset by the pool.",
    }

    /// Opens a nested transaction: a savepoint that this transaction
    /// survives whether it commits or rolls back.
    ///
    /// # Errors
    ///
    /// The server's error for `SAVEPOINT` (or for this transaction's
    /// `BEGIN`, sent with it if no statement sent it before).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the connection to be reset by the pool.
    pub async fn transaction(&mut self) -> Result<Transaction<'_, R>, Error> {
        let depth = self.depth + 1;
        let name = format!("tidepool_sp_{depth}");
        self.session().control(&format!("SAVEPOINT {name}")).await?;
        let tracker = self.tracker();
        Ok(Transaction {
            client: self.client,
            cache: self.cache,
            rows: self.rows,
            begin: Begin::done(),
            savepoint: Some(name),
            depth,
            _open: Open::new(tracker),
        })
    }

    /// Commits the transaction (or releases the savepoint).
    ///
    /// # Errors
    ///
    /// The server's error; a transaction whose commit failed is rolled back.
    /// A transaction whose `BEGIN` failed cannot commit.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the `COMMIT` may or may not have run, and
    /// the pool resets the connection before anyone else uses it.
    pub async fn commit(self) -> Result<(), Error> {
        let end = match &self.savepoint {
            Some(name) => format!("RELEASE {name}"),
            None => "COMMIT".to_owned(),
        };
        self.finish(&end).await
    }

    /// Rolls the transaction back (or back to the savepoint), reporting any
    /// error, which dropping it would not.
    ///
    /// # Errors
    ///
    /// The server's error.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the pool resets the connection before
    /// anyone else uses it.
    pub async fn rollback(self) -> Result<(), Error> {
        let end = match &self.savepoint {
            Some(name) => format!("ROLLBACK TO {name}"),
            None => "ROLLBACK".to_owned(),
        };
        self.finish(&end).await
    }

    /// Ends the transaction with `end`; once that has completed, with the
    /// server's answer or its error, the transaction is over on the server.
    async fn finish(mut self, end: &str) -> Result<(), Error> {
        if !self.begin.was_sent() {
            // Nothing was sent: there is nothing to end.
            self._open.finished = true;
            return Ok(());
        }
        // Refused when BEGIN failed; the ROLLBACK of the drop is harmless.
        if end.starts_with("COMMIT") || end.starts_with("RELEASE") {
            self.begin.take()?;
        }
        let result = self.tracker().run(|| self.client.batch_execute(end)).await;
        self._open.finished = true;
        result
    }
}

impl<R> Drop for Transaction<'_, R> {
    fn drop(&mut self) {
        if self._open.finished {
            return;
        }
        if !self.begin.was_sent() {
            // Nothing reached the server.
            self._open.finished = true;
            return;
        }
        let end = match &self.savepoint {
            Some(name) => format!("ROLLBACK TO {name}"),
            None => "ROLLBACK".to_owned(),
        };
        queue(self.client, &end);
    }
}

/// Queues `sql` on the connection without waiting for its answer: the
/// request is sent when its future is first polled, and the connection
/// drops the answer nobody waits for.
fn queue(client: &Client, sql: &str) {
    let future = std::pin::pin!(client.batch_execute(sql));
    let mut context = Context::from_waker(Waker::noop());
    let _ = future.poll(&mut context);
}

impl<R: RowFactory + Sync> Transaction<'_, R> {
    crate::session::methods::factory_queries! {
        errors: "The server's error (the transaction is then aborted and can only roll back, or roll back to a savepoint), or a connection error.",
        cancel: "Dropping the future leaves the connection to be reset by the pool.",
    }
}

impl<R> fmt::Debug for Transaction<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

/// Builds a transaction with non-default settings: start from
/// [`Connection::build_transaction`](crate::Connection::build_transaction).
pub struct TransactionBuilder<'a, R = TupleRow> {
    client: &'a Client,
    tracker: &'a Tracker,
    cache: &'a Mutex<StatementCache>,
    rows: &'a R,
    isolation_level: Option<IsolationLevel>,
    read_only: Option<bool>,
    deferrable: Option<bool>,
}

impl<'a, R> TransactionBuilder<'a, R> {
    pub(crate) fn new(
        client: &'a Client,
        tracker: &'a Tracker,
        cache: &'a Mutex<StatementCache>,
        rows: &'a R,
    ) -> Self {
        Self {
            client,
            tracker,
            cache,
            rows,
            isolation_level: None,
            read_only: None,
            deferrable: None,
        }
    }

    /// Sets the isolation level. Defaults to the session's
    /// (`default_transaction_isolation`, normally read committed).
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation_level = Some(level);
        self
    }

    /// Makes the transaction read-only (or read-write). Defaults to the
    /// session's setting.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// Makes the transaction deferrable (meaningful for serializable
    /// read-only transactions). Defaults to the session's setting.
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.deferrable = Some(deferrable);
        self
    }

    /// Begins the transaction: sends its `BEGIN` (with the options) and
    /// waits for the answer.
    ///
    /// `BEGIN` is not sent together with the first statement to save the
    /// round trip: a cancel (a `query_timeout`, or the pool cancelling a
    /// statement left running) could strike the `BEGIN` alone, and the
    /// statement sent with it would then run outside the transaction and
    /// commit on its own.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves the connection to be
    /// reset by the pool.
    pub async fn start(self) -> Result<Transaction<'a, R>, Error> {
        let sql = self.begin_sql()?.unwrap_or_else(|| "BEGIN".to_owned());
        self.tracker.run(|| self.client.batch_execute(&sql)).await?;
        let begin = Begin::done();
        Ok(Transaction {
            client: self.client,
            cache: self.cache,
            rows: self.rows,
            begin,
            savepoint: None,
            depth: 0,
            _open: Open::new(self.tracker),
        })
    }

    /// `START TRANSACTION` with the options, or `None` without any.
    fn begin_sql(&self) -> Result<Option<String>, Error> {
        let mut options = Vec::new();
        if let Some(level) = self.isolation_level {
            options.push(match level {
                IsolationLevel::ReadUncommitted => "ISOLATION LEVEL READ UNCOMMITTED",
                IsolationLevel::ReadCommitted => "ISOLATION LEVEL READ COMMITTED",
                IsolationLevel::RepeatableRead => "ISOLATION LEVEL REPEATABLE READ",
                IsolationLevel::Serializable => "ISOLATION LEVEL SERIALIZABLE",
                _ => {
                    return Err(Error::config(
                        "an isolation level this version does not know",
                    ));
                }
            });
        }
        if let Some(read_only) = self.read_only {
            options.push(if read_only { "READ ONLY" } else { "READ WRITE" });
        }
        if let Some(deferrable) = self.deferrable {
            options.push(if deferrable {
                "DEFERRABLE"
            } else {
                "NOT DEFERRABLE"
            });
        }
        Ok((!options.is_empty()).then(|| format!("START TRANSACTION {}", options.join(", "))))
    }
}

impl<R> fmt::Debug for TransactionBuilder<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionBuilder").finish_non_exhaustive()
    }
}
