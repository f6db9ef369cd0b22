//! The blocking listener: LISTEN/NOTIFY for threads.

use std::fmt;
use std::time::Duration;

use tidepool_async::{Error, ListenerEvent, RowFactory};

use crate::pool::handle::Pool;
use crate::pool::runtime::Blocker;

/// Receives PostgreSQL notifications on a connection of its own, blocking:
/// the async [`tidepool_async::Listener`] behind blocking methods. Open one
/// with [`Pool::listener`].
///
/// Read events with [`recv_timeout`](Listener::recv_timeout), or iterate:
/// the iterator blocks until the next event. After a lost connection the
/// listener reconnects by itself (0.25 s doubling up to 10 s between
/// attempts), listens again and yields [`ListenerEvent::Reconnected`]:
/// notifications sent meanwhile were missed. Dropping it closes its
/// connection.
///
/// # Examples
///
/// ```no_run
/// # fn demo(pool: &tidepool_sync::Pool) -> Result<(), tidepool_sync::Error> {
/// use std::time::Duration;
/// use tidepool_sync::ListenerEvent;
///
/// let mut listener = pool.listener()?;
/// listener.listen("jobs")?;
/// pool.notify("jobs", "42")?;
/// while let Some(event) = listener.recv_timeout(Duration::from_secs(5))? {
///     if let ListenerEvent::Notification(n) = event {
///         println!("{}: {}", n.channel(), n.payload());
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Listener {
    inner: tidepool_async::Listener,
    blocker: Blocker,
}

impl<R> Pool<R> {
    /// Opens a [`Listener`], as [`tidepool_async::Pool::listener`]: a
    /// connection of its own (not counted in `max_size`; counted in
    /// [`Stats::listeners`](crate::Stats::listeners)) that receives
    /// notifications.
    ///
    /// # Errors
    ///
    /// The connect error when the connection cannot be opened, or an error
    /// when called where blocking is refused (see [`Pool`]).
    pub fn listener(&self) -> Result<Listener, Error> {
        let blocker = self.blocker().clone();
        let inner = blocker.block_on("Pool::listener", self.as_async().listener())?;
        Ok(Listener { inner, blocker })
    }
}

impl<R: RowFactory + Clone> Pool<R> {
    /// Sends a notification on `channel` with `payload`, as
    /// [`tidepool_async::Pool::notify`] (`SELECT pg_notify(channel,
    /// payload)` on a checked-out connection).
    ///
    /// # Errors
    ///
    /// As [`tidepool_async::Pool::notify`]: a bad channel name, the
    /// server's error for a payload of 8000 bytes or more, or a failed
    /// checkout.
    pub fn notify(&self, channel: &str, payload: &str) -> Result<(), Error> {
        self.blocker()
            .block_on("Pool::notify", self.as_async().notify(channel, payload))
    }
}

impl Listener {
    /// Starts listening on `channel`, as [`tidepool_async::Listener::listen`]:
    /// returns once the server ran the `LISTEN`.
    ///
    /// # Errors
    ///
    /// As [`tidepool_async::Listener::listen`].
    pub fn listen(&self, channel: &str) -> Result<(), Error> {
        self.blocker
            .block_on("Listener::listen", self.inner.listen(channel))
    }

    /// Stops listening on `channel`, as
    /// [`tidepool_async::Listener::unlisten`].
    ///
    /// # Errors
    ///
    /// As [`tidepool_async::Listener::unlisten`].
    pub fn unlisten(&self, channel: &str) -> Result<(), Error> {
        self.blocker
            .block_on("Listener::unlisten", self.inner.unlisten(channel))
    }

    /// Blocks at most `timeout` for the next notification or reconnect:
    /// `Ok(None)` when none came in time.
    ///
    /// # Errors
    ///
    /// An error when called where blocking is refused (see [`Pool`]), or
    /// when the listener's background task stopped.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<ListenerEvent>, Error> {
        self.blocker
            .block_on("Listener::recv_timeout", self.inner.recv_timeout(timeout))
    }

    /// The next event if one is already queued, without blocking.
    pub fn try_recv(&mut self) -> Option<ListenerEvent> {
        self.inner.try_recv()
    }
}

impl Iterator for Listener {
    type Item = ListenerEvent;

    /// Blocks until the next notification or reconnect. `None` when
    /// blocking is refused here (see [`Pool`]) or the listener's background
    /// task stopped; use [`recv_timeout`](Listener::recv_timeout) to tell
    /// these apart.
    fn next(&mut self) -> Option<ListenerEvent> {
        self.blocker
            .block_on("Listener::next", async { Ok(self.inner.recv().await) })
            .ok()
            .flatten()
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
