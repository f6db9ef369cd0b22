//! The blocking connection and its guard.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use tidepool_async::tokio_postgres::CancelToken;
use tidepool_async::{Error, RowFactory, SimpleQueryMessage, ToSql, TupleRow, Type};

use crate::copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
use crate::pipeline::Pipeline;
use crate::runtime::Blocker;
use crate::transaction::{Transaction, TransactionBuilder};

/// A connection checked out of a blocking [`Pool`](crate::Pool).
///
/// It dereferences to a [`Connection`] and goes back to the pool when
/// dropped, rolled back first if it was left inside a transaction.
#[must_use = "dropping the guard returns the connection to the pool at once"]
///
/// `R` is the connection's row factory: the pool's, or the one given to
/// [`with_row_factory`](PooledConnection::with_row_factory).
pub struct PooledConnection<R = TupleRow> {
    conn: Connection<R>,
}

impl<R> PooledConnection<R> {
    pub(crate) fn new(inner: tidepool_async::PooledConnection<R>, blocker: Blocker) -> Self {
        Self {
            conn: Connection { inner, blocker },
        }
    }

    /// The same checkout with another row factory, as
    /// [`tidepool_async::PooledConnection::with_row_factory`]: the
    /// connection's queries then return `F::Output`, until it goes back to
    /// the pool.
    pub fn with_row_factory<F: RowFactory>(this: Self, rows: F) -> PooledConnection<F> {
        let Connection { inner, blocker } = this.conn;
        PooledConnection::new(
            tidepool_async::PooledConnection::with_row_factory(inner, rows),
            blocker,
        )
    }
}

impl<R> Deref for PooledConnection<R> {
    type Target = Connection<R>;

    fn deref(&self) -> &Connection<R> {
        &self.conn
    }
}

impl<R> DerefMut for PooledConnection<R> {
    fn deref_mut(&mut self) -> &mut Connection<R> {
        &mut self.conn
    }
}

impl<R> fmt::Debug for PooledConnection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("connection", &self.conn)
            .finish()
    }
}

/// A PostgreSQL connection of the blocking pool: the methods of
/// [`tidepool_async::Connection`], blocking.
///
/// Each method returns an error, instead of blocking, when called from a
/// thread that runs an async runtime.
///
/// `R` is its row factory, as for [`tidepool_async::Connection`].
pub struct Connection<R = TupleRow> {
    inner: tidepool_async::PooledConnection<R>,
    blocker: Blocker,
}

impl<R: RowFactory> Connection<R> {
    /// Runs a statement and returns its rows, built by the connection's
    /// row factory.
    ///
    /// # Errors
    ///
    /// The server's error, a connection error, the factory's error
    /// ([`Error::is_row`]), or an error when called inside an async
    /// runtime.
    pub fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<R::Output>, Error> {
        self.blocker
            .block_on("Connection::query", self.inner.query(sql, params))
    }

    /// Runs a statement that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As [`query`](Connection::query), and an error when the statement
    /// returns no row or more than one.
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<R::Output, Error> {
        self.blocker
            .block_on("Connection::query_one", self.inner.query_one(sql, params))
    }

    /// Runs a statement that returns at most one row.
    ///
    /// # Errors
    ///
    /// As [`query`](Connection::query), and an error when the statement
    /// returns more than one row.
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<R::Output>, Error> {
        self.blocker
            .block_on("Connection::query_opt", self.inner.query_opt(sql, params))
    }
}

impl<R> Connection<R> {
    /// Runs a statement and returns its rows, each built by `factory`
    /// instead of the connection's row factory.
    ///
    /// # Errors
    ///
    /// As for [`query`](Connection::query).
    pub fn query_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<F::Output>, Error> {
        self.blocker.block_on(
            "Connection::query_with",
            self.inner.query_with(factory, sql, params),
        )
    }

    /// Runs a statement that returns exactly one row, built by `factory`.
    ///
    /// # Errors
    ///
    /// As for [`query_one`](Connection::query_one).
    pub fn query_one_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<F::Output, Error> {
        self.blocker.block_on(
            "Connection::query_one_with",
            self.inner.query_one_with(factory, sql, params),
        )
    }

    /// Runs a statement that returns at most one row, built by `factory`.
    ///
    /// # Errors
    ///
    /// As for [`query_opt`](Connection::query_opt).
    pub fn query_opt_with<F: RowFactory + ?Sized>(
        &self,
        factory: &F,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<F::Output>, Error> {
        self.blocker.block_on(
            "Connection::query_opt_with",
            self.inner.query_opt_with(factory, sql, params),
        )
    }

    /// The row factory of [`query`](Connection::query) and its kin.
    pub fn row_factory(&self) -> &R {
        self.inner.row_factory()
    }

    /// Replaces the row factory with another of the same type.
    pub fn set_row_factory(&mut self, rows: R) {
        self.inner.set_row_factory(rows);
    }

    /// Runs a statement and returns the number of rows it changed.
    ///
    /// # Errors
    ///
    /// As for [`query`](Connection::query).
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.blocker
            .block_on("Connection::execute", self.inner.execute(sql, params))
    }

    /// Runs statements separated by semicolons, without parameters.
    ///
    /// # Errors
    ///
    /// The first statement's error; the statements after it do not run.
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.blocker
            .block_on("Connection::batch_execute", self.inner.batch_execute(sql))
    }

    /// Runs statements through the simple query protocol and returns their
    /// rows as text.
    ///
    /// # Errors
    ///
    /// As for [`batch_execute`](Connection::batch_execute).
    pub fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.blocker
            .block_on("Connection::simple_query", self.inner.simple_query(sql))
    }

    /// Begins a transaction, which commits only through
    /// [`Transaction::commit`] and rolls back when dropped any other way.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN`, or an error when called inside an
    /// async runtime.
    pub fn transaction(&mut self) -> Result<Transaction<'_, R>, Error>
    where
        R: Sync,
    {
        let Connection { inner, blocker } = self;
        let tx = blocker.block_on("Connection::transaction", inner.transaction())?;
        Ok(Transaction::new(tx, blocker))
    }

    /// Starts a pipeline, as [`tidepool_async::Connection::pipeline`].
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            inner: self.inner.pipeline(),
            blocker: &self.blocker,
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
            blocker: &self.blocker,
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
            blocker: &self.blocker,
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
            blocker: &self.blocker,
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
            blocker: &self.blocker,
        })
    }

    /// Runs `work` in a transaction: commits when it returns `Ok`, rolls
    /// back when it returns `Err` or panics.
    ///
    /// # Errors
    ///
    /// `work`'s error (after the rollback), or the server's error for
    /// `BEGIN` or `COMMIT`, converted into `E`.
    pub fn in_transaction<T, E>(
        &mut self,
        work: impl FnOnce(&Transaction<'_, R>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Error>,
        R: Sync,
    {
        let tx = self.transaction()?;
        match work(&tx) {
            Ok(value) => {
                tx.commit()?;
                Ok(value)
            }
            // Dropping the transaction queues its ROLLBACK.
            Err(error) => Err(error),
        }
    }

    /// Starts building a transaction with an isolation level, read-only or
    /// deferrable mode.
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_, R> {
        let Connection { inner, blocker } = self;
        TransactionBuilder::new(inner.build_transaction(), blocker)
    }

    /// The longest a statement on this connection may run before it is
    /// cancelled, as [`tidepool_async::Connection::query_timeout`].
    pub fn query_timeout(&self) -> Option<Duration> {
        self.inner.query_timeout()
    }

    /// Changes the query timeout of this connection until it is returned.
    pub fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_query_timeout(timeout);
    }

    /// How many statements this connection keeps prepared on the server.
    pub fn cached_statements(&self) -> usize {
        self.inner.cached_statements()
    }

    /// A token to cancel the statement running on this connection from
    /// another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.inner.cancel_token()
    }

    /// A number that tells this connection apart from every other
    /// connection opened by this process, as
    /// [`tidepool_async::Connection::id`].
    pub fn id(&self) -> u64 {
        self.inner.id()
    }

    /// Whether the connection to the server is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl<R> fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
