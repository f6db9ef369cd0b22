//! Blocking transactions.

use std::fmt;

use tidepool_async::{
    Error, IsolationLevel, RowFactory, SimpleQueryMessage, ToSql, TupleRow, Type,
};

use crate::pool::runtime::Blocker;
use crate::session::cursor::Cursor;

/// A transaction on a blocking connection: the methods of
/// [`tidepool_async::Transaction`], blocking. It commits only through
/// [`commit`](Transaction::commit) and rolls back when dropped any other
/// way, a panic included.
///
/// Its queries build rows with the connection's row factory `R`.
pub struct Transaction<'a, R = TupleRow> {
    inner: tidepool_async::Transaction<'a, R>,
    blocker: &'a Blocker,
}

impl<'a, R: Sync> Transaction<'a, R> {
    pub(crate) fn new(inner: tidepool_async::Transaction<'a, R>, blocker: &'a Blocker) -> Self {
        Self { inner, blocker }
    }

    crate::session::methods::blocking_statement_methods!("Transaction");

    /// Opens a server-side cursor over the result of a statement, to read
    /// it in chunks ([`Cursor::fetch`]).
    ///
    /// # Errors
    ///
    /// The server's error for the statement, or an error when called inside
    /// a pool callback.
    pub fn cursor<'t>(
        &'t self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Cursor<'t, R>, Error> {
        let inner = self
            .blocker
            .block_on("Transaction::cursor", self.inner.cursor(sql, params))?;
        Ok(Cursor {
            inner,
            blocker: self.blocker,
        })
    }

    /// Opens a nested transaction (a savepoint).
    ///
    /// # Errors
    ///
    /// The server's error for `SAVEPOINT`, or an error when called inside
    /// a pool callback.
    pub fn transaction(&mut self) -> Result<Transaction<'_, R>, Error> {
        let blocker = self.blocker;
        let inner = blocker.block_on("Transaction::transaction", self.inner.transaction())?;
        Ok(Transaction { inner, blocker })
    }

    /// Commits the transaction (or releases the savepoint).
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback
    /// (the transaction then rolls back).
    pub fn commit(self) -> Result<(), Error> {
        self.blocker
            .block_on("Transaction::commit", self.inner.commit())
    }

    /// Rolls the transaction back (or back to the savepoint).
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback.
    pub fn rollback(self) -> Result<(), Error> {
        self.blocker
            .block_on("Transaction::rollback", self.inner.rollback())
    }
}

impl<R: RowFactory + Sync> Transaction<'_, R> {
    crate::session::methods::blocking_factory_queries!("Transaction");
}

impl<R> fmt::Debug for Transaction<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

/// Builds a blocking transaction with non-default settings: start from
/// [`Connection::build_transaction`](crate::Connection::build_transaction).
pub struct TransactionBuilder<'a, R = TupleRow> {
    inner: tidepool_async::TransactionBuilder<'a, R>,
    blocker: &'a Blocker,
}

impl<'a, R> TransactionBuilder<'a, R> {
    pub(crate) fn new(
        inner: tidepool_async::TransactionBuilder<'a, R>,
        blocker: &'a Blocker,
    ) -> Self {
        Self { inner, blocker }
    }

    /// Sets the isolation level. Defaults to the session's.
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

    /// Makes the transaction deferrable. Defaults to the session's setting.
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.inner = self.inner.deferrable(deferrable);
        self
    }

    /// Begins the transaction: sends `BEGIN` (with the options) and waits
    /// for it.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN` (with options), or an error when
    /// called inside a pool callback.
    pub fn start(self) -> Result<Transaction<'a, R>, Error>
    where
        R: Sync,
    {
        let inner = self
            .blocker
            .block_on("TransactionBuilder::start", self.inner.start())?;
        Ok(Transaction::new(inner, self.blocker))
    }
}

impl<R> fmt::Debug for TransactionBuilder<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionBuilder").finish_non_exhaustive()
    }
}
