//! The state of a transaction's `BEGIN` as its statements see it: sent, or
//! refused by the server.
//!
//! Every `BEGIN` is sent and answered before the transaction's first
//! statement (`TransactionBuilder::start`): sent together with the
//! statement, a cancel (a `query_timeout`, or the pool's reset cancelling a
//! statement left running) could strike the `BEGIN` alone, and the
//! statement would then run outside the transaction and commit on its own.
//! The statement path still asks for a pending `BEGIN` to send ahead of
//! the next statement (`Session::with_begin`); none is ever pending today.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::error::Error;

/// Not sent yet.
const PENDING: u8 = 0;
/// Sent (with a statement, or alone).
const SENT: u8 = 1;
/// Sent and refused by the server: the transaction is not open.
const FAILED: u8 = 2;

/// The `BEGIN` of a transaction that has not sent it yet.
#[derive(Debug)]
pub(crate) struct Begin {
    sql: &'static str,
    state: AtomicU8,
}

impl Begin {
    /// A `BEGIN` already sent and answered.
    pub(crate) fn done() -> Self {
        Self {
            sql: "BEGIN",
            state: AtomicU8::new(SENT),
        }
    }

    /// The `BEGIN` to send ahead of the next statement, if it was not sent
    /// yet; it counts as sent from here on.
    ///
    /// # Errors
    ///
    /// When it was sent and failed: the transaction is not open, and no
    /// statement may run as if it were.
    pub(crate) fn take(&self) -> Result<Option<&'static str>, Error> {
        match self.state.compare_exchange(PENDING, SENT, Relaxed, Relaxed) {
            Ok(_) => Ok(Some(self.sql)),
            Err(FAILED) => Err(Error::config(
                "this transaction's BEGIN failed (see the error of its first statement), \
                 so it is not open; drop it and begin another",
            )),
            Err(_) => Ok(None),
        }
    }

    /// Notes that the server refused the `BEGIN`.
    pub(crate) fn failed(&self) {
        self.state.store(FAILED, Relaxed);
    }

    /// Whether `BEGIN` was sent: the session may be in the transaction.
    pub(crate) fn was_sent(&self) -> bool {
        self.state.load(Relaxed) != PENDING
    }
}
