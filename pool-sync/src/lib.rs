//! A blocking PostgreSQL connection pool: the async pool of
//! [`tidepool_async`] behind blocking methods, for programs that use
//! threads.
//!
//! A few background threads drive the connections; each call blocks the
//! calling thread until it is done. A [`Pool`] is shared between threads by
//! cloning. Errors and rows are the async crate's own types.
//!
//! # Examples
//!
//! ```no_run
//! use tidepool_sync::Pool;
//!
//! let pool = Pool::builder("postgresql://app@localhost/app").max_size(8).build()?;
//! let workers: Vec<_> = (0..8)
//!     .map(|i| {
//!         let pool = pool.clone();
//!         std::thread::spawn(move || -> Result<i32, tidepool_sync::Error> {
//!             let conn = pool.get()?;
//!             Ok(conn.query_one("SELECT $1::int * 2", &[&i])?.get(0))
//!         })
//!     })
//!     .collect();
//! for worker in workers {
//!     println!("{}", worker.join().unwrap()?);
//! }
//! # Ok::<(), tidepool_sync::Error>(())
//! ```

mod builder;
mod callback;
mod connection;
mod copy;
mod methods;
mod pipeline;
mod pool;
mod runtime;
mod transaction;

pub use builder::PoolBuilder;
pub use callback::CallbackConnection;
pub use connection::{Connection, PooledConnection};
pub use copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use pipeline::Pipeline;
pub use pool::Pool;
pub use tidepool_async::{
    BinaryCopyOutRow, ClassRow, ConnectionSettings, Dict, DictRow, Error, HealthCheck,
    IsolationLevel, JsonRow, Piped, PoolConfig, Row, RowError, RowFactory, ScalarRow,
    SessionSettings, Settings, SimpleQueryMessage, Stats, ToSql, TupleRow, Type, Value, class_row,
    metrics, scalar_row, tokio_postgres,
};
pub use transaction::{Cursor, Transaction, TransactionBuilder};
