//! Where a pool's connections go, as whom and how secured: fixed when the
//! pool is built, or asked anew at every connect (credential rotation).

use std::fmt;
use std::sync::{Arc, Mutex};

use tokio_postgres::Config;

use crate::conninfo::{ConnInfo, parse_dsn};
use crate::error::Error;
use crate::pool::connect::Target;
use crate::tls::{Tls, TlsSettings};

/// A function giving a connection string or a password at every connect.
pub(crate) type StringFn = Arc<dyn Fn() -> String + Send + Sync>;

/// The connection settings of a pool, as given to its builder.
#[derive(Clone)]
pub(crate) enum Source {
    /// Parsed once, when the pool was built.
    Fixed(Box<ConnInfo>),
    /// A connection string asked for at every connect.
    Dynamic(StringFn),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // tokio-postgres redacts the password in its Debug output.
            Source::Fixed(info) => fmt::Debug::fmt(info, f),
            Source::Dynamic(_) => f.write_str("<asked at every connect>"),
        }
    }
}

/// The connection settings ready for connects: the TLS connector of fixed
/// settings is built once, with the pool.
enum Prepared {
    Fixed {
        info: Box<ConnInfo>,
        tls: Tls,
    },
    /// The connector of the last TLS settings the function gave, reused
    /// while they stay the same.
    Dynamic {
        dsn: StringFn,
        last: Mutex<Option<(TlsSettings, Tls)>>,
    },
}

/// The connection settings, and an optional password asked for at every
/// connect.
pub(crate) struct ConnectSettings {
    prepared: Prepared,
    password: Option<StringFn>,
}

impl ConnectSettings {
    /// Checks fixed settings and builds their TLS connector (reading the
    /// certificate files).
    ///
    /// # Errors
    ///
    /// A configuration error for settings without host or user, or TLS
    /// files that cannot be used.
    pub(crate) fn new(source: Source, password: Option<StringFn>) -> Result<Self, Error> {
        let prepared = match source {
            Source::Fixed(info) => {
                check_config(&info.config)?;
                let tls = Tls::new(&info.tls)?;
                Prepared::Fixed { info, tls }
            }
            Source::Dynamic(dsn) => Prepared::Dynamic {
                dsn,
                last: Mutex::new(None),
            },
        };
        Ok(Self { prepared, password })
    }

    /// The configuration, when it is fixed (not asked for at every
    /// connect).
    pub(crate) fn fixed_config(&self) -> Option<&Config> {
        match &self.prepared {
            Prepared::Fixed { info, .. } => Some(&info.config),
            Prepared::Dynamic { .. } => None,
        }
    }

    /// Where and how the next connect goes.
    pub(crate) fn resolve(&self) -> Result<Target, Error> {
        let (mut config, tls, routing, passfile) = match &self.prepared {
            Prepared::Fixed { info, tls } => (
                info.config.clone(),
                tls.clone(),
                info.routing,
                info.passfile.clone(),
            ),
            Prepared::Dynamic { dsn, last } => {
                let ConnInfo {
                    config,
                    tls,
                    routing,
                    passfile,
                } = parse_dsn(&dsn()).map_err(|e| Error::callback("connection string", e))?;
                check_config(&config).map_err(|e| Error::callback("connection string", e))?;
                let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let tls = match &*last {
                    Some((settings, built)) if *settings == tls => built.clone(),
                    _ => {
                        let built =
                            Tls::new(&tls).map_err(|e| Error::callback("connection string", e))?;
                        *last = Some((tls, built.clone()));
                        built
                    }
                };
                (config, tls, routing, passfile)
            }
        };
        if let Some(password) = &self.password {
            config.password(password());
        }
        Ok(Target {
            config,
            tls,
            routing,
            passfile,
        })
    }
}

/// Checks that a configuration names what a connect needs.
pub(crate) fn check_config(config: &Config) -> Result<(), Error> {
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(Error::config(
            "the connection string names no host; add one, as in \
             \"host=localhost\" or postgresql://user@localhost/dbname, or set PGHOST",
        ));
    }
    if config.get_user().is_none() {
        return Err(Error::config(
            "the connection string names no user; add one, as in \
             \"user=app\" or postgresql://app@localhost/dbname, or set PGUSER",
        ));
    }
    Ok(())
}

impl fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ConnectSettings");
        match &self.prepared {
            Prepared::Fixed { info, .. } => debug.field("source", info),
            Prepared::Dynamic { .. } => debug.field("source", &"<asked at every connect>"),
        };
        debug
            .field("password_fn", &self.password.is_some())
            .finish()
    }
}
