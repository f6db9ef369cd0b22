//! What the engine needs to know about the things it pools.

use std::future::Future;

pub use crate::sweeper::Sweeper;

/// Opens, checks and resets the connections of a pool.
///
/// The engine knows nothing of any database: it calls these methods and
/// keeps the books. `connect` runs in the background, never on a caller's
/// path; `is_broken` and `needs_reset` are cheap, synchronous questions asked
/// at every checkout and return; `check` runs at checkout when the health
/// check policy asks; `reset` runs in the background after a return when
/// `needs_reset` says so.
pub trait Manager: Send + Sync + 'static {
    /// The pooled connection.
    type Connection: Send + 'static;
    /// The error of a failed connect, check or reset.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens a new connection.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Where new connections go, such as `"db.example.com:5432"`, for the
    /// `server` field of the pool's connect spans. It must never hold a
    /// password or a whole connection string: traces are often shipped
    /// elsewhere. Defaults to `None` (the field is left out).
    fn target(&self) -> Option<&str> {
        None
    }

    /// Whether a failed connect's error is one that retrying cannot fix: a
    /// wrong password, a database or role that does not exist, a
    /// certificate refused. While the pool has no connection, such an
    /// error fails the checkouts waiting at that moment at once, with this
    /// error, instead of letting them wait out their timeout; the pool
    /// keeps retrying with its backoff (a rotated password or a created
    /// database heals it), and later checkouts wait for the next attempt.
    /// Defaults to `false` (every error is worth waiting out).
    fn is_permanent(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// Called once, when the pool is built, with a handle through which the
    /// manager can ask the pool to close idle connections it now calls
    /// broken at once (see [`Sweeper`]), rather than at their next
    /// checkout or the next periodic sweep. Defaults to ignoring it.
    fn attach(&self, sweeper: Sweeper) {
        let _ = sweeper;
    }

    /// Whether the connection is known to be unusable (its socket closed, say).
    ///
    /// A broken connection is closed instead of being handed out or kept.
    /// Defaults to `false`.
    fn is_broken(&self, conn: &Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// Tests an idle connection before it is handed out, when the pool's
    /// [`HealthCheck`](crate::HealthCheck) policy asks; an error closes the
    /// connection and the checkout goes on with another. Defaults to
    /// passing.
    fn check(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = conn;
        std::future::ready(Ok(()))
    }

    /// Whether a returned connection must be reset (see [`reset`](Self::reset))
    /// before anyone else may use it. Defaults to `false`.
    fn needs_reset(&self, conn: &Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// Brings a returned connection back to a clean state; an error closes
    /// the connection instead. Defaults to doing nothing.
    fn reset(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = conn;
        std::future::ready(Ok(()))
    }
}
