//! The requests waiting in the queue: when they began to wait (for the
//! longest current wait) and when they must give up (their deadlines).
//!
//! Deadlines are kept here rather than in a timer per request: the pool's
//! maintenance worker sleeps until the earliest one and wakes the requests
//! whose deadline passed. A timer per waiting request cost more than the
//! rest of a contended checkout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The requests waiting now.
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
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// When the worker looks next; a request with an earlier deadline must
    /// wake it.
    target: Option<Instant>,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    deadline: Instant,
    /// The request's task, once it waits.
    waker: Option<Waker>,
    /// Set by the worker when the deadline passed.
    expired: bool,
}

impl Waiters {
    /// Enters a request that began waiting at `since`, gives up at
    /// `deadline` and is woken through `waker`; returns its place, and
    /// whether the maintenance worker must be woken to watch the new
    /// deadline.
    pub(crate) fn enter(
        &self,
        since: Instant,
        deadline: Instant,
        waker: Option<Waker>,
    ) -> (usize, bool) {
        let mut slab = self.lock();
        let entry = Some(Entry {
            since,
            deadline,
            waker,
            expired: false,
        });
        let place = match slab.free.pop() {
            Some(place) => {
                slab.entries[place] = entry;
                place
            }
            None => {
                slab.entries.push(entry);
                slab.entries.len() - 1
            }
        };
        let wake = slab.target.is_none_or(|target| deadline < target);
        if wake {
            slab.target = Some(deadline);
        }
        (place, wake)
    }

    /// Removes the request entered at `place`.
    pub(crate) fn leave(&self, place: usize) {
        let mut slab = self.lock();
        if let Some(entry) = slab.entries.get_mut(place)
            && entry.take().is_some()
        {
            slab.free.push(place);
        }
    }

    /// Whether the deadline of the request at `place` passed; if not,
    /// `waker` is woken when it does.
    fn expired(&self, place: usize, waker: &Waker) -> bool {
        let mut slab = self.lock();
        match slab.entries.get_mut(place) {
            Some(Some(entry)) => {
                if !entry.expired && !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    entry.waker = Some(waker.clone());
                }
                entry.expired
            }
            _ => true,
        }
    }

    /// Marks the requests whose deadline is at or before `now` and wakes
    /// them; returns the earliest deadline still ahead, when the worker
    /// must look again.
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        let mut wake = Vec::new();
        let next = {
            let mut slab = self.lock();
            let mut next: Option<Instant> = None;
            for entry in slab.entries.iter_mut().flatten() {
                if entry.expired {
                    continue;
                }
                if entry.deadline <= now {
                    entry.expired = true;
                    wake.extend(entry.waker.take());
                } else {
                    next = Some(next.map_or(entry.deadline, |n| n.min(entry.deadline)));
                }
            }
            slab.target = next;
            next
        };
        for waker in wake {
            waker.wake();
        }
        next
    }

    /// How long the request waiting longest has waited, at `now`; zero when
    /// no request waits.
    pub(crate) fn longest_wait(&self, now: Instant) -> Duration {
        let slab = self.lock();
        slab.entries
            .iter()
            .flatten()
            .map(|entry| entry.since)
            .min()
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// A panic while the lock was held cannot leave an entry half-written,
    /// so a poisoned lock is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Slab> {
        self.slab
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Waits for `inner` until `deadline`, and gives `None` then. The request
/// is entered in the waiters when it first has to wait, and leaves them
/// when the wait ends or is dropped.
pub(crate) struct UntilDeadline<'a, F> {
    inner: Pin<&'a mut F>,
    waiters: &'a Waiters,
    /// Wakes the maintenance worker, which watches the deadlines.
    worker: &'a Notify,
    since: Instant,
    deadline: Instant,
    place: Option<usize>,
}

impl<'a, F> UntilDeadline<'a, F> {
    pub(crate) fn new(
        inner: Pin<&'a mut F>,
        waiters: &'a Waiters,
        worker: &'a Notify,
        since: Instant,
        deadline: Instant,
    ) -> Self {
        Self {
            inner,
            waiters,
            worker,
            since,
            deadline,
            place: None,
        }
    }
}

impl<F: Future> Future for UntilDeadline<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(output) = this.inner.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        match this.place {
            // One lock to enter the request with its waker.
            None => {
                let (place, watch) =
                    this.waiters
                        .enter(this.since, this.deadline, Some(cx.waker().clone()));
                this.place = Some(place);
                if watch {
                    this.worker.notify_one();
                }
                Poll::Pending
            }
            Some(place) if this.waiters.expired(place, cx.waker()) => Poll::Ready(None),
            Some(_) => Poll::Pending,
        }
    }
}

impl<F> Drop for UntilDeadline<'_, F> {
    fn drop(&mut self) {
        if let Some(place) = self.place {
            self.waiters.leave(place);
        }
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
        let far = t0 + Duration::from_secs(60);
        assert_eq!(waiters.longest_wait(now), Duration::ZERO);
        let (oldest, _) = waiters.enter(t0, far, None);
        let (middle, _) = waiters.enter(t0 + Duration::from_secs(4), far, None);
        let (_newest, _) = waiters.enter(t0 + Duration::from_secs(7), far, None);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(10));
        waiters.leave(oldest);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(6));
        // A freed place is reused.
        let (again, _) = waiters.enter(t0 + Duration::from_secs(9), far, None);
        assert_eq!(again, oldest);
        waiters.leave(middle);
        waiters.leave(middle);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(3));
    }

    #[test]
    fn only_an_earlier_deadline_wakes_the_worker_and_expired_requests_are_told() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let (first, wake) = waiters.enter(t0, t0 + s(30), None);
        assert!(wake, "the first deadline must be watched");
        let (_, wake) = waiters.enter(t0, t0 + s(40), None);
        assert!(!wake, "a later deadline is seen when the worker looks");
        let (early, wake) = waiters.enter(t0, t0 + s(10), None);
        assert!(wake, "an earlier deadline must be watched");
        let waker = Waker::noop();
        assert!(!waiters.expired(early, waker));
        assert_eq!(waiters.expire(t0 + s(10)), Some(t0 + s(30)));
        assert!(waiters.expired(early, waker));
        assert!(!waiters.expired(first, waker));
        waiters.leave(first);
        assert_eq!(waiters.expire(t0 + s(20)), Some(t0 + s(40)));
        assert_eq!(waiters.expire(t0 + s(40)), None);
        // Nothing is watched now: the next deadline wakes the worker.
        assert!(waiters.enter(t0, t0 + s(50), None).1);
    }
}
