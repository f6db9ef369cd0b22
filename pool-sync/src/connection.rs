//! The blocking connection and its guard.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use tidepool_async::tokio_postgres::CancelToken;
use tidepool_async::{Error, Row, SimpleQueryMessage, ToSql, Type};

use crate::copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
use crate::pipeline::Pipeline;
use crate::runtime::Blocker;
use crate::transaction::{Transaction, TransactionBuilder};

/// A connection checked out of a blocking [`Pool`](crate::Pool).
///
/// It dereferences to a [`Connection`] and goes back to the pool when
/// dropped, rolled back first if it was left inside a transaction.
#[must_use = "dropping the guard returns the connection to the pool at once"]
pub struct PooledConnection {
    conn: Connection,
}

impl PooledConnection {
    pub(crate) fn new(inner: tidepool_async::PooledConnection, blocker: Blocker) -> Self {
        Self {
            conn: Connection { inner, blocker },
        }
    }
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl fmt::Debug for PooledConnection {
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
pub struct Connection {
    inner: tidepool_async::PooledConnection,
    blocker: Blocker,
}

impl Connection {
    /// Runs a statement and returns its rows.
    ///
    /// # Errors
    ///
    /// The server's error, a connection error, or an error when called
    /// inside an async runtime.
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.blocker
            .block_on("Connection::query", self.inner.query(sql, params))
    }

    /// Runs a statement that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As [`query`](Connection::query), and an error when the statement
    /// returns no row or more than one.
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
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
    ) -> Result<Option<Row>, Error> {
        self.blocker
            .block_on("Connection::query_opt", self.inner.query_opt(sql, params))
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
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
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
        work: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Error>,
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
    pub fn build_transaction(&mut self) -> TransactionBuilder<'_> {
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

    /// Whether the connection to the server is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
