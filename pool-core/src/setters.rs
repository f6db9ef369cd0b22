//! The setters of the pool's settings, written once for every builder.

/// Expands, inside the `impl` of a builder, to one setter per
/// [`PoolConfig`](crate::PoolConfig) field, each documented with its
/// default, from the one list below:
///
/// - `__pool_config_setters!()` in a builder with a `config: PoolConfig`
///   field sets the field;
/// - `__pool_config_setters!(delegate)` in a builder that wraps another
///   (the blocking pool's) passes the value on through its
///   `fn map(self, f: impl FnOnce(Inner) -> Inner) -> Self`.
///
/// The builders of this crate and of the PostgreSQL crates use it, so the
/// list and its documentation cannot drift apart between them.
/// `PoolConfig` must be in scope where it expands (for the documentation's
/// links).
#[doc(hidden)]
#[macro_export]
macro_rules! __pool_config_setters {
    () => {
        $crate::__pool_config_setters!(@all direct);
    };
    (delegate) => {
        $crate::__pool_config_setters!(@all delegate);
    };
    (@all $how:ident) => {
        $crate::__pool_config_setters!(@one $how, config, config: $crate::PoolConfig, config,
            "Replaces all settings at once.");
        $crate::__pool_config_setters!(@one $how, name,
            name: impl ::std::convert::Into<::std::string::String>, name.into(),
            "Sets [`PoolConfig::name`]. Defaults to `\"tidepool\"`.");
        $crate::__pool_config_setters!(@one $how, min_size, min_size: usize, min_size,
            "Sets [`PoolConfig::min_size`]. Defaults to 4.");
        $crate::__pool_config_setters!(@one $how, max_size, max_size: usize, max_size,
            "Sets [`PoolConfig::max_size`]. Defaults to 10.");
        $crate::__pool_config_setters!(@one $how, timeout, timeout: ::std::time::Duration, timeout,
            "Sets [`PoolConfig::timeout`], the limit of a whole checkout. Defaults to 30 s.");
        $crate::__pool_config_setters!(@one $how, max_waiting, max_waiting: usize, max_waiting,
            "Sets [`PoolConfig::max_waiting`]. Defaults to 0 (no limit).");
        $crate::__pool_config_setters!(@one $how, max_connecting, max_connecting: usize,
            max_connecting,
            "Sets [`PoolConfig::max_connecting`]. Defaults to 2.");
        $crate::__pool_config_setters!(@one $how, connect_timeout,
            connect_timeout: ::std::time::Duration, connect_timeout,
            "Sets [`PoolConfig::connect_timeout`]. Defaults to 30 s.");
        $crate::__pool_config_setters!(@one $how, reset_timeout,
            reset_timeout: ::std::time::Duration, reset_timeout,
            "Sets [`PoolConfig::reset_timeout`]. Defaults to 5 s.");
        $crate::__pool_config_setters!(@one $how, max_lifetime,
            max_lifetime: ::std::option::Option<::std::time::Duration>, max_lifetime,
            "Sets [`PoolConfig::max_lifetime`]: connections older than this are replaced. \
             `None` keeps them forever. Defaults to 1 h.");
        $crate::__pool_config_setters!(@one $how, max_idle,
            max_idle: ::std::option::Option<::std::time::Duration>, max_idle,
            "Sets [`PoolConfig::max_idle`]: connections above `min_size` idle longer than \
             this are closed. `None` keeps them. Defaults to 10 min.");
        $crate::__pool_config_setters!(@one $how, health_check,
            health_check: $crate::HealthCheck, health_check,
            "Sets [`PoolConfig::health_check`]. Defaults to checking connections idle \
             longer than 1 s.");
        $crate::__pool_config_setters!(@one $how, health_check_timeout,
            health_check_timeout: ::std::time::Duration, health_check_timeout,
            "Sets [`PoolConfig::health_check_timeout`]. Defaults to 5 s.");
        $crate::__pool_config_setters!(@one $how, reconnect_timeout,
            reconnect_timeout: ::std::time::Duration, reconnect_timeout,
            "Sets [`PoolConfig::reconnect_timeout`]: how long connects may fail before \
             the failure is reported (the pool keeps retrying). Defaults to 5 min.");
        $crate::__pool_config_setters!(@one $how, slow_checkout_warning,
            slow_checkout_warning: ::std::option::Option<::std::time::Duration>,
            slow_checkout_warning,
            "Sets [`PoolConfig::slow_checkout_warning`]: a checkout that waits longer logs \
             a warning (at most one per second). `None` turns it off. Defaults to 1 s.");
        $crate::__pool_config_setters!(@one $how, leak_detection_threshold,
            leak_detection_threshold: ::std::option::Option<::std::time::Duration>,
            leak_detection_threshold,
            "Sets [`PoolConfig::leak_detection_threshold`]: a connection held longer logs \
             a warning naming where it was checked out. Defaults to `None` (off).");
        $crate::__pool_config_setters!(@one $how, metric_names,
            metric_names: $crate::metrics::MetricNames, metric_names,
            "Sets [`PoolConfig::metric_names`]: tidepool's metric names, OpenTelemetry's, \
             or both. Defaults to tidepool's.");
        $crate::__pool_config_setters!(@one $how, null_pool, null_pool: bool, null_pool,
            "Sets [`PoolConfig::null_pool`]: open a connection for each checkout and close \
             it when it is returned (psycopg's `NullConnectionPool`); requires \
             `min_size(0)`. Defaults to `false`.");
    };
    (@one direct, config, $arg:ident : $ty:ty, $value:expr, $doc:literal) => {
        #[doc = $doc]
        pub fn config(mut self, $arg: $ty) -> Self {
            self.config = $value;
            self
        }
    };
    (@one direct, $field:ident, $arg:ident : $ty:ty, $value:expr, $doc:literal) => {
        #[doc = $doc]
        pub fn $field(mut self, $arg: $ty) -> Self {
            self.config.$field = $value;
            self
        }
    };
    (@one delegate, $field:ident, $arg:ident : $ty:ty, $value:expr, $doc:literal) => {
        #[doc = $doc]
        pub fn $field(self, $arg: $ty) -> Self {
            self.map(|builder| builder.$field($arg))
        }
    };
}
