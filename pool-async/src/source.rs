//! Where a pool's connections go, and as whom: fixed when the pool is
//! built, or asked anew at every connect (credential rotation).

use std::fmt;
use std::sync::Arc;

use tokio_postgres::Config;

use crate::builder::parse_dsn;
use crate::error::Error;

/// A function giving a connection string or a password at every connect.
pub(crate) type StringFn = Arc<dyn Fn() -> String + Send + Sync>;

/// The connection settings of a pool.
#[derive(Clone)]
pub(crate) enum Source {
    /// Parsed once, when the pool was built.
    Fixed(Box<Config>),
    /// A connection string asked for at every connect.
    Dynamic(StringFn),
}

/// The connection settings, and an optional password asked for at every
/// connect.
#[derive(Clone)]
pub(crate) struct ConnectSettings {
    pub(crate) source: Source,
    pub(crate) password: Option<StringFn>,
}

impl ConnectSettings {
    /// The configuration for the next connect.
    pub(crate) fn resolve(&self) -> Result<Config, Error> {
        let mut config = match &self.source {
            Source::Fixed(config) => (**config).clone(),
            Source::Dynamic(dsn) => {
                let config =
                    parse_dsn(&dsn()).map_err(|e| Error::callback("connection string", e))?;
                check_config(&config)?;
                config
            }
        };
        if let Some(password) = &self.password {
            config.password(password());
        }
        Ok(config)
    }
}

/// Checks that a configuration names what a connect needs.
pub(crate) fn check_config(config: &Config) -> Result<(), Error> {
    if config.get_hosts().is_empty() {
        return Err(Error::config(
            "the connection string names no host; add one, as in \
             \"host=localhost\" or postgresql://user@localhost/dbname",
        ));
    }
    if config.get_user().is_none() {
        return Err(Error::config(
            "the connection string names no user; add one, as in \
             \"user=app\" or postgresql://app@localhost/dbname",
        ));
    }
    Ok(())
}

impl fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ConnectSettings");
        match &self.source {
            // tokio-postgres redacts the password in its Debug output.
            Source::Fixed(config) => debug.field("config", config),
            Source::Dynamic(_) => debug.field("config", &"<asked at every connect>"),
        };
        debug
            .field("password_fn", &self.password.is_some())
            .finish()
    }
}
