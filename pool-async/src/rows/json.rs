//! Rows as JSON objects.

use tokio_postgres::Row;

use super::dict::decode_columns;
use super::error::RowError;
use super::factory::RowFactory;

/// Rows as JSON objects ([`serde_json::Value::Object`]), keys in column
/// order, values as [`Value`](crate::Value) serializes them: numbers,
/// booleans and NULL as themselves, `numeric` as its exact text, `bytea`
/// as `\x` and hex, dates and times as ISO 8601 text, `json` and `jsonb`
/// nested, arrays as arrays. When two columns share a name, the last one
/// wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonRow;

impl RowFactory for JsonRow {
    type Output = serde_json::Value;

    fn make(&self, row: Row) -> Result<serde_json::Value, RowError> {
        let mut object = serde_json::Map::with_capacity(row.len());
        for (name, value) in decode_columns(&row)? {
            let json = serde_json::to_value(&value).map_err(|error| {
                RowError::with_source(format!("cannot turn column `{name}` into JSON"), error)
            })?;
            object.insert(name, json);
        }
        Ok(serde_json::Value::Object(object))
    }
}
