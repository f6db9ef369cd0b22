//! When to test a connection before handing it out.

use std::time::Duration;

/// When the pool tests an idle connection (with
/// [`Manager::check`](crate::Manager::check)) before handing it out.
///
/// A connection that fails the test is closed and the checkout goes on with
/// another one, within the same deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthCheck {
    /// Never test: a broken connection is found by the first statement that
    /// uses it.
    Never,
    /// Test at every checkout: safest, and a round trip to the server each
    /// time.
    Always,
    /// Test only a connection that was idle longer than this: a connection
    /// used a moment ago is very likely fine (HikariCP's rule).
    IdleLongerThan(Duration),
}

impl Default for HealthCheck {
    /// Test connections idle longer than 1 s.
    fn default() -> Self {
        HealthCheck::IdleLongerThan(Duration::from_secs(1))
    }
}

impl HealthCheck {
    /// Whether a connection idle for `idle` must be tested.
    pub(crate) fn is_due(self, idle: Duration) -> bool {
        match self {
            HealthCheck::Never => false,
            HealthCheck::Always => true,
            HealthCheck::IdleLongerThan(threshold) => idle > threshold,
        }
    }
}

impl serde::Serialize for HealthCheck {
    /// Writes `"never"`, `"always"`, or the threshold as a duration
    /// (`"1s"`), as it is read.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            HealthCheck::Never => serializer.serialize_str("never"),
            HealthCheck::Always => serializer.serialize_str("always"),
            HealthCheck::IdleLongerThan(threshold) => crate::duration::write(threshold, serializer),
        }
    }
}

impl<'de> serde::Deserialize<'de> for HealthCheck {
    /// Reads `"never"`, `"always"`, or a duration (`"1s"`, `"500ms"`, or a
    /// number of seconds): test connections idle longer than it.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        struct Policy;

        impl serde::de::Visitor<'_> for Policy {
            type Value = HealthCheck;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"never\", \"always\", or a duration such as \"1s\" (test connections idle longer than it)")
            }

            fn visit_str<E: Error>(self, text: &str) -> Result<HealthCheck, E> {
                match text.trim().to_ascii_lowercase().as_str() {
                    "never" => Ok(HealthCheck::Never),
                    "always" => Ok(HealthCheck::Always),
                    _ => crate::duration::parse(text)
                        .map(HealthCheck::IdleLongerThan)
                        .map_err(|e| E::custom(format!("{e}, or \"never\" or \"always\""))),
                }
            }

            fn visit_u64<E: Error>(self, seconds: u64) -> Result<HealthCheck, E> {
                Ok(HealthCheck::IdleLongerThan(Duration::from_secs(seconds)))
            }

            fn visit_i64<E: Error>(self, seconds: i64) -> Result<HealthCheck, E> {
                u64::try_from(seconds)
                    .map(|s| HealthCheck::IdleLongerThan(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a negative duration"))
            }

            fn visit_f64<E: Error>(self, seconds: f64) -> Result<HealthCheck, E> {
                Duration::try_from_secs_f64(seconds)
                    .map(HealthCheck::IdleLongerThan)
                    .map_err(|_| E::custom("an invalid duration"))
            }
        }

        deserializer.deserialize_any(Policy)
    }
}
