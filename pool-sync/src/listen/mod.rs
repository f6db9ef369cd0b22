//! LISTEN/NOTIFY: the blocking listener.

pub(crate) mod listener;
