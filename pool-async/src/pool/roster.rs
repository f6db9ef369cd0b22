//! The pool's open connections, each with the server it reached, for
//! [`Pool::connections`](crate::Pool::connections): what a dashboard shows
//! of a pool over several hosts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One open connection of a pool, as [`Pool::connections`](crate::Pool::connections)
/// lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The connection's id, as [`Connection::id`](crate::Connection::id)
    /// and the `connection` field of the pool's log events give it.
    pub id: u64,
    /// The server it reached, as [`Connection::server`](crate::Connection::server)
    /// gives it: `"host:port"`, `"name:port (address)"`, or a socket path.
    pub server: String,
    /// Whether it is checked out now.
    pub in_use: bool,
    /// How long ago it was opened, in milliseconds.
    pub age_ms: u64,
}

/// The open connections of one pool. Touched when a connection opens and
/// closes; a checkout and a return only flip their entry's flag.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    entries: Mutex<BTreeMap<u64, Arc<Entry>>>,
}

#[derive(Debug)]
struct Entry {
    server: String,
    opened: Instant,
    in_use: AtomicBool,
}

/// A connection's place on the roster, for as long as it is open: dropped
/// with the connection's slot, it takes the entry off.
#[derive(Debug)]
pub(crate) struct Listed {
    roster: Arc<Roster>,
    id: u64,
    entry: Arc<Entry>,
}

impl Roster {
    /// Puts a connection that just opened on the roster.
    pub(crate) fn list(self: &Arc<Self>, id: u64, server: &str) -> Listed {
        let entry = Arc::new(Entry {
            server: server.to_owned(),
            opened: Instant::now(),
            in_use: AtomicBool::new(false),
        });
        self.lock().insert(id, Arc::clone(&entry));
        Listed {
            roster: Arc::clone(self),
            id,
            entry,
        }
    }

    /// The open connections now, by id.
    pub(crate) fn snapshot(&self) -> Vec<ConnectionInfo> {
        self.lock()
            .iter()
            .map(|(id, entry)| ConnectionInfo {
                id: *id,
                server: entry.server.clone(),
                in_use: entry.in_use.load(Relaxed),
                age_ms: millis(entry.opened.elapsed()),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Entry>>> {
        // The map stays whole whatever panicked while it was held.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Listed {
    /// Notes whether the connection is checked out.
    pub(crate) fn set_in_use(&self, in_use: bool) {
        self.entry.in_use.store(in_use, Relaxed);
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.roster.lock().remove(&self.id);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_listed_while_its_place_lives() {
        let roster = Arc::new(Roster::default());
        let first = roster.list(7, "db1:5432");
        let second = roster.list(3, "db2:5432");
        second.set_in_use(true);
        let listed = roster.snapshot();
        assert_eq!(
            listed
                .iter()
                .map(|c| (c.id, c.server.as_str(), c.in_use))
                .collect::<Vec<_>>(),
            [(3, "db2:5432", true), (7, "db1:5432", false)]
        );
        drop(second);
        drop(first);
        assert!(roster.snapshot().is_empty());
    }
}
