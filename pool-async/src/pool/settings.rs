//! Settings read from files and the environment.

use std::fmt;
use std::path::Path;

use config::{Config, Environment, File, Map, Value, ValueKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tidepool_core::PoolConfig;

use crate::conninfo::redact_dsn;
use crate::error::Error;
use crate::pool::builder::PoolBuilder;
use crate::pool::fields::struct_fields;
use crate::pool::handle::Pool;
use crate::pool::session_settings::SessionSettings;

/// Everything a pool needs, as read from a settings file and environment
/// variables: the pool's settings and the connection's, in one flat set of
/// keys.
///
/// Keys are the [`PoolConfig`] fields (`max_size`, `timeout`, ...), the
/// [`SessionSettings`] fields (`pgbouncer`, `statement_metrics`) and the [`ConnectionSettings`]
/// fields (`url`, or `host`, `port`, `user`, ...).
/// Durations are written `"30s"`, `"5m"`, `"1h 30m"` (or a number of
/// seconds). A missing key takes its default; an unknown key, or a value of
/// the wrong kind, is an error that names the key and where it came from.
///
/// # Examples
///
/// ```no_run
/// use tidepool_async::{Pool, Settings};
///
/// # async fn demo() -> Result<(), tidepool_async::Error> {
/// // pool.toml, then PGPOOL_MAX_SIZE=20, PGPOOL_TIMEOUT=5s, ... on top.
/// let settings = Settings::load(Some("pool.toml".as_ref()), Some("PGPOOL"))?;
/// let pool = Pool::from_settings(&settings)?;
/// # Ok(()) }
/// ```
///
/// Settings serialize (with serde) as they are read: one flat set of
/// keys, those left unset out, the `url` with its passwords replaced by
/// `***` ([`redact_dsn`]) and the `password` never written. So a settings
/// file written from them reads back the same, except the password.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct Settings {
    /// The pool's settings.
    #[serde(flatten)]
    pub pool: PoolConfig,
    /// How the pool uses the server's sessions.
    #[serde(flatten)]
    pub session: SessionSettings,
    /// Where to connect, and as whom.
    #[serde(flatten)]
    pub connection: ConnectionSettings,
}

/// Where to connect, and as whom: a libpq connection string (`url`), or its
/// parts as separate fields. Fields left out are filled by libpq's
/// environment variables (`PGHOST`, `PGUSER`, ...), then by libpq's defaults.
///
/// `url` and the separate fields do not mix, except `password`, which may
/// go with either (so that a secret can come from the environment while the
/// rest comes from a file).
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectionSettings {
    /// A libpq connection string: a URL (`postgresql://app@db:5432/app`) or
    /// key=value pairs (`host=db user=app`). Defaults to none.
    #[serde(
        deserialize_with = "text",
        serialize_with = "redacted",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    /// Host names, IP addresses or Unix socket directories, separated by
    /// commas. Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Ports, separated by commas (one for all hosts, or one per host).
    /// Defaults to none (5432).
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// The role to connect as. Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The role's password; never shown in Debug output, never serialized.
    /// Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing)]
    pub password: Option<String>,
    /// The database. Defaults to none (the user's name).
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub dbname: Option<String>,
    /// libpq's `sslmode`. Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<String>,
    /// A PEM file of root certificates to verify the server with. Defaults
    /// to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub sslrootcert: Option<String>,
    /// A PEM client certificate. Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub sslcert: Option<String>,
    /// The PEM key of the client certificate. Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub sslkey: Option<String>,
    /// The `application_name` the server shows. Defaults to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// libpq's `target_session_attrs`: `any`, `read-write`, `read-only`,
    /// `primary`, `standby` or `prefer-standby`. Defaults to none (`any`).
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub target_session_attrs: Option<String>,
    /// libpq's `load_balance_hosts`: `disable` (the hosts in order) or
    /// `random`. Defaults to none (`disable`).
    #[serde(
        default,
        deserialize_with = "text",
        skip_serializing_if = "Option::is_none"
    )]
    pub load_balance_hosts: Option<String>,
    /// Server options sent at connect (`-c statement_timeout=5s`). Defaults
    /// to none.
    #[serde(deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

/// Writes a connection string with its passwords replaced by `***`.
fn redacted<S: Serializer>(url: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&redact_dsn(url)),
        None => serializer.serialize_none(),
    }
}

/// Reads an optional text, taking numbers as their text (environment
/// variables arrive parsed: `PGPOOL_PORT=5432` is a number).
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(
        Option::<Text>::deserialize(deserializer)?.map(|value| match value {
            Text::String(s) => s,
            Text::Int(n) => n.to_string(),
            Text::Float(n) => n.to_string(),
            Text::Bool(b) => b.to_string(),
        }),
    )
}

impl ConnectionSettings {
    /// The separate fields that are set, as libpq keys and values; without
    /// the password.
    fn parts(&self) -> Vec<(&'static str, &str)> {
        [
            ("host", &self.host),
            ("port", &self.port),
            ("user", &self.user),
            ("dbname", &self.dbname),
            ("sslmode", &self.sslmode),
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
            ("application_name", &self.application_name),
            ("target_session_attrs", &self.target_session_attrs),
            ("load_balance_hosts", &self.load_balance_hosts),
            ("options", &self.options),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_deref().map(|value| (key, value)))
        .collect()
    }

    /// The libpq connection string these settings describe (without the
    /// password, which the pool asks for separately).
    ///
    /// # Errors
    ///
    /// When both `url` and separate fields are set.
    pub fn connection_string(&self) -> Result<String, Error> {
        let parts = self.parts();
        match &self.url {
            Some(url) if !parts.is_empty() => {
                let keys: Vec<&str> = parts.iter().map(|(key, _)| *key).collect();
                Err(Error::config(format!(
                    "the connection is given both as `url` and as separate fields ({}); \
                     use one or the other (only `password` may go with `url`)",
                    keys.join(", ")
                )))
            }
            Some(url) => Ok(url.clone()),
            None => Ok(parts
                .iter()
                .map(|(key, value)| format!("{key}={}", quote(value)))
                .collect::<Vec<_>>()
                .join(" ")),
        }
    }
}

/// Quotes a value for a key=value connection string.
fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ConnectionSettings");
        debug.field("url", &self.url.as_deref().map(redact_dsn));
        for (key, value) in self.parts() {
            debug.field(key, &value);
        }
        debug
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Settings {
    /// Reads settings from a file (TOML, YAML or JSON, by its extension),
    /// then from the environment variables that start with `env_prefix`
    /// and an underscore (`PGPOOL_MAX_SIZE=20` sets `max_size`), which win.
    /// Either source may be left out.
    ///
    /// # Errors
    ///
    /// A configuration error when the file cannot be read or parsed, a key
    /// is unknown, or a value is not of the expected kind; the message
    /// names the key and where it came from.
    pub fn load(file: Option<&Path>, env_prefix: Option<&str>) -> Result<Self, Error> {
        Self::load_from(file, env_prefix.map(|prefix| environment(prefix, None)))
    }

    /// Reads settings from a file, as [`load`](Settings::load).
    ///
    /// # Errors
    ///
    /// As for [`load`](Settings::load).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::load(Some(path.as_ref()), None)
    }

    /// Reads settings from environment variables, as
    /// [`load`](Settings::load).
    ///
    /// # Errors
    ///
    /// As for [`load`](Settings::load).
    pub fn from_env(prefix: &str) -> Result<Self, Error> {
        Self::load(None, Some(prefix))
    }

    pub(crate) fn load_from(file: Option<&Path>, env: Option<Environment>) -> Result<Self, Error> {
        let mut builder = Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        if let Some(env) = env {
            builder = builder.add_source(env);
        }
        Self::from_config(builder.build().map_err(invalid)?)
    }

    /// Reads settings from sources layered with the `config` crate, for
    /// layouts [`load`](Settings::load) does not cover.
    ///
    /// # Errors
    ///
    /// As for [`load`](Settings::load).
    pub fn from_config(config: Config) -> Result<Self, Error> {
        let table: Map<String, Value> = config.try_deserialize().map_err(invalid)?;
        let pool_keys = struct_fields::<PoolConfig>();
        let session_keys = struct_fields::<SessionSettings>();
        let connection_keys = struct_fields::<ConnectionSettings>();
        let mut pool = Map::new();
        let mut session = Map::new();
        let mut connection = Map::new();
        let mut unknown = Vec::new();
        for (key, value) in table {
            if pool_keys.contains(&key.as_str()) {
                pool.insert(key, value);
            } else if session_keys.contains(&key.as_str()) {
                session.insert(key, value);
            } else if connection_keys.contains(&key.as_str()) {
                connection.insert(key, value);
            } else {
                let origin = value
                    .origin()
                    .map(|o| format!(" (from {o})"))
                    .unwrap_or_default();
                unknown.push(format!("`{key}`{origin}"));
            }
        }
        if !unknown.is_empty() {
            unknown.sort();
            let known: Vec<&str> = pool_keys
                .iter()
                .chain(session_keys)
                .chain(connection_keys)
                .copied()
                .collect();
            return Err(Error::config(format!(
                "unknown pool setting {}; the settings are: {}",
                unknown.join(", "),
                known.join(", ")
            )));
        }
        Ok(Self {
            pool: Value::new(None, ValueKind::Table(pool))
                .try_deserialize()
                .map_err(invalid)?,
            session: Value::new(None, ValueKind::Table(session))
                .try_deserialize()
                .map_err(invalid)?,
            connection: Value::new(None, ValueKind::Table(connection))
                .try_deserialize()
                .map_err(invalid)?,
        })
    }

    /// A builder for a pool with these settings, to add what settings files
    /// cannot hold (callbacks) before building.
    ///
    /// # Errors
    ///
    /// When the connection is given both as `url` and as separate fields.
    pub fn pool_builder(&self) -> Result<PoolBuilder, Error> {
        let dsn = self.connection.connection_string()?;
        let mut builder = Pool::builder(&dsn)
            .config(self.pool.clone())
            .session(self.session.clone());
        if let Some(password) = self.connection.password.clone() {
            builder = builder.password_fn(move || password.clone());
        }
        Ok(builder)
    }
}

/// Environment variables `PREFIX_KEY`, with numbers and booleans parsed;
/// `vars` replaces the process environment (for tests).
pub(crate) fn environment(
    prefix: &str,
    vars: Option<std::collections::HashMap<String, String>>,
) -> Environment {
    Environment::with_prefix(prefix)
        .prefix_separator("_")
        .try_parsing(true)
        .source(vars)
}

fn invalid(error: config::ConfigError) -> Error {
    Error::config(format!("invalid pool settings: {error}"))
}

impl Pool {
    /// Builds a pool from settings read from files and the environment
    /// ([`Settings::load`](Settings::load)). Use
    /// [`Settings::pool_builder`](Settings::pool_builder) to add
    /// callbacks first.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::build`], and when the connection is given both as
    /// `url` and as separate fields.
    pub fn from_settings(settings: &Settings) -> Result<Pool, Error> {
        settings.pool_builder()?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn env(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(None, Some(environment("PGPOOL", Some(vars))))
    }

    #[test]
    fn environment_variables_set_pool_and_connection_settings() {
        let settings = env(&[
            ("PGPOOL_MAX_SIZE", "20"),
            ("PGPOOL_TIMEOUT", "5s"),
            ("PGPOOL_MAX_LIFETIME", "1h 30m"),
            ("PGPOOL_MAX_IDLE", "none"),
            ("PGPOOL_HEALTH_CHECK", "always"),
            ("PGPOOL_NAME", "42"),
            ("PGPOOL_HOST", "db.example"),
            ("PGPOOL_PORT", "6543"),
            ("PGPOOL_PASSWORD", "s3cret"),
            ("PGPOOL_PGBOUNCER", "true"),
        ])
        .unwrap();
        assert!(settings.session.pgbouncer);
        assert!(!env(&[]).unwrap().session.pgbouncer);
        assert_eq!(settings.pool.max_size, 20);
        assert_eq!(settings.pool.timeout, Duration::from_secs(5));
        assert_eq!(settings.pool.max_lifetime, Some(Duration::from_secs(5400)));
        assert_eq!(settings.pool.max_idle, None);
        assert_eq!(
            settings.pool.health_check,
            tidepool_core::HealthCheck::Always
        );
        assert_eq!(settings.pool.name, "42");
        assert_eq!(settings.pool.min_size, PoolConfig::default().min_size);
        assert_eq!(
            settings.connection.connection_string().unwrap(),
            "host='db.example' port='6543'"
        );
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let error = env(&[("PGPOOL_MAX_SIZ", "20")]).unwrap_err().to_string();
        assert!(error.contains("`max_siz`"), "{error}");
        assert!(error.contains("max_size"), "{error}");
        let error = env(&[("PGPOOL_TIMEOUT", "soon")]).unwrap_err().to_string();
        assert!(error.contains("timeout"), "{error}");
        assert!(error.contains("30s"), "{error}");
        let error = env(&[("PGPOOL_MAX_SIZE", "many")]).unwrap_err().to_string();
        assert!(error.contains("max_size"), "{error}");
        let error = env(&[("PGPOOL_PGBOUNCER", "sometimes")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("pgbouncer"), "{error}");
    }

    #[test]
    fn url_and_separate_fields_do_not_mix_except_the_password() {
        let both = env(&[("PGPOOL_URL", "postgresql://a@b/c"), ("PGPOOL_HOST", "d")]).unwrap();
        let error = both.connection.connection_string().unwrap_err().to_string();
        assert!(error.contains("host"), "{error}");
        let with_password = env(&[
            ("PGPOOL_URL", "postgresql://a@b/c"),
            ("PGPOOL_PASSWORD", "p"),
        ])
        .unwrap();
        assert_eq!(
            with_password.connection.connection_string().unwrap(),
            "postgresql://a@b/c"
        );
    }

    #[test]
    fn values_are_quoted_for_key_value_strings() {
        let settings = ConnectionSettings {
            options: Some("-c search_path='a b'\\x".to_owned()),
            ..ConnectionSettings::default()
        };
        assert_eq!(
            settings.connection_string().unwrap(),
            "options='-c search_path=\\'a b\\'\\\\x'"
        );
    }

    #[test]
    fn debug_output_never_shows_a_password() {
        for (url, shown) in [
            (
                "postgresql://app:pa/ss@db.example:5432/app",
                "postgresql://app:***@db.example:5432/app",
            ),
            (
                "postgresql://app:hunter2@db:5432/app",
                "postgresql://app:***@db:5432/app",
            ),
            ("postgresql://app@db/app", "postgresql://app@db/app"),
        ] {
            let settings = ConnectionSettings {
                url: Some(url.to_owned()),
                password: Some("from-the-environment".to_owned()),
                ..ConnectionSettings::default()
            };
            let debug = format!("{settings:?}");
            assert!(debug.contains(shown), "{debug}");
            assert!(!debug.contains("from-the-environment"), "{debug}");
        }
        let settings = ConnectionSettings {
            url: Some("host=db password='pa/ss w\\'ord'".to_owned()),
            ..ConnectionSettings::default()
        };
        let debug = format!("{settings:?}");
        assert!(debug.contains("host=db password=***"), "{debug}");
    }

    #[test]
    fn settings_serialize_flat_and_read_back_the_same_except_the_password() {
        let dir = std::env::temp_dir().join(format!("tidepool-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("pool.toml");
        std::fs::write(
            &toml,
            "max_size = 20\ntimeout = \"5s\"\nmax_idle = \"none\"\npgbouncer = true\n\
             host = \"db1,db2\"\nport = 6432\nuser = \"app\"\npassword = \"hunter2-xyz\"\n\
             sslmode = \"verify-full\"\ntarget_session_attrs = \"read-write\"\n",
        )
        .unwrap();
        let first = Settings::from_file(&toml).unwrap();
        assert_eq!(first.connection.password.as_deref(), Some("hunter2-xyz"));
        let json = serde_json::to_value(&first).unwrap();
        let text = json.to_string();
        assert!(!text.contains("hunter2-xyz"), "{text}");
        assert!(json.get("password").is_none(), "{text}");
        // Flat keys, as read; unset connection keys left out.
        assert_eq!(json["max_size"], 20, "{text}");
        assert_eq!(json["pgbouncer"], true, "{text}");
        assert_eq!(json["host"], "db1,db2", "{text}");
        assert_eq!(json["port"], "6432", "{text}");
        assert!(
            json.get("url").is_none() && json.get("dbname").is_none(),
            "{text}"
        );

        let written = dir.join("written.json");
        std::fs::write(&written, &text).unwrap();
        let second = Settings::from_file(&written).unwrap();
        assert_eq!(second.connection.password, None);
        assert_eq!(second.pool, first.pool);
        assert_eq!(second.session, first.session);
        assert_eq!(serde_json::to_value(&second).unwrap(), json);

        // A URL is written with its password hidden.
        let settings = Settings {
            connection: ConnectionSettings {
                url: Some("postgresql://app:hunter2-xyz@db/app".to_owned()),
                ..ConnectionSettings::default()
            },
            ..Settings::default()
        };
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["url"], "postgresql://app:***@db/app");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
