//! Blocking COPY.

use std::fmt;

use tidepool_async::{BinaryCopyOutRow, Error, ToSql};

use crate::pool::runtime::Blocker;

/// A blocking `COPY ... FROM STDIN (FORMAT binary)`, as
/// [`tidepool_async::CopyInWriter`]. Dropped without
/// [`finish`](CopyInWriter::finish), the copy is aborted.
#[must_use = "a copy that is not finished is aborted"]
pub struct CopyInWriter<'c> {
    pub(crate) inner: tidepool_async::CopyInWriter<'c>,
    pub(crate) blocker: &'c Blocker,
}

impl CopyInWriter<'_> {
    /// Writes one row, its values in column order and of the declared
    /// types.
    ///
    /// # Errors
    ///
    /// A value that does not fit its type, the server's error, or an error
    /// when called inside a pool callback.
    pub fn write_row(&mut self, values: &[&(dyn ToSql + Sync)]) -> Result<(), Error> {
        self.blocker
            .block_on("CopyInWriter::write_row", self.inner.write_row(values))
    }

    /// Ends the copy and returns how many rows it wrote.
    ///
    /// # Errors
    ///
    /// The server's error (nothing was copied), or an error when called
    /// inside a pool callback.
    pub fn finish(self) -> Result<u64, Error> {
        self.blocker
            .block_on("CopyInWriter::finish", self.inner.finish())
    }
}

/// A blocking `COPY ... FROM STDIN` fed raw bytes, as
/// [`tidepool_async::CopyIn`].
#[must_use = "a copy that is not finished is aborted"]
pub struct CopyIn<'c> {
    pub(crate) inner: tidepool_async::CopyIn<'c>,
    pub(crate) blocker: &'c Blocker,
}

impl CopyIn<'_> {
    /// Sends the next bytes of the copy's data.
    ///
    /// # Errors
    ///
    /// The connection's error, or an error when called inside a pool
    /// callback.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.blocker
            .block_on("CopyIn::write", self.inner.write(data))
    }

    /// Ends the copy and returns how many rows it wrote.
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback.
    pub fn finish(self) -> Result<u64, Error> {
        self.blocker.block_on("CopyIn::finish", self.inner.finish())
    }
}

/// A blocking `COPY ... TO STDOUT` read as raw chunks, as
/// [`tidepool_async::CopyOut`].
pub struct CopyOut<'c> {
    pub(crate) inner: tidepool_async::CopyOut<'c>,
    pub(crate) blocker: &'c Blocker,
}

impl CopyOut<'_> {
    /// The next chunk of data, or `None` at the end.
    ///
    /// # Errors
    ///
    /// The server's error, or an error when called inside a pool callback.
    pub fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, Error> {
        self.blocker
            .block_on("CopyOut::next_chunk", self.inner.next_chunk())
    }
}

/// A blocking `COPY ... TO STDOUT (FORMAT binary)` read a row at a time, as
/// [`tidepool_async::CopyOutRows`]; also an iterator of rows.
pub struct CopyOutRows<'c> {
    pub(crate) inner: tidepool_async::CopyOutRows<'c>,
    pub(crate) blocker: &'c Blocker,
}

impl CopyOutRows<'_> {
    /// The next row, or `None` at the end.
    ///
    /// # Errors
    ///
    /// The server's error, data that does not match the declared types, or
    /// an error when called inside a pool callback.
    pub fn next_row(&mut self) -> Result<Option<BinaryCopyOutRow>, Error> {
        self.blocker
            .block_on("CopyOutRows::next_row", self.inner.next_row())
    }
}

impl Iterator for CopyOutRows<'_> {
    type Item = Result<BinaryCopyOutRow, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
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
