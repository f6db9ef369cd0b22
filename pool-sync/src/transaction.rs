//! Blocking transactions.

use std::fmt;

use tidepool_async::{
    Error, IsolationLevel, RowFactory, SimpleQueryMessage, ToSql, TupleRow, Type,
};

use crate::copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
use crate::pipeline::Pipeline;
use crate::runtime::Blocker;

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

    /// Runs a statement and returns its rows, each built by `factory`
    /// instead of the connection's row factory.
    ///
    /// # Errors
    ///
    /// As for [`query`](Transaction::query).
    pub fn query_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<F::Output>, Error> {
        self.blocker.block_on(
            "Transaction::query_with",
            self.inner.query_with(factory, sql, params),
        )
    }

    /// Runs a statement that returns exactly one row, built by `factory`.
    ///
    /// # Errors
    ///
    /// As for [`query_one`](Transaction::query_one).
    pub fn query_one_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<F::Output, Error> {
        self.blocker.block_on(
            "Transaction::query_one_with",
            self.inner.query_one_with(factory, sql, params),
        )
    }

    /// Runs a statement that returns at most one row, built by `factory`.
    ///
    /// # Errors
    ///
    /// As for [`query_opt`](Transaction::query_opt).
    pub fn query_opt_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<F::Output>, Error> {
        self.blocker.block_on(
            "Transaction::query_opt_with",
            self.inner.query_opt_with(factory, sql, params),
        )
    }

    /// Runs a statement and returns the number of rows it changed.
    ///
    /// # Errors
    ///
    /// As for [`query`](Transaction::query).
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.blocker
            .block_on("Transaction::execute", self.inner.execute(sql, params))
    }

    /// Runs statements separated by semicolons, without parameters.
    ///
    /// # Errors
    ///
    /// As for [`query`](Transaction::query).
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.blocker
            .block_on("Transaction::batch_execute", self.inner.batch_execute(sql))
    }

    /// Runs statements through the simple query protocol and returns their
    /// rows as text.
    ///
    /// # Errors
    ///
    /// As for [`query`](Transaction::query).
    pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.blocker
            .block_on("Transaction::simple_query", self.inner.simple_query(sql))
    }

    /// Starts a pipeline, as [`tidepool_async::Connection::pipeline`].
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            inner: self.inner.pipeline(),
            blocker: self.blocker,
        }
    }

    /// Starts a binary `COPY ... FROM STDIN`, as
    /// [`tidepool_async::Connection::copy_in_rows`].
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime.
    pub fn copy_in_rows(&self, sql: &str, types: &[Type]) -> Result<CopyInWriter<'_>, Error> {
        let inner = self
            .blocker
            .block_on("copy_in_rows", self.inner.copy_in_rows(sql, types))?;
        Ok(CopyInWriter {
            inner,
            blocker: self.blocker,
        })
    }

    /// Starts a `COPY ... FROM STDIN` fed raw bytes, as
    /// [`tidepool_async::Connection::copy_in`].
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime.
    pub fn copy_in(&self, sql: &str) -> Result<CopyIn<'_>, Error> {
        let inner = self.blocker.block_on("copy_in", self.inner.copy_in(sql))?;
        Ok(CopyIn {
            inner,
            blocker: self.blocker,
        })
    }

    /// Starts a `COPY ... TO STDOUT` read as raw chunks, as
    /// [`tidepool_async::Connection::copy_out`].
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime.
    pub fn copy_out(&self, sql: &str) -> Result<CopyOut<'_>, Error> {
        let inner = self
            .blocker
            .block_on("copy_out", self.inner.copy_out(sql))?;
        Ok(CopyOut {
            inner,
            blocker: self.blocker,
        })
    }

    /// Starts a binary `COPY ... TO STDOUT` read a row at a time, as
    /// [`tidepool_async::Connection::copy_out_rows`].
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime.
    pub fn copy_out_rows(&self, sql: &str, types: &[Type]) -> Result<CopyOutRows<'_>, Error> {
        let inner = self
            .blocker
            .block_on("copy_out_rows", self.inner.copy_out_rows(sql, types))?;
        Ok(CopyOutRows {
            inner,
            blocker: self.blocker,
        })
    }

    /// Opens a server-side cursor over the result of a statement, to read
    /// it in chunks ([`Cursor::fetch`]).
    ///
    /// # Errors
    ///
    /// The server's error for the statement, or an error when called inside
    /// an async runtime.
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
    /// an async runtime.
    pub fn transaction(&mut self) -> Result<Transaction<'_, R>, Error> {
        let blocker = self.blocker;
        let inner = blocker.block_on("Transaction::transaction", self.inner.transaction())?;
        Ok(Transaction { inner, blocker })
    }

    /// Commits the transaction (or releases the savepoint).
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime
    /// (the transaction then rolls back).
    pub fn commit(self) -> Result<(), Error> {
        self.blocker
            .block_on("Transaction::commit", self.inner.commit())
    }

    /// Rolls the transaction back (or back to the savepoint).
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime.
    pub fn rollback(self) -> Result<(), Error> {
        self.blocker
            .block_on("Transaction::rollback", self.inner.rollback())
    }
}

impl<R: RowFactory + Sync> Transaction<'_, R> {
    /// Runs a statement and returns its rows, built by the connection's
    /// row factory.
    ///
    /// # Errors
    ///
    /// The server's error (the transaction is then aborted), or an error
    /// when called inside an async runtime.
    pub fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<R::Output>, Error> {
        self.blocker
            .block_on("Transaction::query", self.inner.query(sql, params))
    }

    /// Runs a statement that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As [`query`](Transaction::query), and an error when the statement
    /// returns no row or more than one.
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<R::Output, Error> {
        self.blocker
            .block_on("Transaction::query_one", self.inner.query_one(sql, params))
    }

    /// Runs a statement that returns at most one row.
    ///
    /// # Errors
    ///
    /// As [`query`](Transaction::query), and an error when the statement
    /// returns more than one row.
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<R::Output>, Error> {
        self.blocker
            .block_on("Transaction::query_opt", self.inner.query_opt(sql, params))
    }
}

impl<R> fmt::Debug for Transaction<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").finish_non_exhaustive()
    }
}

/// A server-side cursor of a blocking transaction, as
/// [`tidepool_async::Cursor`].
pub struct Cursor<'t, R = TupleRow> {
    inner: tidepool_async::Cursor<'t, R>,
    blocker: &'t Blocker,
}

impl<R: RowFactory + Sync> Cursor<'_, R> {
    /// Reads the next `max_rows` rows (fewer at the end); an empty chunk
    /// means the result is exhausted.
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside an async runtime.
    pub fn fetch(&mut self, max_rows: u32) -> Result<Vec<R::Output>, Error> {
        self.blocker
            .block_on("Cursor::fetch", self.inner.fetch(max_rows))
    }

    /// Whether the last chunk was read.
    pub fn is_exhausted(&self) -> bool {
        self.inner.is_exhausted()
    }
}

impl<R> fmt::Debug for Cursor<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
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

    /// Begins the transaction.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN`, or an error when called inside an
    /// async runtime.
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
