//! The guard of a connection checked out of the blocking pool.

use std::fmt;
use std::ops::{Deref, DerefMut};

use tidepool_async::{RowFactory, TupleRow};

use crate::pool::runtime::Blocker;
use crate::session::connection::Connection;

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
