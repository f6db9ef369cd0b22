//! COPY: rows or bytes into and out of the server, streamed.

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutRow, BinaryCopyOutStream};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, CopyInSink, CopyOutStream};

use crate::error::Error;
use crate::session::execute::{Session, lock};
use crate::session::tracker::Tracker;

impl<'c> Session<'c> {
    /// Starts `COPY ... FROM STDIN (FORMAT binary)`, rows written with
    /// their declared column types.
    pub(crate) async fn copy_in_rows(
        &self,
        sql: &str,
        types: &[Type],
    ) -> Result<CopyInWriter<'c>, Error> {
        let (sink, own) = self.start_copy_in(sql).await?;
        Ok(CopyInWriter {
            writer: Box::pin(BinaryCopyInWriter::new(sink, types)),
            tracker: self.tracker,
            own,
        })
    }

    /// Starts `COPY ... FROM STDIN`, fed raw bytes in the statement's format.
    pub(crate) async fn copy_in(&self, sql: &str) -> Result<CopyIn<'c>, Error> {
        let (sink, own) = self.start_copy_in(sql).await?;
        Ok(CopyIn {
            sink: Box::pin(sink),
            tracker: self.tracker,
            own,
        })
    }

    /// Starts `COPY ... TO STDOUT`, read as raw bytes.
    pub(crate) async fn copy_out(&self, sql: &str) -> Result<CopyOut<'c>, Error> {
        let (stream, own) = self.start_copy_out(sql).await?;
        Ok(CopyOut {
            stream: Box::pin(stream),
            tracker: Some(self.tracker),
            own,
        })
    }

    /// Starts `COPY ... TO STDOUT (FORMAT binary)`, read as rows of the
    /// declared column types.
    pub(crate) async fn copy_out_rows(
        &self,
        sql: &str,
        types: &[Type],
    ) -> Result<CopyOutRows<'c>, Error> {
        let (stream, own) = self.start_copy_out(sql).await?;
        Ok(CopyOutRows {
            stream: Box::pin(BinaryCopyOutStream::new(stream, types)),
            tracker: Some(self.tracker),
            own,
        })
    }

    async fn start_copy_in(
        &self,
        sql: &str,
    ) -> Result<(CopyInSink<Bytes>, Option<OwnTransaction<'c>>), Error> {
        self.tracker.statement(sql);
        self.begin_now().await?;
        let (own, pgbouncer) = self.own_transaction().await?;
        let copy = || {
            self.tracker
                .run_naming(|| self.client.copy_in(sql), pgbouncer)
        };
        let sink = match self.tracker.traced(sql, copy).await {
            Ok(sink) => sink,
            Err(error) => return Err(OwnTransaction::abort(own, error).await),
        };
        // In flight until finished: a copy dropped half-way is reset.
        self.tracker.begin();
        Ok((sink, own))
    }

    async fn start_copy_out(
        &self,
        sql: &str,
    ) -> Result<(CopyOutStream, Option<OwnTransaction<'c>>), Error> {
        self.tracker.statement(sql);
        self.begin_now().await?;
        let (own, pgbouncer) = self.own_transaction().await?;
        let copy = || {
            self.tracker
                .run_naming(|| self.client.copy_out(sql), pgbouncer)
        };
        let stream = match self.tracker.traced(sql, copy).await {
            Ok(stream) => stream,
            Err(error) => return Err(OwnTransaction::abort(own, error).await),
        };
        self.tracker.begin();
        Ok((stream, own))
    }

    /// tokio-postgres prepares a COPY as a named statement, then runs it:
    /// behind a transaction pooler the two must share a transaction, or
    /// they may reach different server connections. Outside a transaction
    /// such a pool opens one for the copy. Also says whether the pool is
    /// behind a transaction pooler.
    async fn own_transaction(&self) -> Result<(Option<OwnTransaction<'c>>, bool), Error> {
        let pgbouncer = lock(self.cache).settings().pgbouncer;
        if !pgbouncer || !self.tracker.is_outside_transactions() {
            return Ok((None, pgbouncer));
        }
        self.tracker
            .run(|| self.client.batch_execute("BEGIN"))
            .await?;
        // Counted as a transaction guard: a copy dropped half-way leaves the
        // connection to be rolled back by the pool.
        self.tracker.transaction_opened();
        let own = OwnTransaction {
            client: self.client,
            tracker: self.tracker,
        };
        Ok((Some(own), pgbouncer))
    }
}

/// The transaction a copy opened for itself (see
/// [`Session::own_transaction`]).
struct OwnTransaction<'c> {
    client: &'c Client,
    tracker: &'c Tracker,
}

impl OwnTransaction<'_> {
    /// Commits the copy's transaction.
    async fn commit(self) -> Result<(), Error> {
        self.end("COMMIT").await
    }

    /// Rolls back the copy's transaction, if it had one, after `error`;
    /// returns `error`.
    async fn abort(own: Option<Self>, error: Error) -> Error {
        if let Some(own) = own {
            // A failed rollback leaves the transaction counted open, and
            // the pool resets the connection on return.
            let _ = own.end("ROLLBACK").await;
        }
        error
    }

    async fn end(self, command: &str) -> Result<(), Error> {
        self.tracker
            .run(|| self.client.batch_execute(command))
            .await?;
        self.tracker.transaction_closed();
        Ok(())
    }
}

/// A `COPY ... FROM STDIN (FORMAT binary)` in progress, written a row at a
/// time and streamed to the server as it goes. Dropped without
/// [`finish`](CopyInWriter::finish), the copy is aborted.
#[must_use = "a copy that is not finished is aborted"]
pub struct CopyInWriter<'c> {
    writer: Pin<Box<BinaryCopyInWriter>>,
    tracker: &'c Tracker,
    own: Option<OwnTransaction<'c>>,
}

impl CopyInWriter<'_> {
    /// Writes one row, its values in column order and of the declared
    /// types.
    ///
    /// # Errors
    ///
    /// A value that does not fit its declared type, or the server's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the copy unfinished: drop the writer,
    /// and the pool resets the connection.
    pub async fn write_row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
        self.writer.as_mut().write(values).await.map_err(Error::db)
    }

    /// Ends the copy and returns how many rows it wrote.
    ///
    /// # Errors
    ///
    /// The server's error (a constraint violated, say): nothing was copied.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped the copy may or may not have completed,
    /// and the pool resets the connection.
    pub async fn finish(mut self) -> Result<u64, Error> {
        let rows = match self.writer.as_mut().finish().await {
            Ok(rows) => rows,
            Err(error) => return Err(OwnTransaction::abort(self.own, Error::db(error)).await),
        };
        self.tracker.end();
        if let Some(own) = self.own {
            own.commit().await?;
        }
        Ok(rows)
    }
}

/// A `COPY ... FROM STDIN` in progress, fed raw bytes (text, CSV or binary,
/// as the statement says). Dropped without [`finish`](CopyIn::finish), the
/// copy is aborted.
#[must_use = "a copy that is not finished is aborted"]
pub struct CopyIn<'c> {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    tracker: &'c Tracker,
    own: Option<OwnTransaction<'c>>,
}

impl CopyIn<'_> {
    /// Sends the next bytes of the copy's data.
    ///
    /// # Errors
    ///
    /// The connection's error.
    ///
    /// # Cancel safety
    ///
    /// As for [`CopyInWriter::write_row`].
    pub async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.sink
            .send(Bytes::copy_from_slice(data))
            .await
            .map_err(Error::db)
    }

    /// Ends the copy and returns how many rows it wrote.
    ///
    /// # Errors
    ///
    /// The server's error (malformed data, say): nothing was copied.
    ///
    /// # Cancel safety
    ///
    /// As for [`CopyInWriter::finish`].
    pub async fn finish(mut self) -> Result<u64, Error> {
        let rows = match self.sink.as_mut().finish().await {
            Ok(rows) => rows,
            Err(error) => return Err(OwnTransaction::abort(self.own, Error::db(error)).await),
        };
        self.tracker.end();
        if let Some(own) = self.own {
            own.commit().await?;
        }
        Ok(rows)
    }
}

/// The next item of a `COPY ... TO STDOUT`, chunk or row. An error aborts
/// the transaction opened for the COPY; at the end of the data, once, the
/// statement ends and that transaction commits.
async fn next_of<T, S>(
    mut stream: Pin<&mut S>,
    tracker: &mut Option<&Tracker>,
    own: &mut Option<OwnTransaction<'_>>,
) -> Result<Option<T>, Error>
where
    S: futures_util::Stream<Item = Result<T, tokio_postgres::Error>>,
{
    match stream.next().await {
        Some(Ok(item)) => Ok(Some(item)),
        Some(Err(error)) => Err(OwnTransaction::abort(own.take(), Error::db(error)).await),
        None => {
            if let Some(tracker) = tracker.take() {
                tracker.end();
            }
            if let Some(own) = own.take() {
                own.commit().await?;
            }
            Ok(None)
        }
    }
}

/// A `COPY ... TO STDOUT` in progress, read as raw chunks of bytes.
pub struct CopyOut<'c> {
    stream: Pin<Box<CopyOutStream>>,
    /// Until the end of the data.
    tracker: Option<&'c Tracker>,
    own: Option<OwnTransaction<'c>>,
}

impl CopyOut<'_> {
    /// The next chunk of data, or `None` at the end.
    ///
    /// # Errors
    ///
    /// The server's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (or the reader before the end) leaves the
    /// connection to be reset by the pool.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        next_of(self.stream.as_mut(), &mut self.tracker, &mut self.own).await
    }
}

/// A `COPY ... TO STDOUT (FORMAT binary)` in progress, read a row at a time.
pub struct CopyOutRows<'c> {
    stream: Pin<Box<BinaryCopyOutStream>>,
    tracker: Option<&'c Tracker>,
    own: Option<OwnTransaction<'c>>,
}

impl CopyOutRows<'_> {
    /// The next row, or `None` at the end; read its values with
    /// [`BinaryCopyOutRow::get`].
    ///
    /// # Errors
    ///
    /// The server's error, or data that does not match the declared types.
    ///
    /// # Cancel safety
    ///
    /// As for [`CopyOut::next_chunk`].
    pub async fn next_row(&mut self) -> Result<Option<BinaryCopyOutRow>, Error> {
        next_of(self.stream.as_mut(), &mut self.tracker, &mut self.own).await
    }
}

macro_rules! opaque_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(CopyInWriter, CopyIn, CopyOut, CopyOutRows);
