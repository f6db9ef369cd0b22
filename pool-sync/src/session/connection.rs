//! The blocking connection.

use std::fmt;
use std::time::Duration;

use tidepool_async::tokio_postgres::CancelToken;
use tidepool_async::{Error, RowFactory, SimpleQueryMessage, ToSql, TupleRow, Type};

use crate::pool::runtime::Blocker;
use crate::session::transaction::{Transaction, TransactionBuilder};

/// A PostgreSQL connection of the blocking pool: the methods of
/// [`tidepool_async::Connection`], blocking.
///
/// Its methods work from any thread, as those of [`Pool`](crate::Pool) do.
///
/// `R` is its row factory, as for [`tidepool_async::Connection`].
pub struct Connection<R = TupleRow> {
    pub(crate) inner: tidepool_async::PooledConnection<R>,
    pub(crate) blocker: Blocker,
}

impl<R: RowFactory> Connection<R> {
    crate::session::methods::blocking_factory_queries!("Connection");
}

impl<R> Connection<R> {
    crate::session::methods::blocking_statement_methods!("Connection");

    /// The row factory of [`query`](Connection::query) and its kin.
    pub fn row_factory(&self) -> &R {
        self.inner.row_factory()
    }

    /// Replaces the row factory with another of the same type.
    pub fn set_row_factory(&mut self, rows: R) {
        self.inner.set_row_factory(rows);
    }

    /// Begins a transaction, which commits only through
    /// [`Transaction::commit`] and rolls back when dropped any other way.
    ///
    /// # Errors
    ///
    /// The server's error for `BEGIN`, or an error when called inside a
    /// pool callback.
    pub fn transaction(&mut self) -> Result<Transaction<'_, R>, Error>
    where
        R: Sync,
    {
        let Connection { inner, blocker } = self;
        let tx = blocker.block_on("Connection::transaction", inner.transaction())?;
        Ok(Transaction::new(tx, blocker))
    }

    /// Runs `work` in a transaction: commits when it returns `Ok`, rolls
    /// back when it returns `Err` or panics.
    ///
    /// # Errors
    ///
    /// `work`'s error (after the rollback), or the server's error for
    /// `COMMIT`, converted into `E`. `BEGIN` is sent with the first
    /// statement of `work`, which fails with its error if it fails.
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

    /// What this connection's statement cache has done, as
    /// [`tidepool_async::Connection::statement_cache_stats`].
    pub fn statement_cache_stats(&self) -> tidepool_async::StatementCacheStats {
        self.inner.statement_cache_stats()
    }

    /// Forgets the statements this connection keeps prepared, closing them
    /// on the server.
    pub fn clear_statement_cache(&self) {
        self.inner.clear_statement_cache();
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

    /// The server this connection reached, as
    /// [`tidepool_async::Connection::server`].
    pub fn server(&self) -> &str {
        self.inner.server()
    }
}

impl<R> fmt::Debug for Connection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
