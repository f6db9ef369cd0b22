//! Rows as any type that serde can deserialize.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{SeqDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use tokio_postgres::Row;

use super::dict::decode_value;
use super::error::RowError;
use super::factory::RowFactory;
use super::value::{Value, hex, iso_text};

/// Rows as `T`, any type that implements [`serde::Deserialize`]: each
/// column fills the field of the same name (rename columns with `AS`, or
/// fields with `#[serde(rename)]`). Make one with [`class_row`].
///
/// - A field without a column is an error naming it, unless the field is
///   an `Option` (then `None`) or has `#[serde(default)]`.
/// - A column without a field is ignored, unless `T` has
///   `#[serde(deny_unknown_fields)]`.
/// - A value that does not fit its field is an error naming the column,
///   its SQL type and the type expected. NULL fits `Option` fields only.
/// - Integers fit any integer field they are in range of; `numeric` fits
///   strings, floats and integers; dates and times fit strings and
///   chrono's types (with chrono's `serde` feature); uuids fit strings and
///   `uuid::Uuid` (with its `serde` feature); `json` and `jsonb` fit any
///   type serde_json could give; arrays fit `Vec`s; text fits unit enum
///   variants of the same name (PostgreSQL enums).
/// - A tuple `T` takes the columns in order.
pub struct ClassRow<T>(PhantomData<fn() -> T>);

/// The factory that builds each row as `T` through serde.
pub fn class_row<T: DeserializeOwned + Send>() -> ClassRow<T> {
    ClassRow(PhantomData)
}

impl<T> Clone for ClassRow<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ClassRow<T> {}

impl<T> fmt::Debug for ClassRow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClassRow<{}>", std::any::type_name::<T>())
    }
}

impl<T: DeserializeOwned + Send> RowFactory for ClassRow<T> {
    type Output = T;

    fn make(&self, row: Row) -> Result<T, RowError> {
        let columns = row
            .columns()
            .iter()
            .enumerate()
            .map(|(i, column)| {
                Ok(Column {
                    column,
                    value: decode_value(&row, i)?,
                })
            })
            .collect::<Result<Vec<Column<'_>>, RowError>>()?;
        T::deserialize(RowDeserializer { columns }).map_err(|error| {
            let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
            let target = std::any::type_name::<T>();
            let message = match error {
                DeError::MissingField(field) => format!(
                    "cannot build {target}: the row has no column `{field}`; its columns are {}. \
                     Name a column `{field}` in the query (`... AS {field}`), or make the field \
                     an Option or give it #[serde(default)]",
                    list(&names)
                ),
                DeError::UnknownField { field, expected } => format!(
                    "cannot build {target}: column `{field}` matches no field; the fields are {}. \
                     Leave the column out of the query or rename it with AS",
                    list(expected)
                ),
                DeError::Column { column, message } => {
                    format!("cannot build {target}: column `{column}` {message}")
                }
                DeError::Custom(message) => format!("cannot build {target}: {message}"),
            };
            RowError::new(message)
        })
    }
}

fn list<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A decoded column, beside the row's description of it (its name, and
/// its type for the error messages).
struct Column<'r> {
    column: &'r tokio_postgres::Column,
    value: Value,
}

/// The deserialization errors, kept apart so that the message can name
/// the row's columns or the column at fault.
#[derive(Debug)]
enum DeError {
    MissingField(&'static str),
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    Column {
        column: String,
        message: String,
    },
    Custom(String),
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::MissingField(field) => write!(f, "missing field `{field}`"),
            DeError::UnknownField { field, .. } => write!(f, "unknown field `{field}`"),
            DeError::Column { column, message } => write!(f, "column `{column}` {message}"),
            DeError::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<M: fmt::Display>(message: M) -> Self {
        DeError::Custom(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::MissingField(field)
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::UnknownField {
            field: field.to_owned(),
            expected,
        }
    }
}

/// The whole row: a map of column names to values, or a sequence of values
/// for tuples.
struct RowDeserializer<'r> {
    columns: Vec<Column<'r>>,
}

impl<'de> Deserializer<'de> for RowDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(ColumnsAccess {
            columns: self.columns.into_iter(),
            current: None,
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_seq(ColumnsAccess {
            columns: self.columns.into_iter(),
            current: None,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct map struct enum
        identifier ignored_any
    }
}

/// Walks the columns, as map entries or as sequence elements.
struct ColumnsAccess<'r> {
    columns: std::vec::IntoIter<Column<'r>>,
    /// The column whose name was just given as a key.
    current: Option<Column<'r>>,
}

impl ColumnsAccess<'_> {
    fn value<'de, S: DeserializeSeed<'de>>(
        column: Column<'_>,
        seed: S,
    ) -> Result<S::Value, DeError> {
        let was_null = column.value.is_null();
        let (name, type_name) = (column.column.name(), column.column.type_().name());
        seed.deserialize(ValueDeserializer(column.value))
            .map_err(|error| match error {
                DeError::Custom(message) if was_null => DeError::Column {
                    column: name.to_owned(),
                    message: format!(
                        "(type {type_name}) is NULL, which the field cannot hold ({message}); \
                         make the field an Option"
                    ),
                },
                DeError::Custom(message) => DeError::Column {
                    column: name.to_owned(),
                    message: format!("(type {type_name}): {message}"),
                },
                other => other,
            })
    }
}

impl<'de> MapAccess<'de> for ColumnsAccess<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(column) = self.columns.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(column.column.name().into_deserializer())?;
        self.current = Some(column);
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.current.take() {
            Some(column) => Self::value(column, seed),
            None => Err(DeError::Custom(
                "a value was asked for before its column's name".to_owned(),
            )),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.columns.len())
    }
}

impl<'de> SeqAccess<'de> for ColumnsAccess<'_> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        match self.columns.next() {
            Some(column) => Self::value(column, seed).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.columns.len())
    }
}

/// One value.
struct ValueDeserializer(Value);

impl<'de> IntoDeserializer<'de, DeError> for ValueDeserializer {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl ValueDeserializer {
    /// A `numeric` read by a float field.
    fn numeric_as_float<'de, V: Visitor<'de>>(text: &str, visitor: V) -> Result<V::Value, DeError> {
        match text.parse::<f64>() {
            Ok(value) => visitor.visit_f64(value),
            Err(_) => visitor.visit_str(text),
        }
    }

    /// A `numeric` read by an integer field: whole values only.
    fn numeric_as_integer<'de, V: Visitor<'de>>(
        text: &str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let whole = match text.split_once('.') {
            Some((whole, fraction)) if fraction.bytes().all(|b| b == b'0') => whole,
            Some(_) => {
                return Err(DeError::Custom(format!(
                    "invalid value: numeric {text} has a fraction, expected an integer"
                )));
            }
            None => text,
        };
        if let Ok(value) = whole.parse::<i64>() {
            visitor.visit_i64(value)
        } else if let Ok(value) = whole.parse::<u64>() {
            visitor.visit_u64(value)
        } else if let Ok(value) = whole.parse::<i128>() {
            visitor.visit_i128(value)
        } else {
            visitor.visit_str(text)
        }
    }
}

macro_rules! numeric_aware {
    ($($method:ident => $convert:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                match self.0 {
                    Value::Numeric(text) => Self::$convert(&text, visitor),
                    other => ValueDeserializer(other).deserialize_any(visitor),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for ValueDeserializer {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(value),
            Value::Int(value) => visitor.visit_i64(value),
            Value::Float(value) => visitor.visit_f64(value),
            Value::Numeric(text) | Value::Text(text) => visitor.visit_string(text),
            Value::Bytes(bytes) => visitor.visit_byte_buf(bytes),
            Value::Uuid(uuid) => visitor.visit_string(uuid.hyphenated().to_string()),
            Value::Json(json) => json
                .deserialize_any(visitor)
                .map_err(|error| DeError::Custom(error.to_string())),
            Value::Array(values) => {
                let mut seq = SeqDeserializer::new(values.into_iter().map(ValueDeserializer));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Other { type_name, bytes } => Err(DeError::Custom(format!(
                "has no Rust counterpart for type {type_name} (binary {}); cast it to text \
                 in the query",
                hex(&bytes)
            ))),
            temporal => visitor.visit_string(iso_text(&temporal).unwrap_or_default()),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null | Value::Json(serde_json::Value::Null) => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            // `Vec<u8>` asks for a sequence of bytes.
            Value::Bytes(bytes) => {
                let mut seq = SeqDeserializer::new(bytes.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    /// A column without a field: skipped whatever its type.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Text(text) => {
                let text: StringDeserializer<DeError> = text.into_deserializer();
                text.deserialize_enum(name, variants, visitor)
            }
            Value::Json(json) => json
                .deserialize_enum(name, variants, visitor)
                .map_err(|error| DeError::Custom(error.to_string())),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    numeric_aware! {
        deserialize_f32 => numeric_as_float,
        deserialize_f64 => numeric_as_float,
        deserialize_i8 => numeric_as_integer,
        deserialize_i16 => numeric_as_integer,
        deserialize_i32 => numeric_as_integer,
        deserialize_i64 => numeric_as_integer,
        deserialize_i128 => numeric_as_integer,
        deserialize_u8 => numeric_as_integer,
        deserialize_u16 => numeric_as_integer,
        deserialize_u32 => numeric_as_integer,
        deserialize_u64 => numeric_as_integer,
        deserialize_u128 => numeric_as_integer,
    }

    serde::forward_to_deserialize_any! {
        bool char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct
        identifier
    }
}
