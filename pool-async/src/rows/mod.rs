//! Row factories: what a query returns for each row.
//!
//! A [`RowFactory`] turns each protocol row into the caller's type. The
//! pool's default is set when it is built
//! ([`PoolBuilder::row_factory`](crate::PoolBuilder::row_factory)), a
//! checked-out connection can switch to another
//! ([`PooledConnection::with_row_factory`](crate::PooledConnection::with_row_factory)),
//! and a single query can use its own
//! ([`Connection::query_with`](crate::Connection::query_with)). The type of
//! the rows follows the factory at compile time.

mod class;
mod dict;
mod error;
mod factory;
mod json;
mod numeric;
mod value;

pub use class::{ClassRow, class_row};
pub use dict::{Dict, DictRow};
pub use error::RowError;
pub use factory::{RowFactory, ScalarRow, TupleRow, scalar_row};
pub use json::JsonRow;
pub use value::Value;
