//! The setters of the pool's settings, written once for every builder.

/// Expands, inside the `impl` of a builder that has a `config: PoolConfig`
/// field, to one setter per [`PoolConfig`](crate::PoolConfig) field, each
/// documented with its default. The builders of this crate and of the
/// PostgreSQL crates use it, so the list and its documentation cannot drift
/// apart. `PoolConfig` must be in scope where it expands
/// (for the documentation's links).
#[doc(hidden)]
#[macro_export]
macro_rules! __pool_config_setters {
    () => {
        /// Replaces all settings at once.
        pub fn config(mut self, config: $crate::PoolConfig) -> Self {
            self.config = config;
            self
        }

        /// Sets [`PoolConfig::name`]. Defaults to `"tidepool"`.
        pub fn name(mut self, name: impl ::std::convert::Into<::std::string::String>) -> Self {
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
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
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
        pub fn connect_timeout(mut self, connect_timeout: ::std::time::Duration) -> Self {
            self.config.connect_timeout = connect_timeout;
            self
        }

        /// Sets [`PoolConfig::reset_timeout`]. Defaults to 5 s.
        pub fn reset_timeout(mut self, reset_timeout: ::std::time::Duration) -> Self {
            self.config.reset_timeout = reset_timeout;
            self
        }

        /// Sets [`PoolConfig::max_lifetime`]: connections older than this are
        /// replaced. `None` keeps them forever. Defaults to 1 h.
        pub fn max_lifetime(
            mut self,
            max_lifetime: ::std::option::Option<::std::time::Duration>,
        ) -> Self {
            self.config.max_lifetime = max_lifetime;
            self
        }

        /// Sets [`PoolConfig::max_idle`]: connections above `min_size` idle
        /// longer than this are closed. `None` keeps them. Defaults to 10 min.
        pub fn max_idle(mut self, max_idle: ::std::option::Option<::std::time::Duration>) -> Self {
            self.config.max_idle = max_idle;
            self
        }

        /// Sets [`PoolConfig::health_check`]. Defaults to checking connections
        /// idle longer than 1 s.
        pub fn health_check(mut self, health_check: $crate::HealthCheck) -> Self {
            self.config.health_check = health_check;
            self
        }

        /// Sets [`PoolConfig::health_check_timeout`]. Defaults to 5 s.
        pub fn health_check_timeout(mut self, health_check_timeout: ::std::time::Duration) -> Self {
            self.config.health_check_timeout = health_check_timeout;
            self
        }

        /// Sets [`PoolConfig::reconnect_timeout`]. Defaults to 5 min.
        pub fn reconnect_timeout(mut self, reconnect_timeout: ::std::time::Duration) -> Self {
            self.config.reconnect_timeout = reconnect_timeout;
            self
        }

        /// Sets [`PoolConfig::slow_checkout_warning`]: a checkout that waits
        /// longer logs a warning (at most one per second). `None` turns it off.
        /// Defaults to 1 s.
        pub fn slow_checkout_warning(
            mut self,
            slow_checkout_warning: ::std::option::Option<::std::time::Duration>,
        ) -> Self {
            self.config.slow_checkout_warning = slow_checkout_warning;
            self
        }

        /// Sets [`PoolConfig::leak_detection_threshold`]: a connection held
        /// longer logs a warning naming where it was checked out. Defaults to
        /// `None` (off).
        pub fn leak_detection_threshold(
            mut self,
            leak_detection_threshold: ::std::option::Option<::std::time::Duration>,
        ) -> Self {
            self.config.leak_detection_threshold = leak_detection_threshold;
            self
        }

        /// Sets [`PoolConfig::metric_names`]: tidepool's metric names,
        /// OpenTelemetry's, or both. Defaults to tidepool's.
        pub fn metric_names(mut self, metric_names: $crate::metrics::MetricNames) -> Self {
            self.config.metric_names = metric_names;
            self
        }

        /// Sets [`PoolConfig::null_pool`]: open a connection for each
        /// checkout and close it when it is returned (psycopg's
        /// `NullConnectionPool`); requires `min_size(0)`. Defaults to `false`.
        pub fn null_pool(mut self, null_pool: bool) -> Self {
            self.config.null_pool = null_pool;
            self
        }
    };
}
