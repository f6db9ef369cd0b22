//! What a listener yields.

use std::time::Duration;

use tokio_postgres::Notification;

/// What a [`Listener`](crate::Listener) yields: a notification, or the news
/// that its connection was lost and opened again, during which
/// notifications may have been missed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ListenerEvent {
    /// A notification on one of the listener's channels: its channel,
    /// payload and the sender's backend process id.
    Notification(Notification),
    /// The listener's connection was lost and is open again, listening on
    /// all its channels once more. Notifications sent while it was down
    /// are lost: a consumer that keeps state from notifications (a cache,
    /// say) should resynchronise now. Notifications that follow this event
    /// were sent after the channels were listened again.
    #[non_exhaustive]
    Reconnected {
        /// How long the listener was without a connection.
        down_for: Duration,
        /// Why the connection was lost, in words.
        reason: String,
    },
}

impl ListenerEvent {
    /// The notification, if this event is one.
    pub fn as_notification(&self) -> Option<&Notification> {
        match self {
            ListenerEvent::Notification(notification) => Some(notification),
            ListenerEvent::Reconnected { .. } => None,
        }
    }

    /// Whether notifications may have been missed just before this event.
    pub fn is_reconnected(&self) -> bool {
        matches!(self, ListenerEvent::Reconnected { .. })
    }
}
