//! The guard of a checked-out connection.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use tidepool_core::Pooled;

use crate::connection::Connection;
use crate::manager::PgManager;

/// A connection checked out of a [`Pool`](crate::Pool).
///
/// It dereferences to a [`Connection`] and goes back to the pool when
/// dropped; if it is returned inside a transaction or with a statement
/// still running, the pool rolls it back (in the background) before anyone
/// else gets it, or closes it. Its own operations are associated
/// functions, so they never shadow the connection's methods.
#[must_use = "dropping the guard returns the connection to the pool at once"]
pub struct PooledConnection {
    inner: Pooled<PgManager>,
}

impl PooledConnection {
    pub(crate) fn new(inner: Pooled<PgManager>) -> Self {
        Self { inner }
    }

    /// Takes the connection out of the pool for good; the pool opens a
    /// replacement if it falls below `min_size`.
    pub fn detach(this: Self) -> Connection {
        Pooled::detach(this.inner)
    }

    /// How long ago the connection was opened.
    pub fn age(this: &Self) -> Duration {
        Pooled::age(&this.inner)
    }

    /// How long ago the connection was checked out.
    pub fn held_for(this: &Self) -> Duration {
        Pooled::held_for(&this.inner)
    }
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.inner
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.inner
    }
}

impl fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("connection", &*self.inner)
            .field("held_for", &Pooled::held_for(&self.inner))
            .finish()
    }
}
