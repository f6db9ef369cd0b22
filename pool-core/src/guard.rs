//! The guard of a checked-out connection.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use deadpool::unmanaged::Object;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::Secs;
use crate::inner::PoolInner;
use crate::manager::Manager;
use crate::slot::{IdleObject, Slot};

/// A connection checked out of a [`Pool`](crate::Pool).
///
/// It dereferences to the connection and goes back to the pool when
/// dropped. Its own operations are associated functions
/// ([`Pooled::detach`]), so they never shadow the connection's methods.
#[must_use = "dropping the guard returns the connection to the pool at once"]
pub struct Pooled<M: Manager> {
    /// Always `Some` until the guard is dropped or detached.
    object: Option<IdleObject<M::Connection>>,
    /// The pool's state: held, so that the return costs no more than
    /// letting it go (the pool may have closed meanwhile; the connection
    /// then closes).
    pool: Arc<PoolInner<M>>,
    checked_out_at: Instant,
    /// The timer of `leak_detection_threshold`, when it is set.
    leak_watch: Option<AbortHandle>,
}

impl<M: Manager> Pooled<M> {
    pub(crate) fn new(
        object: IdleObject<M::Connection>,
        pool: Arc<PoolInner<M>>,
        checked_out_at: Instant,
        leak_watch: Option<AbortHandle>,
    ) -> Self {
        let books = object.size.books();
        books.metrics.checked_out();
        books.in_use.bump();
        Self {
            object: Some(object),
            pool,
            checked_out_at,
            leak_watch,
        }
    }

    /// Books the end of the checkout, by a return or a detach: the gauges,
    /// and the leak timer, which is stopped, or, if it already warned and
    /// the connection is `returned`, told that it came back after all.
    fn check_in(&mut self, object: &IdleObject<M::Connection>, returned: bool) {
        let books = object.size.books();
        books.metrics.checked_in();
        books.in_use.drop_one();
        if let Some(watch) = self.leak_watch.take() {
            if returned && watch.is_finished() {
                tracing::info!(
                    pool = %books.name,
                    held_ms = self.checked_out_at.elapsed().as_secs_f64() * 1000.0,
                    "a connection reported as possibly leaked came back after {}",
                    Secs(self.checked_out_at.elapsed()),
                );
            } else {
                watch.abort();
            }
        }
    }

    fn object(&self) -> &IdleObject<M::Connection> {
        // Invariant: `object` is only taken in `detach` and `drop`, which
        // consume the guard.
        self.object
            .as_ref()
            .expect("a live guard holds its connection")
    }

    /// Takes the connection out of the pool for good. The pool's size goes
    /// down by one, and the pool opens a replacement if it falls below
    /// `min_size`.
    pub fn detach(mut this: Self) -> M::Connection {
        let object = this
            .object
            .take()
            .expect("a live guard holds its connection");
        this.check_in(&object, false);
        let slot = Object::take(object);
        let Slot { conn, .. } = *slot;
        conn
    }

    /// How long ago the connection was opened.
    pub fn age(this: &Self) -> Duration {
        this.object().created_at.elapsed()
    }

    /// How long ago the connection was checked out.
    pub fn held_for(this: &Self) -> Duration {
        this.checked_out_at.elapsed()
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Connection;

    fn deref(&self) -> &M::Connection {
        &self.object().conn
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    fn deref_mut(&mut self) -> &mut M::Connection {
        // Invariant: see `object`.
        &mut self
            .object
            .as_mut()
            .expect("a live guard holds its connection")
            .conn
    }
}

impl<M: Manager> Drop for Pooled<M> {
    fn drop(&mut self) {
        let Some(object) = self.object.take() else {
            return;
        };
        self.check_in(&object, true);
        self.pool.put_back(object, self.checked_out_at);
    }
}

impl<M: Manager> fmt::Debug for Pooled<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("age", &self.object.as_ref().map(|o| o.created_at.elapsed()))
            .field("held_for", &self.checked_out_at.elapsed())
            .finish_non_exhaustive()
    }
}
