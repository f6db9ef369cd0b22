//! One database session: a connection of the pool and what runs on it.
//!
//! The [`Connection`](connection::Connection) wrapper and its tracker of the
//! session's state (`tracker`: transactions, statements in flight, what
//! the pool must reset), how a statement runs (`execute`: the statement
//! cache of `cache`, parameter types of `infer`, the state of a
//! transaction's `BEGIN` in `begin`), transactions, cursors, COPY,
//! pipelines, cancelling a running statement (`cancel`), reading SQL's
//! first words (`sql`), the span of each statement (`span`) and the task
//! that drives the connection and reports its notices (`notice`).

pub(crate) mod begin;
pub(crate) mod cache;
pub(crate) mod cancel;
pub(crate) mod connection;
pub(crate) mod copy;
pub(crate) mod cursor;
pub(crate) mod execute;
pub(crate) mod hold_cursor;
pub(crate) mod infer;
pub(crate) mod methods;
pub(crate) mod notice;
pub(crate) mod pipeline;
pub(crate) mod span;
pub(crate) mod sql;
pub(crate) mod tracker;
pub(crate) mod transaction;
