//! Parameter types for statements run unnamed, without a prepare.

use bytes::BytesMut;
use tokio_postgres::types::{ToSql, Type, WrongType};

use crate::error::Error;

/// The types tried for a parameter, in order: the first one its Rust type
/// accepts is used. Text-like values become `text`, integers their own
/// width, and so on; the server converts from there as it would for a
/// typed literal.
const CANDIDATES: &[Type] = &[
    Type::BOOL,
    Type::INT2,
    Type::INT4,
    Type::INT8,
    Type::FLOAT4,
    Type::FLOAT8,
    Type::NUMERIC,
    Type::TEXT,
    Type::BYTEA,
    Type::TIMESTAMPTZ,
    Type::TIMESTAMP,
    Type::DATE,
    Type::TIME,
    Type::INTERVAL,
    Type::UUID,
    Type::JSONB,
    Type::JSON,
    Type::INET,
    Type::MACADDR,
    Type::OID,
    Type::CHAR,
    Type::BOOL_ARRAY,
    Type::INT2_ARRAY,
    Type::INT4_ARRAY,
    Type::INT8_ARRAY,
    Type::FLOAT4_ARRAY,
    Type::FLOAT8_ARRAY,
    Type::TEXT_ARRAY,
    Type::BYTEA_ARRAY,
    Type::TIMESTAMPTZ_ARRAY,
    Type::TIMESTAMP_ARRAY,
    Type::DATE_ARRAY,
    Type::UUID_ARRAY,
    Type::JSONB_ARRAY,
];

/// The PostgreSQL type of each parameter, from the Rust values.
///
/// # Errors
///
/// When a parameter's Rust type accepts none of the candidate types (a
/// custom type, say): such statements need the statement cache on.
pub(crate) fn parameter_types<'a>(
    params: &'a [&'a (dyn ToSql + Sync)],
) -> Result<Vec<(&'a (dyn ToSql + Sync), Type)>, Error> {
    let mut scratch = BytesMut::new();
    params
        .iter()
        .enumerate()
        .map(|(index, param)| {
            for ty in CANDIDATES {
                scratch.clear();
                match param.to_sql_checked(ty, &mut scratch) {
                    Err(error) if error.is::<WrongType>() => continue,
                    // Accepted (an encoding error shows again when it runs).
                    _ => return Ok((*param, ty.clone())),
                }
            }
            Err(Error::config(format!(
                "the type of parameter ${} cannot be inferred without preparing the \
                 statement; turn the statement cache on (prepare_threshold), or pass a \
                 value of a built-in type",
                index + 1
            )))
        })
        .collect()
}
