//! When the requests waiting in the queue began to wait, for the longest
//! current wait.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The start times of the requests waiting now.
///
/// Only requests that find no idle connection are entered, so the fast
/// path of a checkout never takes this lock. Entries are kept in a slab
/// whose free places are reused: once it has grown to the largest queue
/// seen, entering and leaving allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    slab: Mutex<Slab>,
}

#[derive(Debug, Default)]
struct Slab {
    since: Vec<Option<Instant>>,
    free: Vec<usize>,
}

impl Waiters {
    /// Enters a request that began waiting at `since`; returns its place.
    pub(crate) fn enter(&self, since: Instant) -> usize {
        let mut slab = self.lock();
        match slab.free.pop() {
            Some(place) => {
                slab.since[place] = Some(since);
                place
            }
            None => {
                slab.since.push(Some(since));
                slab.since.len() - 1
            }
        }
    }

    /// Removes the request entered at `place`.
    pub(crate) fn leave(&self, place: usize) {
        let mut slab = self.lock();
        if let Some(entry) = slab.since.get_mut(place)
            && entry.take().is_some()
        {
            slab.free.push(place);
        }
    }

    /// How long the request waiting longest has waited, at `now`; zero when
    /// no request waits.
    pub(crate) fn longest_wait(&self, now: Instant) -> Duration {
        let slab = self.lock();
        slab.since
            .iter()
            .flatten()
            .min()
            .map_or(Duration::ZERO, |since| {
                now.saturating_duration_since(*since)
            })
    }

    /// A panic while the lock was held cannot leave an entry half-written,
    /// so a poisoned lock is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Slab> {
        self.slab
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_wait_is_that_of_the_oldest_request_still_waiting() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(10);
        assert_eq!(waiters.longest_wait(now), Duration::ZERO);
        let oldest = waiters.enter(t0);
        let middle = waiters.enter(t0 + Duration::from_secs(4));
        let _newest = waiters.enter(t0 + Duration::from_secs(7));
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(10));
        waiters.leave(oldest);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(6));
        // A freed place is reused.
        let again = waiters.enter(t0 + Duration::from_secs(9));
        assert_eq!(again, oldest);
        waiters.leave(middle);
        waiters.leave(middle);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(3));
    }
}
