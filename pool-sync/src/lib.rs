#![doc = include_str!("../README.md")]

mod listen;
mod pool;
mod session;

pub use listen::listener::Listener;
pub use pool::builder::PoolBuilder;
pub use pool::callback::CallbackConnection;
pub use pool::guard::PooledConnection;
pub use pool::handle::Pool;
pub use pool::replica_set::{ReplicaSet, ReplicaSetBuilder};
pub use session::connection::Connection;
pub use session::copy::{CopyIn, CopyInWriter, CopyOut, CopyOutRows};
pub use session::cursor::{Cursor, HoldCursor};
pub use session::pipeline::Pipeline;
pub use session::transaction::{Transaction, TransactionBuilder};
pub use tidepool_async::{
    BinaryCopyOutRow, ClassRow, ConnectionInfo, ConnectionSettings, DbError, Dict, DictRow, Error,
    HealthCheck, IsolationLevel, JsonRow, ListenerEvent, Notification, Piped, PoolConfig,
    ReplicaSetStats, Row, RowError, RowFactory, ScalarRow, SessionSettings, Settings,
    SimpleQueryMessage, Stats, ToSql, TupleRow, Type, Value, class_row, metrics, scalar_row,
    tokio_postgres,
};
