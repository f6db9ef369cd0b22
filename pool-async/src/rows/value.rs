//! A dynamically typed column value.

use std::error::Error as StdError;
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use fallible_iterator::FallibleIterator;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use tokio_postgres::types::{FromSql, Kind, Type};
use uuid::Uuid;

use super::numeric;

type DecodeError = Box<dyn StdError + Sync + Send>;

/// One column's value, whatever its type: what [`DictRow`](crate::DictRow)
/// returns, and a type `Row::get` can read any column as.
///
/// Types without a variant of their own (intervals, network addresses,
/// ranges, composites, ...) come as [`Value::Other`], with the server's
/// binary form; cast them to text in the query (`interval::text`) to read
/// them as [`Value::Text`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`, `integer`, `bigint`, `oid` and `"char"`.
    Int(i64),
    /// `real` and `double precision`.
    Float(f64),
    /// `numeric`, as exact decimal text (`"-12.340"`, `"NaN"`,
    /// `"Infinity"`): parse it with the decimal type of your choice.
    Numeric(String),
    /// `text`, `varchar`, `char(n)`, `name`, enums and other text types.
    Text(String),
    /// `bytea`.
    Bytes(Vec<u8>),
    /// `timestamp` (without time zone).
    Timestamp(NaiveDateTime),
    /// `timestamptz`, in UTC.
    TimestampTz(DateTime<Utc>),
    /// `date`.
    Date(NaiveDate),
    /// `time` (without time zone).
    Time(NaiveTime),
    /// `uuid`.
    Uuid(Uuid),
    /// `json` and `jsonb`.
    Json(serde_json::Value),
    /// Any array, multi-dimensional ones as arrays of arrays. NULL
    /// elements are [`Value::Null`].
    Array(Vec<Value>),
    /// A type without a variant of its own.
    Other {
        /// The type's name, such as `interval`.
        type_name: String,
        /// The value in the server's binary form.
        bytes: Vec<u8>,
    },
}

impl Value {
    /// Whether the value is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as text, for `text`-like columns.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(text) | Value::Numeric(text) => Some(text),
            _ => None,
        }
    }

    /// The value as an integer, for integer columns.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The value as a float, for `real` and `double precision`, and for
    /// integers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(value) => Some(*value),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(value) => Some(*value as f64),
            _ => None,
        }
    }

    /// The value as a boolean, for `boolean` columns.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    /// Decodes a non-NULL value of type `ty` from the binary protocol.
    pub(crate) fn decode(ty: &Type, raw: &[u8]) -> Result<Value, DecodeError> {
        let value = match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::CHAR => Value::Int(i8::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => Value::Numeric(numeric::decode(raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Value::Text(String::from_sql(ty, raw)?)
            }
            Type::BYTEA => Value::Bytes(raw.to_vec()),
            Type::TIMESTAMP => Value::Timestamp(NaiveDateTime::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ => Value::TimestampTz(DateTime::<Utc>::from_sql(ty, raw)?),
            Type::DATE => Value::Date(NaiveDate::from_sql(ty, raw)?),
            Type::TIME => Value::Time(NaiveTime::from_sql(ty, raw)?),
            Type::UUID => Value::Uuid(Uuid::from_sql(ty, raw)?),
            Type::JSON | Type::JSONB => Value::Json(serde_json::Value::from_sql(ty, raw)?),
            _ => match ty.kind() {
                Kind::Array(element) => decode_array(element, raw)?,
                Kind::Domain(base) => Value::decode(base, raw)?,
                // Enums travel as their label's text; so do extension types
                // such as citext.
                Kind::Enum(_) => Value::Text(std::str::from_utf8(raw)?.to_owned()),
                Kind::Simple if ty.name() == "citext" => {
                    Value::Text(std::str::from_utf8(raw)?.to_owned())
                }
                _ => Value::Other {
                    type_name: ty.name().to_owned(),
                    bytes: raw.to_vec(),
                },
            },
        };
        Ok(value)
    }
}

/// Decodes an array, nesting one `Value::Array` per dimension.
fn decode_array(element: &Type, raw: &[u8]) -> Result<Value, DecodeError> {
    let array = postgres_protocol::types::array_from_sql(raw)?;
    let lengths: Vec<usize> = array
        .dimensions()
        .map(|dimension| Ok(usize::try_from(dimension.len).unwrap_or(0)))
        .collect()?;
    let mut values: Vec<Value> = array
        .values()
        .map(|raw| match raw {
            Some(raw) => Value::decode(element, raw),
            None => Ok(Value::Null),
        })
        .collect()?;
    // Group the flat values from the innermost dimension outwards.
    for &length in lengths.iter().skip(1).rev() {
        if length == 0 {
            break;
        }
        let mut grouped = Vec::with_capacity(values.len() / length);
        let mut rest = values.into_iter();
        loop {
            let group: Vec<Value> = rest.by_ref().take(length).collect();
            if group.is_empty() {
                break;
            }
            grouped.push(Value::Array(group));
        }
        values = grouped;
    }
    Ok(Value::Array(values))
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, DecodeError> {
        Value::decode(ty, raw)
    }

    fn from_sql_null(_: &Type) -> Result<Self, DecodeError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Lower-case hexadecimal after `\x`, as PostgreSQL prints `bytea`.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 + bytes.len() * 2);
    text.push_str("\\x");
    for byte in bytes {
        use std::fmt::Write;
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Dates and times as ISO 8601 text, the form JSON and serde's chrono
/// support read.
pub(super) fn iso_text(value: &Value) -> Option<String> {
    match value {
        Value::Timestamp(at) => Some(at.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Value::TimestampTz(at) => Some(at.to_rfc3339()),
        Value::Date(date) => Some(date.format("%Y-%m-%d").to_string()),
        Value::Time(time) => Some(time.format("%H:%M:%S%.f").to_string()),
        _ => None,
    }
}

/// Serializes as JSON would show the value: numbers and booleans as
/// themselves, `numeric` as its exact text, `bytea` as `\x` and hex,
/// dates and times as ISO 8601 text, uuids as text, JSON as itself, and
/// arrays as sequences.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_none(),
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::Int(value) => serializer.serialize_i64(*value),
            Value::Float(value) => serializer.serialize_f64(*value),
            Value::Numeric(text) | Value::Text(text) => serializer.serialize_str(text),
            Value::Bytes(bytes) | Value::Other { bytes, .. } => {
                serializer.serialize_str(&hex(bytes))
            }
            Value::Uuid(uuid) => serializer.collect_str(&uuid.hyphenated()),
            Value::Json(json) => json.serialize(serializer),
            Value::Array(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
            Value::Timestamp(_) | Value::TimestampTz(_) | Value::Date(_) | Value::Time(_) => {
                serializer.serialize_str(&iso_text(self).unwrap_or_default())
            }
        }
    }
}

impl fmt::Display for Value {
    /// The value as text: what [`Serialize`] gives for strings, without
    /// quotes; `NULL` for NULL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Float(value) => write!(f, "{value}"),
            Value::Numeric(text) | Value::Text(text) => f.write_str(text),
            Value::Bytes(bytes) | Value::Other { bytes, .. } => f.write_str(&hex(bytes)),
            Value::Uuid(uuid) => write!(f, "{uuid}"),
            Value::Json(json) => write!(f, "{json}"),
            Value::Array(values) => {
                f.write_str("{")?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("}")
            }
            Value::Timestamp(_) | Value::TimestampTz(_) | Value::Date(_) | Value::Time(_) => {
                f.write_str(&iso_text(self).unwrap_or_default())
            }
        }
    }
}
