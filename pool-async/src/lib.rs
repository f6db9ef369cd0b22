//! An async PostgreSQL connection pool over tokio-postgres.
//!
//! A [`Pool`] is built from a libpq connection string, shared by cloning,
//! and hands out [`PooledConnection`] guards that dereference to a
//! [`Connection`]. A connection is rolled back (or closed) before the next
//! user gets it if it comes back inside a transaction or with a statement
//! still running.
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

mod builder;
mod cache;
mod cancel;
mod connection;
mod copy;
mod cursor;
mod error;
mod execute;
mod guard;
mod hooks;
mod infer;
mod manager;
mod pipeline;
mod pool;
mod source;
mod sql;
mod tracker;
mod transaction;

pub use builder::PoolBuilder;
pub use cache::StatementCacheStats;
pub use connection::Connection;
pub use copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use cursor::Cursor;
pub use error::Error;
pub use guard::PooledConnection;
pub use hooks::HookFuture;
pub use pipeline::{Piped, Pipeline};
pub use pool::Pool;
pub use tidepool_core::{HealthCheck, PoolConfig, Stats};
pub use tokio_postgres::binary_copy::BinaryCopyOutRow;
pub use tokio_postgres::types::Type;
pub use tokio_postgres::{self, IsolationLevel, Row, SimpleQueryMessage, types::ToSql};
pub use transaction::{Transaction, TransactionBuilder, TransactionFuture};
