//! Server-side cursors of the blocking pool: in a transaction, and
//! `WITH HOLD` outside one.

use std::fmt;

use tidepool_async::{Error, RowFactory, ToSql, TupleRow};

use crate::pool::runtime::Blocker;
use crate::session::connection::Connection;

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

/// A `WITH HOLD` cursor of a blocking connection, as
/// [`tidepool_async::HoldCursor`]: read across statements outside a
/// transaction, closed by [`close`](HoldCursor::close) or at the latest
/// when the connection goes back to the pool.
pub struct HoldCursor<'c, R = TupleRow> {
    inner: tidepool_async::HoldCursor<'c, R>,
    blocker: &'c Blocker,
}

impl<R> Connection<R> {
    /// Declares a `WITH HOLD` cursor over the result of a statement, as
    /// [`tidepool_async::Connection::cursor_with_hold`].
    ///
    /// # Errors
    ///
    /// As there, or an error when called inside a pool callback.
    pub fn cursor_with_hold(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<HoldCursor<'_, R>, Error> {
        let inner = self.blocker.block_on(
            "Connection::cursor_with_hold",
            self.inner.cursor_with_hold(sql, params),
        )?;
        Ok(HoldCursor {
            inner,
            blocker: &self.blocker,
        })
    }
}

impl<R> HoldCursor<'_, R> {
    /// Whether the last chunk was read.
    pub fn is_exhausted(&self) -> bool {
        self.inner.is_exhausted()
    }

    /// Closes the cursor on the server.
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback.
    pub fn close(self) -> Result<(), Error> {
        self.blocker
            .block_on("HoldCursor::close", self.inner.close())
    }
}

impl<R: RowFactory> HoldCursor<'_, R> {
    /// Reads the next `max_rows` rows (fewer at the end).
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback.
    pub fn fetch(&mut self, max_rows: u32) -> Result<Vec<R::Output>, Error> {
        self.blocker
            .block_on("HoldCursor::fetch", self.inner.fetch(max_rows))
    }
}

impl<R> fmt::Debug for HoldCursor<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
