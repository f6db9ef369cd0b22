//! One database session, blocking: the connection, its transactions,
//! cursors, COPY and pipelines, each a facade over `tidepool_async`'s
//! (the same files there), and the statement methods they share.

pub(crate) mod connection;
pub(crate) mod copy;
pub(crate) mod cursor;
pub(crate) mod methods;
pub(crate) mod pipeline;
pub(crate) mod transaction;
