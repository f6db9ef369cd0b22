//! Building a PostgreSQL pool in code.

use std::fmt;
use std::time::Duration;

use tidepool_core::PoolConfig;

use crate::error::Error;
use crate::manager::PgManager;
use crate::pool::Pool;

/// Builds a [`Pool`]: start from [`Pool::builder`], set what differs from
/// the defaults, then call [`build`](PoolBuilder::build).
pub struct PoolBuilder {
    pg: Result<tokio_postgres::Config, Error>,
    config: PoolConfig,
}

impl PoolBuilder {
    pub(crate) fn new(pg: Result<tokio_postgres::Config, Error>) -> Self {
        Self {
            pg,
            config: PoolConfig::default(),
        }
    }

    /// Replaces all pool settings at once.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets [`PoolConfig::name`]. Defaults to `"tidepool"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Sets [`PoolConfig::min_size`]. Defaults to 4.
    pub fn min_size(mut self, min_size: usize) -> Self {
        self.config.min_size = min_size;
        self
    }

    /// Sets [`PoolConfig::max_size`]. Defaults to 10.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.config.max_size = max_size;
        self
    }

    /// Sets [`PoolConfig::timeout`], the limit of a whole checkout.
    /// Defaults to 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::max_waiting`]. Defaults to 0 (no limit).
    pub fn max_waiting(mut self, max_waiting: usize) -> Self {
        self.config.max_waiting = max_waiting;
        self
    }

    /// Sets [`PoolConfig::max_connecting`]. Defaults to 2.
    pub fn max_connecting(mut self, max_connecting: usize) -> Self {
        self.config.max_connecting = max_connecting;
        self
    }

    /// Sets [`PoolConfig::connect_timeout`]. Defaults to 30 s.
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.config.connect_timeout = connect_timeout;
        self
    }

    /// Sets [`PoolConfig::reset_timeout`]. Defaults to 5 s.
    pub fn reset_timeout(mut self, reset_timeout: Duration) -> Self {
        self.config.reset_timeout = reset_timeout;
        self
    }

    /// Checks the settings and starts the pool, which begins opening
    /// `min_size` connections in the background. Use [`Pool::wait`] to
    /// wait for them.
    ///
    /// # Errors
    ///
    /// A configuration error for an unparseable connection string, one
    /// without a host or user, impossible pool settings, or a call outside a
    /// tokio runtime.
    pub fn build(self) -> Result<Pool, Error> {
        let pg = self.pg?;
        if pg.get_hosts().is_empty() {
            return Err(Error::config(
                "the connection string names no host; add one, as in \
                 \"host=localhost\" or postgresql://user@localhost/dbname",
            ));
        }
        if pg.get_user().is_none() {
            return Err(Error::config(
                "the connection string names no user; add one, as in \
                 \"user=app\" or postgresql://app@localhost/dbname",
            ));
        }
        let pool = tidepool_core::Pool::builder(PgManager::new(pg))
            .config(self.config)
            .build()
            .map_err(Error::pool)?;
        Ok(Pool::from_core(pool))
    }
}

/// Parses a libpq connection string: a URL or key=value pairs.
pub(crate) fn parse_dsn(dsn: &str) -> Result<tokio_postgres::Config, Error> {
    dsn.parse().map_err(|e: tokio_postgres::Error| {
        Error::config(format!(
            "invalid connection string: {e}; expected a URL such as \
             postgresql://user@localhost:5432/dbname or key=value pairs such as \
             \"host=localhost port=5432 user=app dbname=app\""
        ))
    })
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // tokio-postgres redacts the password in its Debug output.
        f.debug_struct("PoolBuilder")
            .field("pg", &self.pg.as_ref().ok())
            .field("config", &self.config)
            .finish()
    }
}
