//! Reading a libpq connection string into a tokio-postgres configuration
//! and TLS settings.

use std::path::PathBuf;

use tokio_postgres::Config;

use crate::conninfo::defaults::{fill_defaults, fill_tls_files, pass_file};
use crate::conninfo::env::{Lookup, fill_from_env};
use crate::conninfo::extract::{Extracted, extract};
use crate::conninfo::pgpass::PassFile;
use crate::conninfo::service::{service_entries, service_files};
use crate::error::Error;
use crate::hosts::{LoadBalance, Routing, SessionAttrs};
use crate::tls::{RootCerts, SslMode, TlsSettings};

/// What a connection string says: where to connect and as whom (for
/// tokio-postgres), and how to secure the connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// Hosts, ports, user, password, database and the other settings
    /// tokio-postgres knows. Its `ssl_mode` is the first attempt's.
    pub(crate) config: Config,
    /// `sslmode` and the certificate files.
    pub(crate) tls: TlsSettings,
    /// `target_session_attrs` and `load_balance_hosts`, which the pool
    /// applies itself.
    pub(crate) routing: Routing,
    /// The password file read at each connect that has no password
    /// (`passfile`, `PGPASSFILE`, `~/.pgpass`).
    pub(crate) passfile: Option<PassFile>,
}

impl ConnInfo {
    /// The settings of a configuration built in code: its `ssl_mode`
    /// (`disable`, `prefer` or `require`, which mean what libpq's do) and
    /// no certificate files.
    pub(crate) fn from_config(config: Config) -> ConnInfo {
        let tls = TlsSettings {
            mode: SslMode::from_wire(config.get_ssl_mode()),
            ..TlsSettings::default()
        };
        let routing = Routing {
            attrs: SessionAttrs::from_wire(config.get_target_session_attrs()),
            load_balance: LoadBalance::from_wire(config.get_load_balance_hosts()),
        };
        ConnInfo {
            config,
            tls,
            routing,
            passfile: None,
        }
    }
}

/// The TLS keys as given, before the defaults.
#[derive(Debug, Default)]
pub(crate) struct TlsKeys {
    pub(crate) mode: Option<SslMode>,
    pub(crate) root_cert: Option<RootCerts>,
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) client_key: Option<PathBuf>,
}

impl TlsKeys {
    /// A value of `sslrootcert`: a file, or `system` for the system's
    /// trusted roots.
    pub(crate) fn root_cert(value: &str) -> RootCerts {
        match value {
            "system" => RootCerts::System,
            path => RootCerts::File(path.into()),
        }
    }

    fn settings(self) -> TlsSettings {
        // libpq: sslrootcert=system makes verify-full the default mode.
        let default_mode = match self.root_cert {
            Some(RootCerts::System) => SslMode::VerifyFull,
            _ => SslMode::Prefer,
        };
        TlsSettings {
            mode: self.mode.unwrap_or(default_mode),
            root_cert: self.root_cert,
            client_cert: self.client_cert,
            client_key: self.client_key,
        }
    }
}

/// The routing keys as given, before the defaults.
#[derive(Debug, Default)]
pub(crate) struct RoutingKeys {
    pub(crate) attrs: Option<SessionAttrs>,
    pub(crate) load_balance: Option<LoadBalance>,
}

impl RoutingKeys {
    fn settings(self) -> Routing {
        Routing {
            attrs: self.attrs.unwrap_or_default(),
            load_balance: self.load_balance.unwrap_or_default(),
        }
    }
}

/// Parses a libpq connection string (a URL or key=value pairs), filling
/// what it leaves out from libpq's environment variables.
///
/// # Errors
///
/// A configuration error naming the key or variable at fault and what was
/// expected; it never quotes a password.
pub(crate) fn parse_dsn(dsn: &str) -> Result<ConnInfo, Error> {
    parse_with_env(dsn, &|name| std::env::var(name).ok())
}

/// [`parse_dsn`] with the environment variables given by `env`.
///
/// The order is libpq's: the string's own keys, then the service's
/// (`service`, `PGSERVICE`), then the environment variables, then libpq's
/// defaults (the host, the operating system's user, `~/.postgresql/`).
pub(crate) fn parse_with_env(dsn: &str, env: Lookup<'_>) -> Result<ConnInfo, Error> {
    let mut extracted = extract(dsn).map_err(invalid_syntax)?;
    add_service(&mut extracted, env)?;
    let mut config: Config = extracted.rest.parse().map_err(|e: tokio_postgres::Error| {
        // tokio-postgres says what was wrong only in the error's source.
        invalid_syntax(
            std::error::Error::source(&e).map_or_else(|| e.to_string(), |c| c.to_string()),
        )
    })?;
    let mut keys = TlsKeys::default();
    let mut routing = RoutingKeys::default();
    let mut passfile = None;
    for (key, value) in extracted.taken {
        // libpq: an empty value is the same as none.
        if value.is_empty() {
            continue;
        }
        match key {
            "sslmode" => {
                keys.mode = Some(SslMode::parse(&value).map_err(|why| invalid_key(key, why))?);
            }
            "sslrootcert" => keys.root_cert = Some(TlsKeys::root_cert(&value)),
            "sslcert" => keys.client_cert = Some(value.into()),
            "sslkey" => keys.client_key = Some(value.into()),
            "target_session_attrs" => {
                routing.attrs =
                    Some(SessionAttrs::parse(&value).map_err(|why| invalid_key(key, why))?);
            }
            "load_balance_hosts" => {
                routing.load_balance =
                    Some(LoadBalance::parse(&value).map_err(|why| invalid_key(key, why))?);
            }
            "passfile" => passfile = Some(value),
            // Read by add_service.
            "service" | "servicefile" => {}
            _ => {
                return Err(invalid_key(
                    "sslpassword",
                    "encrypted client keys are not supported; decrypt the key \
                     (openssl pkey -in KEY -out KEY.decrypted) and leave sslpassword out"
                        .to_owned(),
                ));
            }
        }
    }
    fill_from_env(&mut config, &mut keys, &mut routing, env)?;
    fill_defaults(&mut config, env);
    fill_tls_files(&mut keys, env)?;
    let tls = keys.settings();
    tls.check()?;
    config.ssl_mode(tls.mode.wire_mode());
    Ok(ConnInfo {
        config,
        tls,
        routing: routing.settings(),
        passfile: pass_file(passfile, env).map(PassFile::new),
    })
}

/// Adds the keys of the service the string or `PGSERVICE` names, where
/// the string does not give them.
fn add_service(extracted: &mut Extracted, env: Lookup<'_>) -> Result<(), Error> {
    let given = |name: &str| {
        extracted
            .taken
            .iter()
            .find(|(key, value)| *key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
    };
    let Some(service) = given("service").or_else(|| env("PGSERVICE").filter(|s| !s.is_empty()))
    else {
        return Ok(());
    };
    let files = service_files(given("servicefile").as_deref(), env);
    for (key, value) in service_entries(&service, &files)? {
        extracted.add_default(&key, &value);
    }
    Ok(())
}

fn invalid_key(key: &str, why: String) -> Error {
    Error::config(format!("invalid connection string: {key}: {why}"))
}

fn invalid_syntax(why: String) -> Error {
    Error::config(format!(
        "invalid connection string: {why}; expected a URL such as \
         postgresql://user@localhost:5432/dbname or key=value pairs such as \
         \"host=localhost port=5432 user=app dbname=app\""
    ))
}
