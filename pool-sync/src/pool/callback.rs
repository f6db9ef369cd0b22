//! The connection handed to the blocking pool's callbacks.

use std::fmt;
use std::sync::Arc;

use tidepool_async::{Error, HookFuture, Row, ToSql};
use tokio::runtime::Handle;

/// A connection lent to a callback of the blocking pool
/// ([`PoolBuilder::configure`](crate::PoolBuilder::configure),
/// [`check`](crate::PoolBuilder::check), [`reset`](crate::PoolBuilder::reset)),
/// with blocking methods.
pub struct CallbackConnection<'a> {
    conn: &'a mut tidepool_async::Connection,
    handle: Handle,
}

impl CallbackConnection<'_> {
    /// Runs a statement and returns its rows.
    ///
    /// # Errors
    ///
    /// The server's error, or a connection error.
    pub fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        self.handle.block_on(self.conn.query(sql, params))
    }

    /// Runs a statement that returns exactly one row.
    ///
    /// # Errors
    ///
    /// As [`query`](CallbackConnection::query), and an error when the
    /// statement returns no row or more than one.
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.handle.block_on(self.conn.query_one(sql, params))
    }

    /// Runs a statement and returns the number of rows it changed.
    ///
    /// # Errors
    ///
    /// As for [`query`](CallbackConnection::query).
    pub fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        self.handle.block_on(self.conn.execute(sql, params))
    }

    /// Runs statements separated by semicolons, without parameters.
    ///
    /// # Errors
    ///
    /// The first statement's error.
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.handle.block_on(self.conn.batch_execute(sql))
    }
}

impl fmt::Debug for CallbackConnection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackConnection")
            .field("connection", &*self.conn)
            .finish()
    }
}

/// A blocking callback as the async pool takes it.
pub(crate) type SyncCallback =
    Arc<dyn Fn(&mut CallbackConnection<'_>) -> Result<(), Error> + Send + Sync>;

/// Wraps a blocking callback for the async pool: it runs on the pool's own
/// runtime, on a thread allowed to block.
pub(crate) fn to_async(
    callback: SyncCallback,
) -> impl for<'a> Fn(&'a mut tidepool_async::Connection) -> HookFuture<'a> + Send + Sync + 'static {
    move |conn| {
        let callback = Arc::clone(&callback);
        Box::pin(async move {
            tokio::task::block_in_place(|| {
                let mut conn = CallbackConnection {
                    conn,
                    handle: Handle::current(),
                };
                callback(&mut conn)
            })
        })
    }
}
