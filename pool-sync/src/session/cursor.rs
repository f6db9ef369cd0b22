//! A server-side cursor of a blocking transaction.

use std::fmt;

use tidepool_async::{Error, RowFactory, TupleRow};

use crate::pool::runtime::Blocker;

/// A server-side cursor of a blocking transaction, as
/// [`tidepool_async::Cursor`].
pub struct Cursor<'t, R = TupleRow> {
    pub(crate) inner: tidepool_async::Cursor<'t, R>,
    pub(crate) blocker: &'t Blocker,
}

impl<R: RowFactory + Sync> Cursor<'_, R> {
    /// Reads the next `max_rows` rows (fewer at the end); an empty chunk
    /// means the result is exhausted.
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback.
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
