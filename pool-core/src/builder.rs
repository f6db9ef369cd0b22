//! Building a pool in code.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::config::{MAX_SIZE_LIMIT, PoolConfig};
use crate::error::Error;
use crate::health::HealthCheck;
use crate::inner::{Idle, PoolInner, ReconnectFailed};
use crate::manager::Manager;
use crate::pool::Pool;
use crate::shared::Shared;

/// Builds a [`Pool`]: start from [`Pool::builder`], set what differs from
/// the defaults, then call [`build`](Builder::build).
pub struct Builder<M: Manager> {
    manager: M,
    config: PoolConfig,
    reconnect_failed: Option<ReconnectFailed<M>>,
}

impl<M: Manager> Builder<M> {
    pub(crate) fn new(manager: M) -> Self {
        Self {
            manager,
            config: PoolConfig::default(),
            reconnect_failed: None,
        }
    }

    /// Replaces all settings at once.
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

    /// Sets [`PoolConfig::timeout`]. Defaults to 30 s.
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

    /// Sets [`PoolConfig::max_lifetime`]. Defaults to 1 h.
    pub fn max_lifetime(mut self, max_lifetime: Option<Duration>) -> Self {
        self.config.max_lifetime = max_lifetime;
        self
    }

    /// Sets [`PoolConfig::max_idle`]. Defaults to 10 min.
    pub fn max_idle(mut self, max_idle: Option<Duration>) -> Self {
        self.config.max_idle = max_idle;
        self
    }

    /// Sets [`PoolConfig::health_check`]. Defaults to checking connections
    /// idle longer than 1 s.
    pub fn health_check(mut self, health_check: HealthCheck) -> Self {
        self.config.health_check = health_check;
        self
    }

    /// Sets [`PoolConfig::health_check_timeout`]. Defaults to 5 s.
    pub fn health_check_timeout(mut self, health_check_timeout: Duration) -> Self {
        self.config.health_check_timeout = health_check_timeout;
        self
    }

    /// Sets [`PoolConfig::reconnect_timeout`]. Defaults to 5 min.
    pub fn reconnect_timeout(mut self, reconnect_timeout: Duration) -> Self {
        self.config.reconnect_timeout = reconnect_timeout;
        self
    }

    /// Sets [`PoolConfig::slow_checkout_warning`]: a checkout that waits
    /// longer logs a warning (at most one per second). `None` turns it off.
    /// Defaults to 1 s.
    pub fn slow_checkout_warning(mut self, slow_checkout_warning: Option<Duration>) -> Self {
        self.config.slow_checkout_warning = slow_checkout_warning;
        self
    }

    /// Sets [`PoolConfig::leak_detection_threshold`]: a connection held
    /// longer logs a warning naming where it was checked out. Defaults to
    /// `None` (off).
    pub fn leak_detection_threshold(mut self, leak_detection_threshold: Option<Duration>) -> Self {
        self.config.leak_detection_threshold = leak_detection_threshold;
        self
    }

    /// Sets a function to call when connects have failed for longer than
    /// `reconnect_timeout` (once per run of failures). The pool keeps
    /// retrying afterwards. Defaults to none (the failure is only logged).
    pub fn reconnect_failed(mut self, callback: impl Fn(&Pool<M>) + Send + Sync + 'static) -> Self {
        self.reconnect_failed = Some(Arc::new(callback));
        self
    }

    /// Checks the settings and starts the pool: its background worker
    /// begins opening `min_size` connections at once. Use
    /// [`Pool::wait`] to wait until they are open.
    ///
    /// The pool registers its [metrics](crate::metrics) here, with the
    /// recorder installed now: install yours before.
    ///
    /// # Errors
    ///
    /// A configuration error when the settings are impossible (`max_size`
    /// 0, `min_size` above `max_size`, a zero timeout, ...) or when called
    /// outside a tokio runtime.
    pub fn build(self) -> Result<Pool<M>, Error> {
        self.config.validate().map_err(Error::config)?;
        let runtime = Handle::try_current().map_err(|_| {
            Error::config(
                "Pool::build() was called outside a tokio runtime; \
                 build the pool inside one (for example in #[tokio::main])",
            )
        })?;
        let shared = Arc::new(Shared::new(
            self.config.name.clone(),
            self.config.min_size,
            self.config.max_size,
        ));
        let inner = Arc::new(PoolInner {
            manager: self.manager,
            // Sized to the hard limit so that the pool can grow at run time;
            // the engine's own books keep it within max_size.
            idle: Idle::new(MAX_SIZE_LIMIT),
            config: self.config,
            shared,
            runtime,
            reconnect_failed: self.reconnect_failed,
        });
        crate::maintenance::spawn(&inner);
        Ok(Pool::from_inner(inner))
    }
}

impl<M: Manager> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
