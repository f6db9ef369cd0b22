//! The requests waiting in the queue: when they began to wait (for the
//! longest current wait) and when they must give up (their deadlines).
//!
//! Deadlines are kept here rather than in a timer per request: the pool's
//! maintenance worker sleeps until the earliest one and wakes the requests
//! whose deadline passed. A timer per waiting request cost more than the
//! rest of a contended checkout. The worker also ends every wait at once
//! when a connect fails with an error that waiting cannot fix.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::BoxedCause;

/// Why a request stopped waiting before it was served.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// Its deadline passed.
    Expired,
    /// The pool has no connection and a connect failed with this error,
    /// which retrying cannot fix.
    ConnectFailed(BoxedCause),
}

/// How a wait ([`UntilDeadline`]) ended.
pub(crate) enum Waited<T> {
    /// What was waited for came.
    Ready(T),
    /// The request gave up first.
    Ended(Ended),
}

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
    /// Set by the worker when the wait must end.
    ended: Option<Ended>,
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
            ended: None,
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

    /// Why the wait of the request at `place` must end, if it must; if
    /// not, `waker` is woken when it must.
    fn ended(&self, place: usize, waker: &Waker) -> Option<Ended> {
        let mut slab = self.lock();
        match slab.entries.get_mut(place) {
            Some(Some(entry)) => {
                if entry.ended.is_none()
                    && !entry.waker.as_ref().is_some_and(|w| w.will_wake(waker))
                {
                    entry.waker = Some(waker.clone());
                }
                entry.ended.clone()
            }
            _ => Some(Ended::Expired),
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
                if entry.ended.is_some() {
                    continue;
                }
                if entry.deadline <= now {
                    entry.ended = Some(Ended::Expired);
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

    /// Ends the wait of every request waiting now, with `cause`: a connect
    /// failed with an error that waiting cannot fix. Returns how many.
    pub(crate) fn fail_all(&self, cause: &BoxedCause) -> usize {
        let mut wake = Vec::new();
        let mut ended = 0;
        {
            let mut slab = self.lock();
            for entry in slab.entries.iter_mut().flatten() {
                if entry.ended.is_none() {
                    entry.ended = Some(Ended::ConnectFailed(BoxedCause::clone(cause)));
                    wake.extend(entry.waker.take());
                    ended += 1;
                }
            }
        }
        for waker in wake {
            waker.wake();
        }
        ended
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

/// Waits for `inner` until `deadline` (or until the worker ends the wait,
/// see [`Ended`]). The request
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
    type Output = Waited<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(output) = this.inner.as_mut().poll(cx) {
            return Poll::Ready(Waited::Ready(output));
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
            Some(place) => match this.waiters.ended(place, cx.waker()) {
                Some(ended) => Poll::Ready(Waited::Ended(ended)),
                None => Poll::Pending,
            },
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
        assert!(waiters.ended(early, waker).is_none());
        assert_eq!(waiters.expire(t0 + s(10)), Some(t0 + s(30)));
        assert!(matches!(waiters.ended(early, waker), Some(Ended::Expired)));
        assert!(waiters.ended(first, waker).is_none());
        waiters.leave(first);
        assert_eq!(waiters.expire(t0 + s(20)), Some(t0 + s(40)));
        assert_eq!(waiters.expire(t0 + s(40)), None);
        // Nothing is watched now: the next deadline wakes the worker.
        assert!(waiters.enter(t0, t0 + s(50), None).1);
    }

    #[test]
    fn a_permanent_connect_error_ends_every_wait_in_progress_and_no_later_one() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        let (a, _) = waiters.enter(t0, far, Some(Waker::noop().clone()));
        let (b, _) = waiters.enter(t0, far, None);
        let cause: BoxedCause = std::sync::Arc::new(std::io::Error::other("password refused"));
        assert_eq!(waiters.fail_all(&cause), 2);
        assert_eq!(
            waiters.fail_all(&cause),
            0,
            "an ended wait is not ended twice"
        );
        let waker = Waker::noop();
        for place in [a, b] {
            match waiters.ended(place, waker) {
                Some(Ended::ConnectFailed(error)) => {
                    assert_eq!(error.to_string(), "password refused")
                }
                other => panic!("the wait must end with the connect error: {other:?}"),
            }
        }
        // A deadline passing later does not turn the failure into a timeout.
        waiters.expire(far);
        assert!(matches!(
            waiters.ended(a, waker),
            Some(Ended::ConnectFailed(_))
        ));
        // A request entered afterwards waits for the next attempt.
        let (c, _) = waiters.enter(t0, far, None);
        assert!(waiters.ended(c, waker).is_none());
    }
}
