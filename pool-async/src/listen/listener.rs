//! The listener handle, and how a pool opens one.

use std::collections::BTreeSet;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::listen::channel::check_channel;
use crate::listen::event::ListenerEvent;
use crate::listen::session::{Command, Connector, Session};
use crate::pool::handle::Pool;

/// Receives PostgreSQL notifications (`LISTEN`/`NOTIFY`) on a connection of
/// its own. Open one with [`Pool::listener`].
///
/// The listener's connection is opened with the pool's connection settings
/// but is not one of the pool's: it does not count towards `max_size`, and
/// [`Stats::listeners`](crate::Stats::listeners) counts it. A background
/// task drives it, runs `LISTEN` and `UNLISTEN` as [`listen`](Listener::listen)
/// and [`unlisten`](Listener::unlisten) ask, and queues the notifications
/// in the order the server sent them until they are read, with
/// [`recv`](Listener::recv) or as a [`Stream`]. Read them promptly: the
/// queue has no bound.
///
/// When the connection is lost (a server restart, `pg_terminate_backend`,
/// a network failure) the task reconnects with backoff (0.25 s, doubling,
/// up to 10 s between attempts), listens on every channel again and yields
/// [`ListenerEvent::Reconnected`]: notifications sent while it was down are
/// lost, and a consumer that keeps state from them should resynchronise.
///
/// Dropping the listener closes its connection.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(pool: &tidepool_async::Pool) -> Result<(), tidepool_async::Error> {
/// use tidepool_async::ListenerEvent;
///
/// let mut listener = pool.listener().await?;
/// listener.listen("jobs").await?;
/// pool.notify("jobs", "42").await?;
/// while let Some(event) = listener.recv().await {
///     match event {
///         ListenerEvent::Notification(n) => println!("{}: {}", n.channel(), n.payload()),
///         ListenerEvent::Reconnected { .. } => println!("resynchronise"),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Listener {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<ListenerEvent>,
}

impl<R> Pool<R> {
    /// Opens a [`Listener`]: a connection of its own, with the pool's
    /// connection settings and `connect_timeout`, that receives
    /// notifications. It listens on no channel until
    /// [`Listener::listen`] is called. It does not depend on the pool
    /// staying open: it lives until it is dropped.
    ///
    /// # Errors
    ///
    /// The connect error when the first connection cannot be opened (later
    /// losses are retried in the background).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: dropping the future closes the
    /// connection being opened.
    pub async fn listener(&self) -> Result<Listener, Error> {
        let manager = self.manager();
        let connector = Connector {
            settings: manager.connect_settings(),
            connect_timeout: self.config().connect_timeout,
            notices: manager.notices().clone(),
            open: manager.listeners(),
            pool: Arc::from(self.name()),
        };
        let first = connector.connect().await?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let session = Session {
            connector,
            channels: BTreeSet::new(),
            commands: commands_rx,
            events: events_tx,
        };
        tokio::spawn(session.run(first));
        Ok(Listener { commands, events })
    }
}

impl Listener {
    /// Starts listening on `channel` (any name: it is quoted, so mixed
    /// case, spaces and quotes mean themselves, as in `pg_notify`).
    /// Returns once the server runs the `LISTEN`: notifications sent after
    /// that are received. Listening twice on a channel is harmless.
    ///
    /// # Errors
    ///
    /// A configuration error for an empty name, one with a NUL character
    /// or one longer than 63 bytes; the server's error if it refuses.
    /// While the connection is down, the channel is taken at once and
    /// listened when it is back.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not withdraw the request: the channel may
    /// still be listened.
    pub async fn listen(&self, channel: &str) -> Result<(), Error> {
        check_channel(channel)?;
        self.ask(|reply| Command::Listen(channel.to_owned(), reply))
            .await
    }

    /// Stops listening on `channel`. Returns once the server ran the
    /// `UNLISTEN`; notifications of the channel already received may still
    /// be read. Unlistening a channel not listened is harmless.
    ///
    /// # Errors
    ///
    /// As for [`listen`](Listener::listen).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not withdraw the request.
    pub async fn unlisten(&self, channel: &str) -> Result<(), Error> {
        check_channel(channel)?;
        self.ask(|reply| Command::Unlisten(channel.to_owned(), reply))
            .await
    }

    async fn ask(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), Error>>) -> Command,
    ) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Waits for the next notification or reconnect. `None` only when the
    /// listener's task stopped (its runtime shut down).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe: an event is never lost when the future
    /// is dropped.
    pub async fn recv(&mut self) -> Option<ListenerEvent> {
        self.events.recv().await
    }

    /// Waits at most `timeout` for the next notification or reconnect:
    /// `Ok(None)` when none came in time.
    ///
    /// # Errors
    ///
    /// An error when the listener's task stopped (its runtime shut down).
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe, as [`recv`](Listener::recv) is.
    pub async fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ListenerEvent>, Error> {
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) => Err(stopped()),
            Err(_) => Ok(None),
        }
    }

    /// The next event if one is already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<ListenerEvent> {
        self.events.try_recv().ok()
    }
}

/// The error of a listener whose background task is gone.
fn stopped() -> Error {
    Error::config("the listener's background task stopped: its runtime was shut down")
}

impl Stream for Listener {
    type Item = ListenerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ListenerEvent>> {
        self.events.poll_recv(cx)
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("queued", &self.events.len())
            .finish_non_exhaustive()
    }
}
