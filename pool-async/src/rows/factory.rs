//! The row factory trait, and the factories that need no decoding of
//! their own: the protocol row, the first column, and closures.

use std::error::Error as StdError;
use std::fmt;
use std::marker::PhantomData;

use tokio_postgres::Row;
use tokio_postgres::types::FromSqlOwned;

use super::error::RowError;

/// Turns a protocol row into the caller's type.
///
/// Built in: [`TupleRow`] (the protocol row, the default),
/// [`DictRow`](crate::DictRow) (column name to [`Value`](crate::Value), in
/// column order), [`JsonRow`](crate::JsonRow) (a JSON object),
/// [`ClassRow`](crate::ClassRow) (any `T: serde::Deserialize`, columns
/// matched to fields by name) and [`ScalarRow`] (the first column). Any
/// closure `Fn(Row) -> Result<T, E>` is a factory too, when `E` converts
/// into a boxed error:
///
/// ```
/// use tidepool_async::{Row, RowFactory};
///
/// let names = |row: Row| row.try_get::<_, String>("name");
/// fn takes_factory(_: &impl RowFactory<Output = String>) {}
/// takes_factory(&names);
/// ```
///
/// A factory used as the pool's or a connection's default must also be
/// `Clone`: each checkout gets its own copy.
pub trait RowFactory: Send + Sync {
    /// What each row becomes.
    type Output: Send;

    /// Builds one row.
    ///
    /// # Errors
    ///
    /// A [`RowError`] saying what in the row did not fit.
    fn make(&self, row: Row) -> Result<Self::Output, RowError>;

    /// Builds every row of a result. The default calls
    /// [`make`](RowFactory::make) on each row in order.
    ///
    /// # Errors
    ///
    /// The first row's error.
    fn make_all(&self, rows: Vec<Row>) -> Result<Vec<Self::Output>, RowError> {
        rows.into_iter().map(|row| self.make(row)).collect()
    }
}

/// The protocol row itself, [`tokio_postgres::Row`]: values read by
/// position or name with `get` and `try_get`. The pool's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TupleRow;

impl RowFactory for TupleRow {
    type Output = Row;

    fn make(&self, row: Row) -> Result<Row, RowError> {
        Ok(row)
    }

    fn make_all(&self, rows: Vec<Row>) -> Result<Vec<Row>, RowError> {
        Ok(rows)
    }
}

/// The first column of each row as `T`, for queries that return one value
/// per row (`SELECT id FROM ...`, `SELECT count(*) ...`). Make one with
/// [`scalar_row`].
///
/// `T` is any type tokio-postgres reads (`i32`, `String`, `Option<T>` for
/// a column that may be NULL, ...).
pub struct ScalarRow<T>(PhantomData<fn() -> T>);

/// The factory that returns the first column of each row as `T`.
pub fn scalar_row<T: FromSqlOwned + Send>() -> ScalarRow<T> {
    ScalarRow(PhantomData)
}

impl<T> Clone for ScalarRow<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ScalarRow<T> {}

impl<T> fmt::Debug for ScalarRow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScalarRow<{}>", std::any::type_name::<T>())
    }
}

impl<T: FromSqlOwned + Send> RowFactory for ScalarRow<T> {
    type Output = T;

    fn make(&self, row: Row) -> Result<T, RowError> {
        let Some(column) = row.columns().first() else {
            return Err(RowError::new(
                "the statement returned rows without columns; scalar_row reads the first column",
            ));
        };
        row.try_get::<_, T>(0).map_err(|error| {
            RowError::new(format!(
                "cannot read column `{}` (type {}) as {}: {}",
                column.name(),
                column.type_(),
                std::any::type_name::<T>(),
                cause(&error),
            ))
        })
    }
}

/// The innermost message of an error of tokio-postgres, without its
/// "error deserializing column 0" prefix.
pub(super) fn cause(error: &tokio_postgres::Error) -> String {
    match error.source() {
        Some(source) => source.to_string(),
        None => error.to_string(),
    }
}

impl<F, T, E> RowFactory for F
where
    F: Fn(Row) -> Result<T, E> + Send + Sync,
    T: Send,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    type Output = T;

    fn make(&self, row: Row) -> Result<T, RowError> {
        self(row).map_err(|error| {
            let error = error.into();
            RowError::new(error.to_string())
        })
    }
}
