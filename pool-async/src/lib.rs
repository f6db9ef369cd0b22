#![doc = include_str!("../README.md")]

mod conninfo;
mod error;
mod hosts;
mod listen;
mod pool;
mod rows;
mod session;
mod tls;

/// The `config` crate, for layering settings sources ([`Settings::from_config`]).
pub use config;
pub use conninfo::redact_dsn;
pub use error::Error;
pub use listen::{Listener, ListenerEvent};
pub use pool::builder::PoolBuilder;
pub use pool::guard::PooledConnection;
pub use pool::handle::Pool;
pub use pool::hooks::HookFuture;
pub use pool::replica_set::{ReplicaSet, ReplicaSetBuilder, ReplicaSetStats};
pub use pool::roster::ConnectionInfo;
pub use pool::session_settings::SessionSettings;
pub use pool::settings::{ConnectionSettings, Settings};
pub use rows::{
    ClassRow, Dict, DictRow, JsonRow, RowError, RowFactory, ScalarRow, TupleRow, Value, class_row,
    scalar_row,
};
pub use session::cache::StatementCacheStats;
pub use session::connection::Connection;
pub use session::copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use session::cursor::Cursor;
pub use session::hold_cursor::HoldCursor;
pub use session::pipeline::{Piped, Pipeline};
pub use session::transaction::{Transaction, TransactionBuilder, TransactionFuture};
#[doc(hidden)]
pub use tidepool_core::__pool_config_setters;
pub use tidepool_core::{HealthCheck, PoolConfig, Stats, metrics};
pub use tokio_postgres::binary_copy::BinaryCopyOutRow;
pub use tokio_postgres::error::DbError;
pub use tokio_postgres::types::Type;
pub use tokio_postgres::{
    self, IsolationLevel, Notification, Row, SimpleQueryMessage, types::ToSql,
};
