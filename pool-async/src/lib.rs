//! An async PostgreSQL connection pool over tokio-postgres.
//!
//! A [`Pool`] is built from a libpq connection string, shared by cloning,
//! and hands out [`PooledConnection`] guards that dereference to a
//! [`Connection`]. A connection is rolled back (or closed) before the next
//! user gets it if it comes back inside a transaction or with a statement
//! still running.
//!
//! What a query returns for each row is the pool's [row factory](RowFactory):
//! the protocol [`Row`] by default, or [`Dict`]s of dynamic [`Value`]s,
//! JSON objects, any `serde::Deserialize` type, the first column, or a
//! closure's result; see [`PoolBuilder::row_factory`].
//!
//! The connection string takes libpq's TLS keys (`sslmode` from `disable`
//! to `verify-full`, `sslrootcert`, `sslcert`, `sslkey`) and libpq's
//! environment variables fill what it leaves out; see [`Pool::builder`].
//! TLS runs on rustls.
//! A pool reports [`Pool::stats`], [`metrics`] (through the `metrics`
//! facade, labelled with the pool's name) and `tracing` spans and warnings;
//! connection strings and passwords never appear in any of them.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo() -> Result<(), tidepool_async::Error> {
//! use tidepool_async::Pool;
//!
//! let pool = Pool::builder("postgresql://app@localhost/app").max_size(16).build()?;
//! let conn = pool.get().await?;
//! let row = conn.query_one("SELECT $1::int + 1", &[&41i32]).await?;
//! assert_eq!(row.get::<_, i32>(0), 42);
//! # Ok(())
//! # }
//! ```

mod begin;
mod builder;
mod cache;
mod cancel;
mod connect;
mod connection;
mod conninfo;
mod copy;
mod cursor;
mod error;
mod execute;
mod fields;
mod guard;
mod hooks;
mod infer;
mod manager;
mod methods;
mod pipeline;
mod pool;
mod rows;
mod settings;
mod source;
mod sql;
mod tls;
mod tracker;
mod transaction;

pub use builder::PoolBuilder;
pub use cache::StatementCacheStats;
/// The `config` crate, for layering settings sources ([`Settings::from_config`]).
pub use config;
pub use connection::Connection;
pub use copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use cursor::Cursor;
pub use error::Error;
pub use guard::PooledConnection;
pub use hooks::HookFuture;
pub use pipeline::{Piped, Pipeline};
pub use pool::Pool;
pub use rows::{
    ClassRow, Dict, DictRow, JsonRow, RowError, RowFactory, ScalarRow, TupleRow, Value, class_row,
    scalar_row,
};
pub use settings::{ConnectionSettings, SessionSettings, Settings};
pub use tidepool_core::{HealthCheck, PoolConfig, Stats, metrics};
pub use tokio_postgres::binary_copy::BinaryCopyOutRow;
pub use tokio_postgres::types::Type;
pub use tokio_postgres::{self, IsolationLevel, Row, SimpleQueryMessage, types::ToSql};
pub use transaction::{Transaction, TransactionBuilder, TransactionFuture};
