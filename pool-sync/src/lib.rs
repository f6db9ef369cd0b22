#![doc = include_str!("../README.md")]

mod builder;
mod callback;
mod connection;
mod copy;
mod listener;
mod methods;
mod pipeline;
mod pool;
mod runtime;
mod transaction;

pub use builder::PoolBuilder;
pub use callback::CallbackConnection;
pub use connection::{Connection, PooledConnection};
pub use copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use listener::Listener;
pub use pipeline::Pipeline;
pub use pool::Pool;
pub use tidepool_async::{
    BinaryCopyOutRow, ClassRow, ConnectionSettings, DbError, Dict, DictRow, Error, HealthCheck,
    IsolationLevel, JsonRow, ListenerEvent, Notification, Piped, PoolConfig, Row, RowError,
    RowFactory, ScalarRow, SessionSettings, Settings, SimpleQueryMessage, Stats, ToSql, TupleRow,
    Type, Value, class_row, metrics, scalar_row, tokio_postgres,
};
pub use transaction::{Cursor, Transaction, TransactionBuilder};
