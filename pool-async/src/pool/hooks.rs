//! The callbacks a pool runs on its connections.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Error;
use crate::session::connection::Connection;

/// The future returned by a connection callback
/// ([`PoolBuilder::configure`](crate::PoolBuilder::configure),
/// [`check`](crate::PoolBuilder::check), [`reset`](crate::PoolBuilder::reset)).
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

/// A callback that works on a connection.
pub(crate) type Hook = Arc<dyn for<'a> Fn(&'a mut Connection) -> HookFuture<'a> + Send + Sync>;

/// What the pool does to its connections besides handing them out.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    /// Runs once on each new connection, before it joins the pool.
    pub(crate) configure: Option<Hook>,
    /// Replaces the default health check (an empty query).
    pub(crate) check: Option<Hook>,
    /// Runs after each return, after the rollback and `reset_sql`.
    pub(crate) reset: Option<Hook>,
    /// SQL run after each return, such as `DISCARD ALL`.
    pub(crate) reset_sql: Option<String>,
    /// Given every notice the server sends on the pool's connections.
    pub(crate) notice: Option<crate::session::notice::NoticeHandler>,
}

impl Hooks {
    /// Whether every returned connection must be reset, clean or not.
    pub(crate) fn reset_always(&self) -> bool {
        self.reset.is_some() || self.reset_sql.is_some()
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("configure", &self.configure.is_some())
            .field("check", &self.check.is_some())
            .field("reset", &self.reset.is_some())
            .field("reset_sql", &self.reset_sql)
            .field("notice", &self.notice.is_some())
            .finish()
    }
}
