//! Rows as column names mapped to dynamic values.

use serde::ser::{Serialize, SerializeMap, Serializer};
use tokio_postgres::Row;

use super::error::RowError;
use super::factory::RowFactory;
use super::value::Value;

/// Rows as [`Dict`]s: each column's name and its [`Value`], in column
/// order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DictRow;

impl RowFactory for DictRow {
    type Output = Dict;

    fn make(&self, row: Row) -> Result<Dict, RowError> {
        Ok(Dict {
            entries: decode_columns(&row)?,
        })
    }
}

/// Decodes every column of a row into its name and value.
pub(super) fn decode_columns(row: &Row) -> Result<Vec<(String, Value)>, RowError> {
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| Ok((column.name().to_owned(), decode_value(row, i)?)))
        .collect()
}

/// Decodes the value of column `index`, with an error naming the column.
pub(super) fn decode_value(row: &Row, index: usize) -> Result<Value, RowError> {
    row.try_get::<_, Value>(index).map_err(|error| {
        let column = &row.columns()[index];
        RowError::new(format!(
            "cannot decode column `{}` (type {}): {}",
            column.name(),
            column.type_(),
            super::factory::cause(&error),
        ))
    })
}

/// A row as column names and values, in column order, made by
/// [`DictRow`].
///
/// When two columns share a name, both are kept; [`get`](Dict::get) finds
/// the first. It serializes as a map (a JSON object) in column order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dict {
    entries: Vec<(String, Value)>,
}

impl Dict {
    /// The value of the first column named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(column, _)| column == name)
            .map(|(_, value)| value)
    }

    /// The value of the column at `index`, counted from 0.
    pub fn get_index(&self, index: usize) -> Option<&Value> {
        self.entries.get(index).map(|(_, value)| value)
    }

    /// The column names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// The values, in column order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// The names and values, in column order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes the value of the first column named `name` out of the row,
    /// leaving [`Value::Null`] in its place.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.entries
            .iter_mut()
            .find(|(column, _)| column == name)
            .map(|(_, value)| std::mem::replace(value, Value::Null))
    }
}

impl IntoIterator for Dict {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(String, Value)> for Dict {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Dict {
            entries: iter.into_iter().collect(),
        }
    }
}

impl Serialize for Dict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}
