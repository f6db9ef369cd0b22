//! The background task of a listener: it owns the connection, runs
//! `LISTEN` and `UNLISTEN` as asked, forwards notifications in the order the
//! server sent them, and reconnects with backoff when the connection is lost.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use futures_util::future::poll_fn;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, Client, Notification};

use crate::error::Error;
use crate::listen::channel::quote_channel;
use crate::listen::event::ListenerEvent;
use crate::pool::connect::PgConnection;
use crate::pool::source::ConnectSettings;
use crate::session::notice::Notices;

/// The first wait before reconnecting again after a failed connect.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two connects.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The id under which a listener's notices are reported.
const LISTENER_CONNECTION_ID: u64 = 0;

/// What the listener asks of its task.
pub(crate) enum Command {
    Listen(String, oneshot::Sender<Result<(), Error>>),
    Unlisten(String, oneshot::Sender<Result<(), Error>>),
}

/// How a listener's task opens connections.
pub(crate) struct Connector {
    pub(crate) settings: Arc<ConnectSettings>,
    pub(crate) connect_timeout: Duration,
    pub(crate) notices: Notices,
    /// The pool's gauge of open listener connections.
    pub(crate) open: Arc<AtomicUsize>,
    pub(crate) pool: Arc<str>,
}

impl Connector {
    /// Opens one connection, within `connect_timeout`.
    pub(crate) async fn connect(&self) -> Result<(Client, PgConnection), Error> {
        let target = self.settings.resolve()?;
        let attrs = target.routing.attrs;
        let attempt = async {
            target
                .connect()
                .await
                .map_err(|attempts| Error::hosts(attrs, attempts))
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(opened)) => Ok((opened.client, opened.connection)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::config(format!(
                "the listener's connect took longer than connect_timeout ({:?})",
                self.connect_timeout
            ))),
        }
    }
}

/// Counts a listener's connection as open for as long as it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Why a connection's service ended.
enum Ended {
    /// The listener was dropped: the task ends.
    Dropped,
    /// The connection was lost: reconnect.
    Lost(String),
}

/// How a statement run on the listener's connection ended.
enum Outcome {
    Done,
    /// The server refused it; the connection is fine.
    Refused(Error),
    /// The connection was lost.
    Lost(String),
}

/// The state of a listener's background task.
pub(crate) struct Session {
    pub(crate) connector: Connector,
    pub(crate) channels: BTreeSet<String>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) events: mpsc::UnboundedSender<ListenerEvent>,
}

impl Session {
    /// Serves `first`, then every connection opened after a loss, until the
    /// listener is dropped.
    pub(crate) async fn run(mut self, first: (Client, PgConnection)) {
        let mut next = Some(first);
        let mut lost: Option<(Instant, String)> = None;
        loop {
            let (client, mut connection) = match next.take() {
                Some(opened) => opened,
                None => match self.reconnect().await {
                    Some(opened) => opened,
                    None => return,
                },
            };
            let _open = OpenGuard::new(&self.connector.open);
            match self.serve(&client, &mut connection, lost.take()).await {
                Ended::Dropped => return,
                Ended::Lost(reason) => {
                    tracing::warn!(
                        pool = %self.connector.pool,
                        %reason,
                        "the listener's connection was lost; reconnecting (notifications \
                         sent meanwhile are missed)"
                    );
                    lost = Some((Instant::now(), reason));
                }
            }
        }
    }

    /// Connects again, with a backoff of 0.25 s doubling up to 10 s between
    /// attempts; channels listened or unlistened meanwhile are taken into
    /// account. `None` when the listener was dropped.
    async fn reconnect(&mut self) -> Option<(Client, PgConnection)> {
        let mut delay = FIRST_BACKOFF;
        loop {
            match self.connector.connect().await {
                Ok(opened) => return Some(opened),
                Err(error) => tracing::warn!(
                    pool = %self.connector.pool,
                    %error,
                    retry_in = ?delay,
                    "the listener could not reconnect"
                ),
            }
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    command = self.commands.recv() => match command {
                        // Taken now, listened at the next connection.
                        Some(command) => self.apply_offline(command),
                        None => return None,
                    },
                }
            }
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    /// Records a command while there is no connection: the channel set
    /// changes, and the next connection listens accordingly.
    fn apply_offline(&mut self, command: Command) {
        let (reply, result) = match command {
            Command::Listen(channel, reply) => {
                let result = quote_channel(&channel).map(|_| {
                    self.channels.insert(channel);
                });
                (reply, result)
            }
            Command::Unlisten(channel, reply) => {
                self.channels.remove(&channel);
                (reply, Ok(()))
            }
        };
        let _ = reply.send(result);
    }

    /// Listens on every channel on a new connection, reports a reconnect,
    /// then forwards notifications and runs commands until the connection
    /// is lost or the listener dropped.
    async fn serve(
        &mut self,
        client: &Client,
        connection: &mut PgConnection,
        lost: Option<(Instant, String)>,
    ) -> Ended {
        let mut received = Vec::new();
        if !self.channels.is_empty() {
            let sql = self
                .channels
                .iter()
                .filter_map(|channel| quote_channel(channel).ok())
                .map(|quoted| format!("LISTEN {quoted};"))
                .collect::<String>();
            match self
                .run_statement(client, connection, &sql, &mut received)
                .await
            {
                Outcome::Done => {}
                Outcome::Lost(reason) => return Ended::Lost(reason),
                Outcome::Refused(error) => return Ended::Lost(error.to_string()),
            }
        }
        if let Some((since, reason)) = lost {
            let event = ListenerEvent::Reconnected {
                down_for: since.elapsed(),
                reason,
            };
            if self.events.send(event).is_err() {
                return Ended::Dropped;
            }
        }
        loop {
            if !self.forward(&mut received) {
                return Ended::Dropped;
            }
            let step = tokio::select! {
                message = poll_fn(|cx| connection.poll_message(cx)) => Step::Message(message),
                command = self.commands.recv() => Step::Command(command),
            };
            match step {
                Step::Message(Some(Ok(AsyncMessage::Notification(notification)))) => {
                    received.push(notification);
                }
                Step::Message(Some(Ok(AsyncMessage::Notice(notice)))) => {
                    self.connector
                        .notices
                        .report(LISTENER_CONNECTION_ID, &notice);
                }
                Step::Message(Some(Ok(_))) => {}
                Step::Message(Some(Err(error))) => return Ended::Lost(error.to_string()),
                Step::Message(None) => return Ended::Lost("the server closed it".to_owned()),
                Step::Command(None) => return Ended::Dropped,
                Step::Command(Some(command)) => {
                    if let Some(reason) = self
                        .execute(client, connection, command, &mut received)
                        .await
                    {
                        // What was received before the loss still counts.
                        if !self.forward(&mut received) {
                            return Ended::Dropped;
                        }
                        return Ended::Lost(reason);
                    }
                }
            }
        }
    }

    /// Runs a `LISTEN` or `UNLISTEN` and answers it; the reason when the
    /// connection was lost meanwhile (the command then counts as done: the
    /// next connection listens accordingly).
    async fn execute(
        &mut self,
        client: &Client,
        connection: &mut PgConnection,
        command: Command,
        received: &mut Vec<Notification>,
    ) -> Option<String> {
        let (listen, channel, reply) = match command {
            Command::Listen(channel, reply) => (true, channel, reply),
            Command::Unlisten(channel, reply) => (false, channel, reply),
        };
        let quoted = match quote_channel(&channel) {
            Ok(quoted) => quoted,
            Err(error) => {
                let _ = reply.send(Err(error));
                return None;
            }
        };
        let sql = if listen {
            format!("LISTEN {quoted}")
        } else {
            format!("UNLISTEN {quoted}")
        };
        let outcome = self.run_statement(client, connection, &sql, received).await;
        let (result, lost) = match outcome {
            Outcome::Done => (Ok(()), None),
            Outcome::Refused(error) => (Err(error), None),
            Outcome::Lost(reason) => (Ok(()), Some(reason)),
        };
        if result.is_ok() {
            if listen {
                self.channels.insert(channel);
            } else {
                self.channels.remove(&channel);
            }
        }
        let _ = reply.send(result);
        lost
    }

    /// Runs `sql` while driving the connection, keeping the notifications
    /// that arrive meanwhile in `received`.
    async fn run_statement(
        &self,
        client: &Client,
        connection: &mut PgConnection,
        sql: &str,
        received: &mut Vec<Notification>,
    ) -> Outcome {
        let statement = client.batch_execute(sql);
        tokio::pin!(statement);
        loop {
            tokio::select! {
                biased;
                result = &mut statement => {
                    return match result {
                        Ok(()) => Outcome::Done,
                        Err(error) if client.is_closed() => Outcome::Lost(error.to_string()),
                        Err(error) if error.as_db_error().is_some() => {
                            Outcome::Refused(Error::db(error))
                        }
                        Err(error) => Outcome::Lost(error.to_string()),
                    };
                }
                message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                    Some(Ok(AsyncMessage::Notification(notification))) => {
                        received.push(notification);
                    }
                    Some(Ok(AsyncMessage::Notice(notice))) => {
                        self.connector.notices.report(LISTENER_CONNECTION_ID, &notice);
                    }
                    Some(Ok(_)) => {}
                    // The statement's answer will never come.
                    Some(Err(error)) => return Outcome::Lost(error.to_string()),
                    None => return Outcome::Lost("the server closed it".to_owned()),
                },
            }
        }
    }

    /// Hands the received notifications to the listener; false when it was
    /// dropped.
    fn forward(&self, received: &mut Vec<Notification>) -> bool {
        for notification in received.drain(..) {
            if self
                .events
                .send(ListenerEvent::Notification(notification))
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// What woke the task (short-lived: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Step {
    Message(Option<Result<AsyncMessage, tokio_postgres::Error>>),
    Command(Option<Command>),
}
