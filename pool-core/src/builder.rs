//! Building a pool in code.

use std::fmt;
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::books::Books;
use crate::config::{MAX_SIZE_LIMIT, PoolConfig};
use crate::error::Error;
use crate::inner::{PoolInner, ReconnectFailed};
use crate::manager::Manager;
use crate::pool::Pool;
use crate::slot::Idle;

impl<M: Manager> Pool<M> {
    /// Starts building a pool of connections opened by `manager`.
    pub fn builder(manager: M) -> Builder<M> {
        Builder::new(manager)
    }
}

/// Builds a [`Pool`]: start from [`Pool::builder`], set what differs from
/// the defaults, then call [`build`](Builder::build).
pub struct Builder<M: Manager> {
    manager: M,
    config: PoolConfig,
    reconnect_failed: Option<ReconnectFailed<M>>,
}

impl<M: Manager> Builder<M> {
    fn new(manager: M) -> Self {
        Self {
            manager,
            config: PoolConfig::default(),
            reconnect_failed: None,
        }
    }

    crate::__pool_config_setters!();

    /// Sets a function to call when connects have failed for longer than
    /// `reconnect_timeout` (once per run of failures). The pool keeps
    /// retrying afterwards. Defaults to none (the failure is only logged).
    pub fn reconnect_failed(mut self, callback: impl Fn(&Pool<M>) + Send + Sync + 'static) -> Self {
        // The engine calls it with its state; the user gets a handle.
        self.reconnect_failed = Some(Arc::new(move |inner: &Arc<PoolInner<M>>| {
            callback(&Pool::from_inner(Arc::clone(inner)));
        }));
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
        let books = Arc::new(Books::new(
            self.config.name.clone(),
            self.config.min_size,
            self.config.max_size,
            self.config.metric_names,
        ));
        self.manager
            .attach(crate::Sweeper::new(Arc::downgrade(&books)));
        let inner = Arc::new(PoolInner::new(
            self.manager,
            self.config,
            // Sized to the hard limit so that the pool can grow at run time;
            // the engine's own books keep it within max_size.
            Idle::new(MAX_SIZE_LIMIT),
            books,
            runtime,
            self.reconnect_failed,
        ));
        crate::worker::spawn(&inner);
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
