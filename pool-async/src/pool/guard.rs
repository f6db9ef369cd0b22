//! The guard of a checked-out connection.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use tidepool_core::Pooled;

use crate::pool::manager::PgManager;
use crate::rows::{RowFactory, TupleRow};
use crate::session::connection::Connection;

/// A connection checked out of a [`Pool`](crate::Pool).
///
/// It dereferences to a [`Connection`] and goes back to the pool when
/// dropped; if it is returned inside a transaction or with a statement
/// still running, the pool rolls it back (in the background) before anyone
/// else gets it, or closes it. Its own operations are associated
/// functions, so they never shadow the connection's methods.
///
/// `R` is the connection's row factory: the pool's, or the one given to
/// [`with_row_factory`](PooledConnection::with_row_factory).
#[must_use = "dropping the guard returns the connection to the pool at once"]
pub struct PooledConnection<R = TupleRow> {
    /// Always `Some` until the guard is dropped or detached.
    checkout: Option<Checkout<R>>,
}

/// The connection, taken out of its slot in the pool for the checkout,
/// and the slot it goes back to.
struct Checkout<R> {
    conn: Connection<R>,
    slot: Pooled<PgManager>,
}

impl<R> PooledConnection<R> {
    /// Takes the connection out of its slot, giving it the row factory.
    pub(crate) fn new(mut slot: Pooled<PgManager>, rows: R) -> Self {
        // Invariant: a slot is empty only while its connection is checked
        // out, and the pool hands out each slot to one guard at a time.
        let conn = slot.take().expect("an idle slot holds its connection");
        Self {
            checkout: Some(Checkout {
                conn: conn.switch_rows(rows).0,
                slot,
            }),
        }
    }

    fn checkout(&self) -> &Checkout<R> {
        // Invariant: `checkout` is `Some` until `detach` or `drop`, which
        // consume the guard.
        self.checkout
            .as_ref()
            .expect("a live guard holds its connection")
    }

    fn into_checkout(mut this: Self) -> Checkout<R> {
        // Invariant: as in `checkout`.
        this.checkout
            .take()
            .expect("a live guard holds its connection")
    }

    /// Takes the connection out of the pool for good; the pool opens a
    /// replacement if it falls below `min_size`.
    pub fn detach(this: Self) -> Connection<R> {
        let Checkout { conn, slot } = Self::into_checkout(this);
        drop(Pooled::detach(slot));
        conn
    }

    /// The same checkout with another row factory: the connection's
    /// queries then return `F::Output`. The connection goes back to the
    /// pool as usual, and the next user gets the pool's factory.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tidepool_async::Pool) -> Result<(), tidepool_async::Error> {
    /// use tidepool_async::{DictRow, PooledConnection};
    ///
    /// let conn = PooledConnection::with_row_factory(pool.get().await?, DictRow);
    /// for row in conn.query("SELECT id, name FROM users", &[]).await? {
    ///     println!("{:?} {:?}", row.get("id"), row.get("name"));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn with_row_factory<F: RowFactory>(this: Self, rows: F) -> PooledConnection<F> {
        let Checkout { conn, slot } = Self::into_checkout(this);
        PooledConnection {
            checkout: Some(Checkout {
                conn: conn.switch_rows(rows).0,
                slot,
            }),
        }
    }

    /// How long ago the connection was opened.
    pub fn age(this: &Self) -> Duration {
        Pooled::age(&this.checkout().slot)
    }

    /// How long ago the connection was checked out.
    pub fn held_for(this: &Self) -> Duration {
        Pooled::held_for(&this.checkout().slot)
    }
}

impl<R> Drop for PooledConnection<R> {
    fn drop(&mut self) {
        if let Some(Checkout { conn, mut slot }) = self.checkout.take() {
            // Back into its slot, with the pool's plain rows; the slot then
            // goes back to the pool.
            slot.put_back(conn.switch_rows(TupleRow).0);
        }
    }
}

impl<R> Deref for PooledConnection<R> {
    type Target = Connection<R>;

    fn deref(&self) -> &Connection<R> {
        &self.checkout().conn
    }
}

impl<R> DerefMut for PooledConnection<R> {
    fn deref_mut(&mut self) -> &mut Connection<R> {
        // Invariant: as in `checkout`.
        &mut self
            .checkout
            .as_mut()
            .expect("a live guard holds its connection")
            .conn
    }
}

impl<R> fmt::Debug for PooledConnection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checkout = self.checkout();
        f.debug_struct("PooledConnection")
            .field("connection", &checkout.conn)
            .field("held_for", &Pooled::held_for(&checkout.slot))
            .finish()
    }
}
