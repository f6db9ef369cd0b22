//! `WITH HOLD` cursors: large results read in chunks outside a
//! transaction, across statements.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::types::ToSql;

use crate::error::Error;
use crate::rows::{RowFactory, TupleRow};
use crate::session::connection::Connection;

/// A `WITH HOLD` cursor: the result of a statement, kept by the server
/// after the statement's (implicit) transaction ends, and read a chunk at a
/// time while the connection runs other statements. Open one with
/// [`Connection::cursor_with_hold`].
///
/// The server computes the whole result when the cursor is declared (so
/// that it outlives the transaction) and keeps it until the cursor is
/// closed: by [`close`](HoldCursor::close), or at the latest when the
/// connection goes back to the pool, which closes every cursor.
///
/// Its rows are built by the connection's row factory `R`.
pub struct HoldCursor<'c, R = TupleRow> {
    conn: &'c Connection<R>,
    name: String,
    exhausted: bool,
}

impl<R> Connection<R> {
    /// Declares a `WITH HOLD` cursor over the result of a statement, to
    /// read it in chunks ([`HoldCursor::fetch`]) outside a transaction.
    /// Inside a transaction, [`Transaction::cursor`](crate::Transaction::cursor)
    /// is lighter.
    ///
    /// # Errors
    ///
    /// The server's error for the statement; a configuration error behind
    /// a transaction pooler ([`PoolBuilder::pgbouncer`](crate::PoolBuilder::pgbouncer)),
    /// which does not keep a session's cursors between transactions.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the connection to be reset by the pool,
    /// which closes the cursor if it was declared.
    pub async fn cursor_with_hold(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<HoldCursor<'_, R>, Error> {
        if self.session().tracker.behind_pooler() {
            return Err(Error::config(
                "a WITH HOLD cursor is session state, which a transaction pooler \
                 (pgbouncer) does not keep between transactions; read the result in a \
                 transaction with Transaction::cursor instead",
            ));
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("tidepool_held_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.session().tracker.cursor_held();
        self.session()
            .execute(
                &format!("DECLARE {name} NO SCROLL CURSOR WITH HOLD FOR {sql}"),
                params,
            )
            .await?;
        Ok(HoldCursor {
            conn: self,
            name,
            exhausted: false,
        })
    }
}

impl<R> HoldCursor<'_, R> {
    /// Whether the last chunk was read.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// Closes the cursor on the server, freeing its result.
    ///
    /// # Errors
    ///
    /// The server's error.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the pool closes the cursor when the
    /// connection comes back.
    pub async fn close(self) -> Result<(), Error> {
        self.conn
            .session()
            .batch_execute(&format!("CLOSE {}", self.name))
            .await
    }
}

impl<R: RowFactory> HoldCursor<'_, R> {
    /// Reads the next `max_rows` rows (fewer at the end); an empty chunk
    /// means the result is exhausted.
    ///
    /// # Errors
    ///
    /// The server's error, or the row factory's ([`Error::is_row`]).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the connection to be reset by the pool.
    pub async fn fetch(&mut self, max_rows: u32) -> Result<Vec<R::Output>, Error> {
        if self.exhausted {
            return Ok(Vec::new());
        }
        let limit = i32::try_from(max_rows.max(1)).unwrap_or(i32::MAX);
        let rows = self
            .conn
            .session()
            .query(&format!("FETCH FORWARD {limit} FROM {}", self.name), &[])
            .await?;
        if rows.len() < limit as usize {
            self.exhausted = true;
        }
        self.conn.row_factory().make_all(rows).map_err(Error::row)
    }
}

impl<R> fmt::Debug for HoldCursor<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HoldCursor")
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}
