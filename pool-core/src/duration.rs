//! Durations in settings files: "30s", "5m", "1h 30m", or seconds. The
//! serde helpers of the pool's settings, public for the PostgreSQL crates'
//! own settings; not part of the API.

use std::fmt;
use std::time::Duration;

use serde::Serializer;
use serde::de::{self, Deserializer, Visitor};

const EXPECTED: &str = "a duration such as \"30s\", \"5m\" or \"1h 30m\", or a number of seconds";

/// Reads a duration written the way people write them (humantime), or a
/// whole or fractional number of seconds.
pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// Reads an optional duration: as [`required`], or `"none"`, `"off"`,
/// `"never"` (or a null) for no duration.
pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    deserializer.deserialize_any(OptionalVisitor)
}

/// Writes a duration as it is read: humantime's form, such as `"30s"`,
/// `"5m"` or `"1h 30m"`.
pub fn write<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_duration(*duration))
}

/// Writes an optional duration as it is read: as [`write`], or `"none"`.
pub fn write_optional<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => write(duration, serializer),
        None => serializer.serialize_str("none"),
    }
}

/// Parses a duration string; `None` when it is not one.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?} ({e}); expected {EXPECTED}"))
}

fn from_seconds<E: de::Error>(seconds: f64) -> Result<Duration, E> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| E::custom(format!("invalid duration {seconds}; expected {EXPECTED}")))
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Duration, E> {
        u64::try_from(seconds)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("invalid duration {seconds}; expected {EXPECTED}")))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Duration, E> {
        from_seconds(seconds)
    }
}

struct OptionalVisitor;

impl<'de> Visitor<'de> for OptionalVisitor {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EXPECTED}, or \"none\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<Duration>, E> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "off" | "never" | "" => Ok(None),
            _ => DurationVisitor.visit_str(text).map(Some),
        }
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Option<Duration>, E> {
        DurationVisitor.visit_u64(seconds).map(Some)
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Option<Duration>, E> {
        DurationVisitor.visit_i64(seconds).map(Some)
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Option<Duration>, E> {
        DurationVisitor.visit_f64(seconds).map(Some)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Duration>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Duration>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Reads a text setting, taking numbers as their text (an environment
/// variable `PGPOOL_NAME=42` arrives as a number).
pub fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct TextVisitor;

    impl Visitor<'_> for TextVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a text")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<String, E> {
            Ok(n.to_string())
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<String, E> {
            Ok(n.to_string())
        }

        fn visit_f64<E: de::Error>(self, n: f64) -> Result<String, E> {
            Ok(n.to_string())
        }

        fn visit_bool<E: de::Error>(self, b: bool) -> Result<String, E> {
            Ok(b.to_string())
        }
    }

    deserializer.deserialize_any(TextVisitor)
}
