//! Server notices (`RAISE NOTICE`, `RAISE WARNING`, ...): the task that
//! drives a pooled connection reads them and hands them to `tracing` and to
//! the pool's notice handler.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::future::poll_fn;
use tokio_postgres::AsyncMessage;
use tokio_postgres::error::{DbError, Severity};

use crate::hosts::RoleWatch;
use crate::pool::connect::PgConnection;

/// The `tracing` target of server notices.
pub(crate) const TARGET: &str = "tidepool::notice";

/// A function given every notice the server sends on the pool's
/// connections ([`PoolBuilder::notice_handler`](crate::PoolBuilder::notice_handler)).
pub(crate) type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;

/// Where a pool's notices go: a `tracing` event, and the pool's handler if
/// it has one.
#[derive(Clone)]
pub(crate) struct Notices {
    pool: Arc<str>,
    handler: Option<NoticeHandler>,
}

impl Notices {
    pub(crate) fn new(pool: &str, handler: Option<NoticeHandler>) -> Self {
        Self {
            pool: pool.into(),
            handler,
        }
    }

    /// Reports a notice that arrived on connection `connection` (0 for a
    /// listener's connection).
    pub(crate) fn report(&self, connection: u64, notice: &DbError) {
        let pool = &*self.pool;
        let severity = notice.severity();
        let code = notice.code().code();
        let message = notice.message();
        match notice.parsed_severity() {
            Some(Severity::Warning | Severity::Error | Severity::Fatal | Severity::Panic) => {
                tracing::warn!(target: TARGET, pool, connection, severity, code, "{message}");
            }
            Some(Severity::Debug | Severity::Log) => {
                tracing::debug!(target: TARGET, pool, connection, severity, code, "{message}");
            }
            // NOTICE, INFO, and a severity this version does not know.
            _ => tracing::info!(target: TARGET, pool, connection, severity, code, "{message}"),
        }
        if let Some(handler) = &self.handler
            && catch_unwind(AssertUnwindSafe(|| handler(notice))).is_err()
        {
            tracing::error!(pool, connection, "the notice handler panicked");
        }
    }
}

impl fmt::Debug for Notices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notices")
            .field("pool", &self.pool)
            .field("handler", &self.handler.is_some())
            .finish()
    }
}

/// Drives a pooled connection in the background until it ends, reporting
/// its notices (notifications are dropped: a pooled connection listens to
/// nothing; see [`Listener`](crate::Listener)) and keeping the watched
/// role, when given, up to date with what the server reports (a
/// promotion, say).
pub(crate) fn spawn_driver(
    mut connection: PgConnection,
    notices: Notices,
    id: u64,
    watch: Option<RoleWatch>,
) {
    tokio::spawn(async move {
        loop {
            let message = poll_fn(|cx| {
                let message = connection.poll_message(cx);
                if let Some(watch) = &watch {
                    watch.observe(&connection);
                }
                message
            })
            .await;
            match message {
                Some(Ok(AsyncMessage::Notice(notice))) => notices.report(id, &notice),
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::debug!(%error, "a pooled connection ended with an error");
                    return;
                }
                None => return,
            }
        }
    });
}
