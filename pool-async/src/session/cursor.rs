//! Server-side cursors: large results read in chunks inside a transaction.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::types::ToSql;

use crate::error::Error;
use crate::rows::{RowFactory, TupleRow};
use crate::session::transaction::Transaction;

/// A server-side cursor over the result of a statement, read a chunk at a
/// time so that results too large for memory can be processed. It lives
/// inside its transaction, and closes with it.
///
/// Open one with [`Transaction::cursor`].
///
/// Its rows are built by the connection's row factory `R`.
///
/// It is an SQL cursor (`DECLARE ... NO SCROLL CURSOR`, read with
/// `FETCH`), whose statements run as any other (unnamed, or kept prepared
/// by the statement cache), so that it works the same behind a transaction
/// pooler.
pub struct Cursor<'t, R = TupleRow> {
    tx: &'t Transaction<'t, R>,
    name: String,
    exhausted: bool,
}

impl<'t, R: Sync> Cursor<'t, R> {
    pub(crate) async fn open(
        tx: &'t Transaction<'t, R>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Self, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("tidepool_cursor_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        tx.session()
            .execute(
                &format!("DECLARE {name} NO SCROLL CURSOR FOR {sql}"),
                params,
            )
            .await?;
        Ok(Self {
            tx,
            name,
            exhausted: false,
        })
    }

    /// Whether the last chunk was read.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }
}

impl<R: RowFactory + Sync> Cursor<'_, R> {
    /// Reads the next `max_rows` rows (fewer at the end); an empty chunk
    /// means the result is exhausted.
    ///
    /// # Errors
    ///
    /// The server's error (the transaction is then aborted), or the row
    /// factory's ([`Error::is_row`]).
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
            .tx
            .session()
            .query(&format!("FETCH FORWARD {limit} FROM {}", self.name), &[])
            .await?;
        if rows.len() < limit as usize {
            self.exhausted = true;
        }
        self.tx.row_factory().make_all(rows).map_err(Error::row)
    }
}

impl<R> fmt::Debug for Cursor<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}

impl<'a, R: Sync> Transaction<'a, R> {
    /// Opens a server-side cursor over the result of a statement, to read
    /// it in chunks ([`Cursor::fetch`]) instead of all at once.
    ///
    /// # Errors
    ///
    /// The server's error for the statement.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the connection to be reset by the pool.
    pub async fn cursor<'t>(
        &'t self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Cursor<'t, R>, Error> {
        Cursor::open(self, sql, params).await
    }
}
