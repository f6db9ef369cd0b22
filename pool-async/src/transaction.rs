//! Transactions, nested as savepoints, rolled back unless committed.

use std::fmt;
use std::sync::Mutex;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{IsolationLevel, SimpleQueryMessage};

use crate::cache::StatementCache;
use crate::cursor::Cursor;
use crate::error::Error;
use crate::execute::Session;
use crate::rows::{RowFactory, TupleRow};
use crate::tracker::Tracker;

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
/// `returns_reset`) before anyone else gets it. A transaction opened inside another
/// ([`transaction`](Transaction::transaction)) is a savepoint.
///
/// Its queries build rows with the connection's row factory `R`.
pub struct Transaction<'a, R = TupleRow> {
    inner: tokio_postgres::Transaction<'a>,
    cache: &'a Mutex<StatementCache>,
    rows: &'a R,
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

    /// Runs the statement that ends the transaction (`COMMIT`, `ROLLBACK`
    /// or their savepoint forms); once it has completed, with the server's
    /// answer or its error, the transaction is over on the server.
    async fn finish(
        mut self,
        end: impl std::future::Future<Output = Result<(), tokio_postgres::Error>>,
    ) -> Result<(), Error> {
        let result = self.tracker.run(end).await;
        self.finished = true;
        result
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

    pub(crate) fn inner(&self) -> &tokio_postgres::Transaction<'a> {
        &self.inner
    }

    /// Opens a server-side cursor over the result of a statement, to read
    /// it in chunks ([`Cursor::fetch`]) instead of all at once.
    ///
    /// # Errors
    ///
    /// The server's error for the statement.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the connection to be reset by the pool.
    pub async fn cursor<'t>(
        &'t self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Cursor<'t, R>, Error> {
        Cursor::open(self, sql, params).await
    }

    /// Whether the pool runs behind a transaction pooler (its `pgbouncer`
    /// setting).
    pub(crate) fn behind_pgbouncer(&self) -> bool {
        crate::execute::lock(self.cache).settings().pgbouncer
    }

    pub(crate) fn session(&self) -> Session<'_> {
        Session {
            client: self.inner.client(),
            tracker: self._open.tracker,
            cache: self.cache,
        }
    }

    /// The row factory of [`query`](Transaction::query) and its kin: the
    /// connection's.
    pub fn row_factory(&self) -> &R {
        self.rows
    }

    crate::methods::statement_methods! {
        errors: "The server's error (the transaction is then aborted and can only roll back, or roll back to a savepoint), or a connection error.",
        cancel: "Dropping the future leaves the connection to be reset by the pool.",
    }

    /// Opens a nested transaction: a savepoint that this transaction
    /// survives whether it commits or rolls back.
    ///
    /// # Errors
    ///
    /// The server's error for `SAVEPOINT`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future rolls back to the savepoint if it was made.
    pub async fn transaction(&mut self) -> Result<Transaction<'_, R>, Error> {
        let tracker = self.tracker();
        let cache = self.cache;
        let rows = self.rows;
        let inner = tracker.run(self.inner.transaction()).await?;
        Ok(Transaction {
            inner,
            cache,
            rows,
            _open: Open::new(tracker),
        })
    }

    /// Commits the transaction (or releases the savepoint).
    ///
    /// # Errors
    ///
    /// The server's error; a transaction whose commit failed is rolled back.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the `COMMIT` may or may not have run, and
    /// the pool resets the connection before anyone else uses it.
    pub async fn commit(self) -> Result<(), Error> {
        let Transaction { inner, _open, .. } = self;
        _open.finish(inner.commit()).await
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
        let Transaction { inner, _open, .. } = self;
        _open.finish(inner.rollback()).await
    }
}

impl<R: RowFactory + Sync> Transaction<'_, R> {
    crate::methods::factory_queries! {
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
    inner: tokio_postgres::TransactionBuilder<'a>,
    tracker: &'a Tracker,
    cache: &'a Mutex<StatementCache>,
    rows: &'a R,
}

impl<'a, R> TransactionBuilder<'a, R> {
    pub(crate) fn new(
        inner: tokio_postgres::TransactionBuilder<'a>,
        tracker: &'a Tracker,
        cache: &'a Mutex<StatementCache>,
        rows: &'a R,
    ) -> Self {
        Self {
            inner,
            tracker,
            cache,
            rows,
        }
    }

    /// Sets the isolation level. Defaults to the session's
    /// (`default_transaction_isolation`, normally read committed).
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.inner = self.inner.isolation_level(level);
        self
    }

    /// Makes the transaction read-only (or read-write). Defaults to the
    /// session's setting.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.inner = self.inner.read_only(read_only);
        self
    }

    /// Makes the transaction deferrable (meaningful for serializable
    /// read-only transactions). Defaults to the session's setting.
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.inner = self.inner.deferrable(deferrable);
        self
    }

    /// Begins the transaction.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes rolls back whatever it
    /// began.
    pub async fn start(self) -> Result<Transaction<'a, R>, Error> {
        let inner = self.tracker.run(self.inner.start()).await?;
        Ok(Transaction {
            inner,
            cache: self.cache,
            rows: self.rows,
            _open: Open::new(self.tracker),
        })
    }
}

impl<R> fmt::Debug for TransactionBuilder<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionBuilder").finish_non_exhaustive()
    }
}
