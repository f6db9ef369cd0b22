//! The blocking pool: its handle and builder, the replica set, the guard
//! of a checked-out connection, the callbacks' blocking connection, and the
//! runtime that drives the connections and runs the blocking calls.

pub(crate) mod builder;
pub(crate) mod callback;
pub(crate) mod guard;
pub(crate) mod handle;
pub(crate) mod replica_set;
pub(crate) mod runtime;
