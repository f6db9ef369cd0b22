//! `Pool::notify`: a notification sent through one of the pool's
//! connections.

use crate::error::Error;
use crate::listen::channel::check_channel;
use crate::pool::handle::Pool;
use crate::rows::RowFactory;

impl<R: RowFactory + Clone> Pool<R> {
    /// Sends a notification on `channel` with `payload`, as
    /// `SELECT pg_notify(channel, payload)` on a checked-out connection:
    /// every session listening on the channel receives it (when the
    /// transaction commits, here at once). The channel name means itself
    /// (no quoting, case kept), as [`Listener::listen`](crate::Listener::listen)
    /// takes it.
    ///
    /// # Errors
    ///
    /// As [`get`](Pool::get) for the checkout; a configuration error for an
    /// empty channel name, one with a NUL character or one longer than 63
    /// bytes; the server's error for a payload of 8000 bytes or more
    /// (SQLSTATE 22023, "payload string too long") or a full notification
    /// queue.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it ends may or may not send the
    /// notification; the connection goes back to the pool as for any
    /// dropped statement.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), Error> {
        check_channel(channel)?;
        let conn = self.get().await?;
        conn.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await
            .map(drop)
    }
}
