//! How a manager asks its pool to look at the idle connections now.

use std::fmt;
use std::sync::Weak;
use std::sync::atomic::Ordering::Relaxed;

use crate::books::Books;

/// Asks a pool to close, soon and in the background, the idle connections
/// its [`Manager`](crate::Manager) now calls broken
/// ([`is_broken`](crate::Manager::is_broken)): for a connection that
/// learns it is unusable while it sits idle (a server that reported a
/// change of role, say), which would otherwise wait for its next checkout
/// or the periodic sweep. The pool refills to `min_size` as usual.
///
/// The pool gives one to its manager when it is built
/// ([`Manager::attach`](crate::Manager::attach)). It does not keep the
/// pool alive: once the pool is gone, asking does nothing. Cheap to clone.
#[derive(Clone)]
pub struct Sweeper {
    books: Weak<Books>,
}

impl Sweeper {
    pub(crate) fn new(books: Weak<Books>) -> Self {
        Self { books }
    }

    /// Asks for a sweep of the idle connections; returns at once.
    pub fn sweep_soon(&self) {
        if let Some(books) = self.books.upgrade() {
            books.sweep_requested.store(true, Relaxed);
            books.wake.notify_one();
        }
    }
}

impl fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sweeper").finish_non_exhaustive()
    }
}
