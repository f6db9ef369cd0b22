#![doc = include_str!("../README.md")]

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
mod hosts;
mod infer;
mod listen;
mod manager;
mod methods;
mod notice;
mod pipeline;
mod pool;
mod replica_set;
mod rows;
mod settings;
mod source;
mod span;
mod sql;
mod tls;
mod tracker;
mod transaction;

pub use builder::PoolBuilder;
pub use cache::StatementCacheStats;
/// The `config` crate, for layering settings sources ([`Settings::from_config`]).
pub use config;
pub use connection::Connection;
pub use conninfo::redact_dsn;
pub use copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use cursor::Cursor;
pub use error::Error;
pub use guard::PooledConnection;
pub use hooks::HookFuture;
pub use listen::{Listener, ListenerEvent};
pub use pipeline::{Piped, Pipeline};
pub use pool::Pool;
pub use replica_set::{ReplicaSet, ReplicaSetBuilder, ReplicaSetStats};
pub use rows::{
    ClassRow, Dict, DictRow, JsonRow, RowError, RowFactory, ScalarRow, TupleRow, Value, class_row,
    scalar_row,
};
pub use settings::{ConnectionSettings, SessionSettings, Settings};
#[doc(hidden)]
pub use tidepool_core::__pool_config_setters;
pub use tidepool_core::{HealthCheck, PoolConfig, Stats, metrics};
pub use tokio_postgres::binary_copy::BinaryCopyOutRow;
pub use tokio_postgres::error::DbError;
pub use tokio_postgres::types::Type;
pub use tokio_postgres::{
    self, IsolationLevel, Notification, Row, SimpleQueryMessage, types::ToSql,
};
pub use transaction::{Transaction, TransactionBuilder, TransactionFuture};
