//! Parameter types as psycopg and libpq send them: strings with no type,
//! in text, for the server to take the type from the statement (a `uuid`
//! column compared with `$1` makes `$1` a `uuid`); other values typed by
//! their Rust type, in binary.

use std::error::Error as StdError;
use std::sync::LazyLock;

use bytes::BytesMut;
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type, WrongType};

/// The types tried for a parameter, in order: the first one its Rust type
/// accepts is used. Integers take their own width, and so on; the server
/// converts from there as it would for a typed literal. A value that takes
/// `text` is a string, sent untyped instead.
static CANDIDATES: [Type; 34] = [
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

/// "No type": OID 0 in a Parse message lets the server infer the
/// parameter's type from the statement, as libpq and psycopg send strings.
static UNSPECIFIED: LazyLock<Type> =
    LazyLock::new(|| Type::new("unspecified".into(), 0, Kind::Pseudo, "pg_catalog".into()));

/// A parameter as it is sent.
#[derive(Debug)]
pub(crate) enum Bound<'a> {
    /// Encoded by its Rust type, for the statement's type of it.
    Value(&'a (dyn ToSql + Sync)),
    /// A string: its text sent as it is, in text format, whatever type the
    /// server gave the parameter (the server parses it, as a literal).
    Text(&'a (dyn ToSql + Sync)),
}

impl ToSql for Bound<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Bound::Value(value) => value.to_sql_checked(ty, out),
            // A string's binary `text` encoding is its text.
            Bound::Text(value) => value.to_sql_checked(&Type::TEXT, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked by the wrapped value, in `to_sql`.
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        self.to_sql(ty, out)
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self {
            Bound::Value(value) => value.encode_format(ty),
            Bound::Text(_) => Format::Text,
        }
    }
}

/// A statement's parameters, ready to send.
pub(crate) struct Parameters<'a> {
    /// Each value as it is sent.
    pub(crate) bound: Vec<Bound<'a>>,
    /// The OID of the type each one is declared with in a Parse message (0
    /// for a string: [`UNSPECIFIED`]); `None` when a value's Rust type takes
    /// none of the candidates (a type of the user's own), whose statement
    /// must be prepared for the server to say the types. The OIDs key the
    /// statement cache: the same text run with other types is another
    /// statement.
    oids: Option<Vec<u32>>,
}

impl<'a> Parameters<'a> {
    /// Sorts `params` into strings and typed values.
    pub(crate) fn new(params: &[&'a (dyn ToSql + Sync)]) -> Self {
        let mut bound = Vec::with_capacity(params.len());
        let mut oids = Some(Vec::with_capacity(params.len()));
        with_scratch(|scratch| {
            for param in params {
                match infer(*param, scratch) {
                    Some(ty) if *ty == Type::TEXT => {
                        bound.push(Bound::Text(*param));
                        if let Some(oids) = &mut oids {
                            oids.push(UNSPECIFIED_OID);
                        }
                    }
                    Some(ty) => {
                        bound.push(Bound::Value(*param));
                        if let Some(oids) = &mut oids {
                            oids.push(ty.oid());
                        }
                    }
                    None => {
                        bound.push(Bound::Value(*param));
                        oids = None;
                    }
                }
            }
        });
        Self { bound, oids }
    }

    /// The values, to bind to a prepared statement.
    pub(crate) fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.bound
            .iter()
            .map(|bound| bound as &(dyn ToSql + Sync))
            .collect()
    }

    /// The OIDs of the declared types (0 for a string); `None` when a type
    /// cannot be taken from its value.
    pub(crate) fn oids(&self) -> Option<&[u32]> {
        self.oids.as_deref()
    }

    /// The declared types, to prepare the statement with; `None` when a
    /// type cannot be taken from its value.
    pub(crate) fn types(&self) -> Option<Vec<Type>> {
        Some(
            self.oids
                .as_ref()?
                .iter()
                .map(|&oid| declared(oid))
                .collect(),
        )
    }

    /// The values with their declared types, to run unnamed; `None` when a
    /// type cannot be taken from its value.
    pub(crate) fn typed(&self) -> Option<Vec<(&(dyn ToSql + Sync), Type)>> {
        let oids = self.oids.as_ref()?;
        Some(
            self.bound
                .iter()
                .zip(oids)
                .map(|(bound, &oid)| (bound as &(dyn ToSql + Sync), declared(oid)))
                .collect(),
        )
    }
}

/// The OID that declares no type.
const UNSPECIFIED_OID: u32 = 0;

/// The type an OID of [`Parameters::oids`] declares.
fn declared(oid: u32) -> Type {
    // Every OID there is a candidate's or the unspecified one.
    Type::from_oid(oid).unwrap_or_else(|| UNSPECIFIED.clone())
}

/// The largest buffer kept between statements for trial encodings: a
/// larger one (a big `bytea` value's) is let go.
const SCRATCH_KEPT: usize = 64 * 1024;

thread_local! {
    /// The buffer that the trial encodings of [`infer`] write to, kept per
    /// thread so that a statement does not allocate one.
    static SCRATCH: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// Runs `work` with the thread's scratch buffer (or a new one, should the
/// thread's be in use).
fn with_scratch<T>(work: impl FnOnce(&mut BytesMut) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let result = work(&mut scratch);
            if scratch.capacity() > SCRATCH_KEPT {
                *scratch = BytesMut::new();
            }
            result
        }
        Err(_) => work(&mut BytesMut::new()),
    })
}

/// The first candidate type that `param` accepts.
fn infer(param: &(dyn ToSql + Sync), scratch: &mut BytesMut) -> Option<&'static Type> {
    for ty in &CANDIDATES {
        scratch.clear();
        match param.to_sql_checked(ty, scratch) {
            Err(error) if error.is::<WrongType>() => continue,
            // Accepted (an encoding error shows again when it runs).
            _ => return Some(ty),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_untyped_text_and_other_values_keep_their_types() {
        let text = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        let owned = String::from("x");
        let none: Option<&str> = None;
        let params: [&(dyn ToSql + Sync); 4] = [&text, &owned, &7i32, &none];
        let parameters = Parameters::new(&params);
        assert_eq!(parameters.oids(), Some(&[0, 0, Type::INT4.oid(), 0][..]));
        let mut out = BytesMut::new();
        // Sent as its text for a parameter the server typed `uuid`.
        let bound = &parameters.bound[0];
        assert_eq!(bound.encode_format(&Type::UUID) as i16, Format::Text as i16);
        assert!(matches!(
            bound.to_sql_checked(&Type::UUID, &mut out),
            Ok(IsNull::No)
        ));
        assert_eq!(&out[..], text.as_bytes());
        // Integers stay binary and checked against the statement's type.
        let int = &parameters.bound[2];
        assert_eq!(int.encode_format(&Type::INT4) as i16, Format::Binary as i16);
        assert!(int.to_sql_checked(&Type::UUID, &mut out).is_err());
        assert!(matches!(
            parameters.bound[3].to_sql_checked(&Type::UUID, &mut out),
            Ok(IsNull::Yes)
        ));
    }

    #[test]
    fn the_scratch_buffer_of_a_large_value_is_not_kept() {
        let big = vec![7u8; 4 * SCRATCH_KEPT];
        let params: [&(dyn ToSql + Sync); 1] = [&big];
        let parameters = Parameters::new(&params);
        assert_eq!(parameters.oids(), Some(&[Type::BYTEA.oid()][..]));
        let kept = SCRATCH.with(|cell| cell.borrow().capacity());
        assert!(kept <= SCRATCH_KEPT, "kept {kept} bytes");
        // A small value's buffer stays for the next statement.
        let params: [&(dyn ToSql + Sync); 1] = [&7i64];
        Parameters::new(&params);
        let kept = SCRATCH.with(|cell| cell.borrow().capacity());
        assert!(kept > 0 && kept <= SCRATCH_KEPT, "kept {kept} bytes");
    }

    #[test]
    fn a_type_of_the_users_own_has_no_declared_types() {
        #[derive(Debug)]
        struct Mine;
        impl ToSql for Mine {
            fn to_sql(
                &self,
                _: &Type,
                _: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
                Ok(IsNull::Yes)
            }
            fn accepts(ty: &Type) -> bool {
                ty.name() == "mine"
            }
            tokio_postgres::types::to_sql_checked!();
        }
        let params: [&(dyn ToSql + Sync); 2] = [&"a", &Mine];
        let parameters = Parameters::new(&params);
        assert!(parameters.typed().is_none());
        assert_eq!(parameters.values().len(), 2);
    }
}
