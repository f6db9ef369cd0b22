//! A transaction's `BEGIN`, sent together with its first statement.
//!
//! A transaction costs one round trip less when its `BEGIN` does not wait
//! for its answer before the first statement is sent: the two go out
//! together (tokio-postgres queues requests in the order their futures are
//! first polled) and the server answers both in one round trip.
//!
//! What if `BEGIN` fails? Sent as a simple query ahead of an extended-
//! protocol statement, a failed `BEGIN` does not stop the statement, which
//! then runs on its own, outside any transaction. A plain `BEGIN` fails
//! only when the session cannot run anything (the connection broken, the
//! server shutting down), so that the statement fails too; that is why
//! only a plain `BEGIN` is deferred, and a `BEGIN` with options (an
//! isolation level, `READ ONLY`, `DEFERRABLE`, which a standby may refuse)
//! waits for its answer. Either way the caller gets `BEGIN`'s error as the
//! statement's, never the statement's result as part of a transaction, and
//! every later statement of that transaction is refused.
//!
//! A statement sent through the simple protocol (`batch_execute`,
//! `SAVEPOINT`) carries `BEGIN` in the same query string instead, which the
//! server stops at the first error.

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
    /// A `BEGIN` sent with the transaction's first statement.
    pub(crate) fn deferred() -> Self {
        Self {
            sql: "BEGIN",
            state: AtomicU8::new(PENDING),
        }
    }

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
