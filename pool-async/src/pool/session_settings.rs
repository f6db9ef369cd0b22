//! The session settings: how the pool uses the server's sessions, as a
//! settings file and the builder hold them.

use serde::{Deserialize, Serialize};

/// How the pool uses the server's sessions: the PostgreSQL settings of a
/// pool that [`PoolConfig`](crate::PoolConfig) (which knows no database) does not hold. Its
/// `Default` is the builder's: [`PoolBuilder`](crate::PoolBuilder) starts from it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionSettings {
    /// The longest a statement may run before it is cancelled on the
    /// server and fails with [`Error::is_query_timeout`](crate::Error::is_query_timeout);
    /// `"none"` for no limit. See [`PoolBuilder::query_timeout`](crate::PoolBuilder::query_timeout). Defaults
    /// to none.
    #[serde(
        deserialize_with = "tidepool_core::duration::optional",
        serialize_with = "tidepool_core::duration::write_optional"
    )]
    pub query_timeout: Option<std::time::Duration>,
    /// Executions of a statement on a connection before it is kept
    /// prepared; `"none"` turns the statement cache off. See
    /// [`PoolBuilder::prepare_threshold`](crate::PoolBuilder::prepare_threshold). Defaults to 5.
    #[serde(
        deserialize_with = "threshold::read",
        serialize_with = "threshold::write"
    )]
    pub prepare_threshold: Option<u32>,
    /// The most statements each connection keeps prepared. See
    /// [`PoolBuilder::prepared_max`](crate::PoolBuilder::prepared_max). Defaults to 100.
    pub prepared_max: usize,
    /// SQL run on every returned connection, such as `DISCARD ALL`. See
    /// [`PoolBuilder::reset_sql`](crate::PoolBuilder::reset_sql). Defaults to none.
    pub reset_sql: Option<String>,
    /// Makes the pool safe behind a transaction pooler (PgBouncer in
    /// transaction mode): no named prepared statement outside a
    /// transaction, the statement cache off; see
    /// [`PoolBuilder::pgbouncer`](crate::PoolBuilder::pgbouncer). Defaults to false.
    pub pgbouncer: bool,
    /// Records every statement's duration in the
    /// `db.client.operation.duration` histogram; see
    /// [`PoolBuilder::statement_metrics`](crate::PoolBuilder::statement_metrics). Defaults to false.
    pub statement_metrics: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            query_timeout: None,
            prepare_threshold: Some(5),
            prepared_max: 100,
            reset_sql: None,
            pgbouncer: false,
            statement_metrics: false,
        }
    }
}

/// `prepare_threshold` in settings files: a number, or `"none"`.
mod threshold {
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    pub(super) fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u32>, D::Error> {
        struct Threshold;
        impl Visitor<'_> for Threshold {
            type Value = Option<u32>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of executions, or \"none\" to turn the statement cache off")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<u32>, E> {
                u32::try_from(n)
                    .map(Some)
                    .map_err(|_| E::custom(format!("{n} is too large")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<u32>, E> {
                u32::try_from(n)
                    .map(Some)
                    .map_err(|_| E::custom(format!("{n} is not a number of executions")))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<u32>, E> {
                if text.eq_ignore_ascii_case("none") {
                    return Ok(None);
                }
                text.trim().parse().map(Some).map_err(|_| {
                    E::custom(format!(
                        "{text:?} is not a number of executions, nor \"none\""
                    ))
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Option<u32>, E> {
                Ok(None)
            }
        }
        deserializer.deserialize_any(Threshold)
    }

    pub(super) fn write<S: Serializer>(
        value: &Option<u32>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(n) => serializer.serialize_u32(*n),
            None => serializer.serialize_str("none"),
        }
    }
}
