//! The blocking handle over a primary and its standbys.

use std::fmt;
use std::time::Duration;

use tidepool_async::{Error, ReplicaSetStats};

use crate::pool::builder::PoolBuilder;
use crate::pool::guard::PooledConnection;
use crate::pool::handle::Pool;
use crate::pool::runtime::Blocker;

/// Two blocking pools over the same hosts (a primary and its streaming
/// standbys), as [`tidepool_async::ReplicaSet`]:
/// [`write`](ReplicaSet::write) checks out of a pool with
/// `target_session_attrs=read-write`, [`read`](ReplicaSet::read) out of
/// one with `target_session_attrs=prefer-standby` (a standby while one is
/// up, else the primary). Each pool follows a failover by itself.
///
/// With [`max_lag`](ReplicaSetBuilder::max_lag), a read whose standby is
/// further behind than that is served by the write pool instead.
///
/// Both pools share one set of background threads. Clone it to share it
/// between threads; clones use the same pools. Its methods work where the
/// blocking [`Pool`]'s do.
///
/// # Examples
///
/// ```no_run
/// # fn demo() -> Result<(), tidepool_sync::Error> {
/// use std::time::Duration;
/// use tidepool_sync::ReplicaSet;
///
/// let db = ReplicaSet::builder("postgresql://app@db1,db2,db3/app")
///     .write(|pool| pool.max_size(8))
///     .read(|pool| pool.max_size(32))
///     .max_lag(Some(Duration::from_secs(2)))
///     .build()?;
/// db.write()?.execute("INSERT INTO events (kind) VALUES ('signup')", &[])?;
/// let rows = db.read()?.query("SELECT kind FROM events", &[])?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReplicaSet {
    inner: tidepool_async::ReplicaSet,
    writer: Pool,
    reader: Pool,
    blocker: Blocker,
}

/// Builds a blocking [`ReplicaSet`]; start from [`ReplicaSet::builder`].
pub struct ReplicaSetBuilder {
    writer: PoolBuilder,
    reader: PoolBuilder,
    max_lag: Option<Duration>,
}

impl ReplicaSet {
    /// Starts building the two pools for a libpq connection string naming
    /// the primary and its standbys, as
    /// [`tidepool_async::ReplicaSet::builder`]: the string's own
    /// `target_session_attrs`, if any, is replaced by `read-write` for the
    /// write pool and `prefer-standby` for the read pool.
    pub fn builder(dsn: &str) -> ReplicaSetBuilder {
        let (writer, reader, max_lag) = tidepool_async::ReplicaSet::builder(dsn).into_parts();
        ReplicaSetBuilder {
            writer: PoolBuilder::new(writer),
            reader: PoolBuilder::new(reader),
            max_lag,
        }
    }

    /// Checks out a connection to the primary (a read-write server),
    /// blocking at most the write pool's `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`]; while no host is a read-write server (during a
    /// failover), the checkout waits for one within the pool's `timeout`.
    pub fn write(&self) -> Result<PooledConnection, Error> {
        let conn = self
            .blocker
            .block_on("ReplicaSet::write", self.inner.write())?;
        Ok(PooledConnection::new(conn, self.blocker.clone()))
    }

    /// Checks out a connection for reading: to a standby while one is up,
    /// else to the primary. With `max_lag`, a standby further behind than
    /// that is given back and the write pool serves the read.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`], and the error of the lag query.
    pub fn read(&self) -> Result<PooledConnection, Error> {
        let conn = self
            .blocker
            .block_on("ReplicaSet::read", self.inner.read())?;
        Ok(PooledConnection::new(conn, self.blocker.clone()))
    }

    /// The write pool (`target_session_attrs=read-write`).
    pub fn writer(&self) -> &Pool {
        &self.writer
    }

    /// The read pool (`target_session_attrs=prefer-standby`).
    pub fn reader(&self) -> &Pool {
        &self.reader
    }

    /// Both pools' statistics, and the reads the standby's lag sent to the
    /// primary.
    pub fn stats(&self) -> ReplicaSetStats {
        self.inner.stats()
    }

    /// Closes both pools (see [`Pool::close`]).
    pub fn close(&self) {
        self.inner.close();
    }
}

impl ReplicaSetBuilder {
    /// Sets up the write pool, as `setup` does to its [`PoolBuilder`]
    /// (sizes, timeouts, callbacks). Defaults to the pool defaults.
    pub fn write(mut self, setup: impl FnOnce(PoolBuilder) -> PoolBuilder) -> Self {
        self.writer = setup(self.writer);
        self
    }

    /// Sets up the read pool, as `setup` does to its [`PoolBuilder`].
    /// Defaults to the pool defaults.
    pub fn read(mut self, setup: impl FnOnce(PoolBuilder) -> PoolBuilder) -> Self {
        self.reader = setup(self.reader);
        self
    }

    /// The most a standby may lag behind its primary for a read to stay
    /// there, as [`tidepool_async::ReplicaSetBuilder::max_lag`]. `None`
    /// never measures. Defaults to `None`.
    pub fn max_lag(mut self, max_lag: Option<Duration>) -> Self {
        self.max_lag = max_lag;
        self
    }

    /// Starts the background threads (as many as the larger of the two
    /// pools' `worker_threads`) and builds both pools on them.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`], for either pool (`worker_threads` 0 for
    /// both included).
    pub fn build(self) -> Result<ReplicaSet, Error> {
        let (writer, writer_threads) = self.writer.into_parts();
        let (reader, reader_threads) = self.reader.into_parts();
        let blocker = Blocker::start(writer_threads.max(reader_threads))?;
        let (writer, reader) = {
            let _context = blocker.handle().enter();
            (writer.build()?, reader.build()?)
        };
        let inner =
            tidepool_async::ReplicaSet::from_pools(writer.clone(), reader.clone(), self.max_lag);
        Ok(ReplicaSet {
            inner,
            writer: Pool::new(writer, blocker.clone()),
            reader: Pool::new(reader, blocker.clone()),
            blocker,
        })
    }
}

impl fmt::Debug for ReplicaSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaSet")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ReplicaSetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaSetBuilder")
            .field("writer", &self.writer)
            .field("reader", &self.reader)
            .field("max_lag", &self.max_lag)
            .finish()
    }
}
