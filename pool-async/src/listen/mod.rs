//! LISTEN/NOTIFY: a [`Listener`] on a connection of its own, and
//! [`Pool::notify`](crate::Pool::notify).
//!
//! tokio-postgres hands notifications only to whoever drives a connection,
//! so the pool's connections cannot receive them: a listener opens its own
//! connection (counted apart from `max_size`, in
//! [`Stats::listeners`](crate::Stats::listeners)), `LISTEN`s on its
//! channels, and reconnects with backoff when the connection is lost,
//! telling its reader that notifications may have been missed.

mod channel;
mod event;
mod listener;
mod notify;
mod session;

pub use event::ListenerEvent;
pub use listener::Listener;
