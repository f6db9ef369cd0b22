//! One handle over a primary and its standbys: writes go to a
//! `read-write` pool, reads to a `prefer-standby` pool, both built from
//! one connection string.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::SimpleQueryMessage;

use crate::Stats;
use crate::error::Error;
use crate::pool::builder::PoolBuilder;
use crate::pool::guard::PooledConnection;
use crate::pool::handle::Pool;

/// Two pools over the same hosts (a primary and its streaming standbys):
/// [`write`](ReplicaSet::write) checks out of a pool with
/// `target_session_attrs=read-write`, [`read`](ReplicaSet::read) out of
/// one with `target_session_attrs=prefer-standby` (a standby while one is
/// up, else the primary). Each pool follows a failover by itself: its
/// connections to a server whose role changed are closed, and new ones
/// walk the hosts again.
///
/// With [`max_lag`](ReplicaSetBuilder::max_lag), a read whose standby is
/// further behind than that is served by the write pool instead.
///
/// Clone it to share it; clones use the same pools.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> Result<(), tidepool_async::Error> {
/// use std::time::Duration;
/// use tidepool_async::ReplicaSet;
///
/// let db = ReplicaSet::builder("postgresql://app@db1,db2,db3/app")
///     .write(|pool| pool.max_size(8))
///     .read(|pool| pool.max_size(32))
///     .max_lag(Some(Duration::from_secs(2)))
///     .build()?;
/// db.write().await?.execute("INSERT INTO events (kind) VALUES ('signup')", &[]).await?;
/// let rows = db.read().await?.query("SELECT kind FROM events", &[]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReplicaSet {
    writer: Pool,
    reader: Pool,
    max_lag: Option<Duration>,
    lagging_reads: Arc<AtomicU64>,
}

/// Builds a [`ReplicaSet`]; start from [`ReplicaSet::builder`].
pub struct ReplicaSetBuilder {
    writer: PoolBuilder,
    reader: PoolBuilder,
    max_lag: Option<Duration>,
}

/// The statistics of a [`ReplicaSet`], per role.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReplicaSetStats {
    /// The write pool's (`read-write`).
    pub write: Stats,
    /// The read pool's (`prefer-standby`).
    pub read: Stats,
    /// Reads served by the write pool because the standby was further
    /// behind than `max_lag`.
    pub lagging_reads: u64,
}

impl ReplicaSet {
    /// Starts building the two pools for a libpq connection string naming
    /// the primary and its standbys (see [`Pool::builder`]). The string's
    /// own `target_session_attrs`, if any, is replaced: `read-write` for
    /// the write pool, `prefer-standby` for the read pool;
    /// `load_balance_hosts=random` in it spreads both pools' connections.
    pub fn builder(dsn: &str) -> ReplicaSetBuilder {
        ReplicaSetBuilder {
            writer: Pool::builder(&with_key(dsn, "target_session_attrs", "read-write")),
            reader: Pool::builder(&with_key(dsn, "target_session_attrs", "prefer-standby")),
            max_lag: None,
        }
    }

    /// Makes a replica set of two pools built another way (from
    /// [`Settings`](crate::Settings), say, or with
    /// [`ReplicaSetBuilder::into_parts`]). `writer` should ask for
    /// `target_session_attrs=read-write` and `reader` for
    /// `prefer-standby` (or `standby`, to never read from the primary);
    /// `max_lag` is as [`ReplicaSetBuilder::max_lag`].
    pub fn from_pools(writer: Pool, reader: Pool, max_lag: Option<Duration>) -> ReplicaSet {
        ReplicaSet {
            writer,
            reader,
            max_lag,
            lagging_reads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Checks out a connection to the primary (a read-write server).
    ///
    /// # Errors
    ///
    /// As [`Pool::get`]; while no host is a read-write server (during a
    /// failover), the checkout waits for one within the pool's `timeout`.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`Pool::get`].
    pub async fn write(&self) -> Result<PooledConnection, Error> {
        self.writer.get().await
    }

    /// Checks out a connection for reading: to a standby while one is up,
    /// else to the primary. With `max_lag`, a standby further behind than
    /// that is given back and the write pool serves the read.
    ///
    /// # Errors
    ///
    /// As [`Pool::get`], and the error of the lag query.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: a connection checked out when the
    /// future is dropped goes back to its pool.
    pub async fn read(&self) -> Result<PooledConnection, Error> {
        let conn = self.reader.get().await?;
        if let Some(max_lag) = self.max_lag
            && replay_lag(&conn).await? > max_lag
        {
            drop(conn);
            self.lagging_reads.fetch_add(1, Ordering::Relaxed);
            return self.writer.get().await;
        }
        Ok(conn)
    }

    /// The write pool (`target_session_attrs=read-write`).
    pub fn writer(&self) -> &Pool {
        &self.writer
    }

    /// The read pool (`target_session_attrs=prefer-standby`).
    pub fn reader(&self) -> &Pool {
        &self.reader
    }

    /// Both pools' statistics, and the reads the standby's lag sent to
    /// the primary.
    pub fn stats(&self) -> ReplicaSetStats {
        ReplicaSetStats {
            write: self.writer.stats(),
            read: self.reader.stats(),
            lagging_reads: self.lagging_reads.load(Ordering::Relaxed),
        }
    }

    /// Closes both pools (see [`Pool::close`]).
    pub fn close(&self) {
        self.writer.close();
        self.reader.close();
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
    /// there, measured at every [`read`](ReplicaSet::read) (one more round
    /// trip) as the age of the last transaction it replayed while WAL it
    /// received waits to be replayed. `None` never measures. Defaults to
    /// `None`.
    pub fn max_lag(mut self, max_lag: Option<Duration>) -> Self {
        self.max_lag = max_lag;
        self
    }

    /// Builds both pools.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`], for either pool.
    pub fn build(self) -> Result<ReplicaSet, Error> {
        Ok(ReplicaSet::from_pools(
            self.writer.build()?,
            self.reader.build()?,
            self.max_lag,
        ))
    }

    /// The write pool's builder, the read pool's, and `max_lag`, to build
    /// the pools some other way; [`ReplicaSet::from_pools`] makes the set.
    pub fn into_parts(self) -> (PoolBuilder, PoolBuilder, Option<Duration>) {
        (self.writer, self.reader, self.max_lag)
    }
}

/// How far a standby's replay is behind: zero on a primary, or when it has
/// replayed everything it received.
async fn replay_lag(conn: &PooledConnection) -> Result<Duration, Error> {
    let messages = conn
        .client_unmarked()
        .simple_query(
            "SELECT CASE WHEN NOT pg_catalog.pg_is_in_recovery() \
               OR pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() \
             THEN 0 ELSE coalesce(extract(epoch FROM now() \
               - pg_catalog.pg_last_xact_replay_timestamp()), 0) END",
        )
        .await
        .map_err(Error::db)?;
    let seconds = messages
        .iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|text| text.parse::<f64>().ok()),
            _ => None,
        })
        .unwrap_or(0.0);
    Ok(Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX))
}

/// `dsn` with `key=value` added last (so it wins over the string's own),
/// in the string's form.
fn with_key(dsn: &str, key: &str, value: &str) -> String {
    let url_body = ["postgres://", "postgresql://"]
        .iter()
        .find(|prefix| dsn.starts_with(*prefix))
        .map(|prefix| prefix.len());
    match url_body {
        Some(body) => {
            let after_credentials = dsn[body..].find('@').map_or(body, |at| body + at + 1);
            let separator = if dsn[after_credentials..].contains('?') {
                '&'
            } else {
                '?'
            };
            format!("{dsn}{separator}{key}={value}")
        }
        None => format!("{dsn} {key}={value}"),
    }
}

impl fmt::Debug for ReplicaSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaSet")
            .field("writer", &self.writer)
            .field("reader", &self.reader)
            .field("max_lag", &self.max_lag)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_added_key_comes_last_in_either_form() {
        assert_eq!(
            with_key("postgresql://u:p?w@a,b/db", "k", "v"),
            "postgresql://u:p?w@a,b/db?k=v"
        );
        assert_eq!(
            with_key("postgres://a/db?sslmode=require", "k", "v"),
            "postgres://a/db?sslmode=require&k=v"
        );
        assert_eq!(with_key("host=a,b user=u", "k", "v"), "host=a,b user=u k=v");
    }
}
