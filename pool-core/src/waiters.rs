//! The requests waiting in the queue: when they began to wait (for the
//! longest current wait) and when they must give up (their deadlines).
//!
//! Deadlines are kept here rather than in a timer per request: the pool's
//! maintenance worker sleeps until the earliest one and wakes the requests
//! whose deadline passed. A timer per waiting request cost more than the
//! rest of a contended checkout. The worker also ends every wait at once
//! when a connect fails with an error that waiting cannot fix.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::BoxedCause;
use crate::striped::Alone;

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
/// path of a checkout never takes these locks. A request is entered in
/// the shard of the thread that polls it first (see [`SHARDS`]); what
/// follows holds within each shard, and a question about all the
/// requests (the next deadline, the longest wait) asks every shard.
/// Entries are kept in a slab
/// whose free places are reused: once it has grown to the largest queue
/// seen, entering and leaving allocate nothing.
///
/// Nothing here scans the queue, whatever its length: requests are entered
/// in the order they arrive, so the marks in [`Slab::arrivals`] are in the
/// order of their start (the longest wait is the first live mark's; when
/// more threads than shards wait, two that share a shard may enter a few
/// microseconds out of order, and the figure is off by as much), and
/// in the order of their deadlines as long as they share one timeout (the
/// next deadline is the first live mark's). A request with a shorter
/// timeout than one before it goes into a heap of early deadlines as well.
/// A mark whose request left stays until it reaches the front (lazy
/// deletion), and is dropped then; both collections are compacted when
/// stale marks outnumber live requests, so every operation is O(1) or
/// O(log n) amortised.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    shards: [Alone<Mutex<Slab>>; SHARDS],
}

#[derive(Debug, Default)]
struct Slab {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Requests entered and not yet left.
    live: usize,
    /// Told apart the requests that took the same place one after another.
    next_ticket: u64,
    /// Every request entered, in the order of entry.
    arrivals: VecDeque<Mark>,
    /// The latest deadline of a request entered in order of deadline.
    last_in_order: Option<Instant>,
    /// The requests entered with a deadline earlier than one entered
    /// before them: the earliest on top.
    early: BinaryHeap<Reverse<(Instant, Mark)>>,
    /// When the worker looks next; a request with an earlier deadline must
    /// wake it.
    target: Option<Instant>,
}

/// A request's place and ticket: stale once the request left the place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mark {
    place: usize,
    ticket: u64,
}

#[derive(Debug)]
struct Entry {
    ticket: u64,
    since: Instant,
    deadline: Instant,
    /// The request's task, once it waits.
    waker: Option<Waker>,
    /// Set by the worker when the wait must end.
    ended: Option<Ended>,
}

impl Slab {
    /// The request of `mark`, while it waits (entered, not left, not ended).
    fn waiting(&mut self, mark: Mark) -> Option<&mut Entry> {
        self.entries
            .get_mut(mark.place)
            .and_then(Option::as_mut)
            .filter(|entry| entry.ticket == mark.ticket && entry.ended.is_none())
    }

    /// Drops the marks of requests no longer waiting from the front of the
    /// arrivals; returns the first request still waiting.
    fn first_waiting(&mut self) -> Option<&mut Entry> {
        self.drop_stale_front();
        let mark = *self.arrivals.front()?;
        self.waiting(mark)
    }

    /// Drops the marks of requests no longer waiting from the front of the
    /// arrivals.
    fn drop_stale_front(&mut self) {
        while let Some(mark) = self.arrivals.front() {
            match self.entries.get(mark.place) {
                Some(Some(entry)) if entry.ticket == mark.ticket && entry.ended.is_none() => {
                    return;
                }
                _ => {
                    self.arrivals.pop_front();
                }
            }
        }
    }

    /// Drops the stale marks wherever they are, once they outnumber the
    /// requests waiting: each mark is dropped at most once, so this costs
    /// O(1) amortised per request.
    fn compact(&mut self) {
        let limit = 2 * self.live + 64;
        if self.arrivals.len() > limit {
            let mut arrivals = std::mem::take(&mut self.arrivals);
            arrivals.retain(|&mark| self.waiting(mark).is_some());
            self.arrivals = arrivals;
        }
        if self.early.len() > limit {
            let mut early = std::mem::take(&mut self.early).into_vec();
            early.retain(|Reverse((_, mark))| self.waiting(*mark).is_some());
            self.early = BinaryHeap::from(early);
        }
    }

    /// Ends the wait of the request of `mark`, if it still waits: its
    /// waker is added to `wake`.
    fn expire(&mut self, mark: Mark, wake: &mut Vec<Waker>) {
        if let Some(entry) = self.waiting(mark) {
            entry.ended = Some(Ended::Expired);
            wake.extend(entry.waker.take());
        }
    }
}

/// Requests are entered in the shard of the thread that polls them, so
/// that the threads of a busy runtime do not take one lock from each
/// other at every contended checkout: a place is its index in the shard
/// times [`SHARDS`], plus the shard.
const SHARDS: usize = crate::striped::CELLS;

impl Slab {
    /// See [`Waiters::enter`]; `place` is the index in this shard.
    fn enter(&mut self, since: Instant, deadline: Instant, waker: Option<Waker>) -> (usize, bool) {
        if self.live == 0 {
            // No request waits: every mark left is stale, and deadlines
            // start over in order.
            self.arrivals.clear();
            self.early.clear();
            self.last_in_order = None;
        } else {
            self.compact();
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let entry = Some(Entry {
            ticket,
            since,
            deadline,
            waker,
            ended: None,
        });
        let place = match self.free.pop() {
            Some(place) => {
                self.entries[place] = entry;
                place
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.live += 1;
        let mark = Mark { place, ticket };
        self.arrivals.push_back(mark);
        if self.last_in_order.is_some_and(|last| deadline < last) {
            self.early.push(Reverse((deadline, mark)));
        } else {
            self.last_in_order = Some(deadline);
        }
        let wake = self.target.is_none_or(|target| deadline < target);
        if wake {
            self.target = Some(deadline);
        }
        (place, wake)
    }

    /// See [`Waiters::expire`]: the wakers of the requests ended go to
    /// `wake`.
    fn expire_due(&mut self, now: Instant, wake: &mut Vec<Waker>) -> Option<Instant> {
        // The arrivals, in order of deadline but for the early ones: the
        // first live request not due has no in-order request due behind
        // it (an early request's deadline is before those entered after
        // it, and it is in the heap too).
        let mut next = None;
        while let Some(&mark) = self.arrivals.front() {
            match self.waiting(mark).map(|entry| entry.deadline) {
                Some(deadline) if deadline > now => {
                    next = Some(deadline);
                    break;
                }
                Some(_) => self.expire(mark, wake),
                None => {}
            }
            self.arrivals.pop_front();
        }
        while let Some(&Reverse((deadline, mark))) = self.early.peek() {
            if self.waiting(mark).is_some() {
                if deadline > now {
                    next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
                    break;
                }
                self.expire(mark, wake);
            }
            self.early.pop();
        }
        if self.live == 0 || next.is_none() {
            self.last_in_order = None;
        }
        self.target = next;
        next
    }
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
        let shard = crate::striped::cell();
        let (index, wake) = self.lock(shard).enter(since, deadline, waker);
        (index * SHARDS + shard, wake)
    }

    /// Removes the request entered at `place`.
    pub(crate) fn leave(&self, place: usize) {
        let (shard, index) = (place % SHARDS, place / SHARDS);
        let mut slab = self.lock(shard);
        let Some(entry) = slab.entries.get_mut(index).and_then(Option::take) else {
            return;
        };
        slab.free.push(index);
        slab.live -= 1;
        // Served first come, first served, the request leaving is usually
        // the first: its mark goes with it, and any stale marks behind it
        // (each is dropped once: O(1) amortised).
        slab.drop_stale_front();
        drop(slab);
        // Its waker (a reference to its task) is let go outside the lock.
        drop(entry);
    }

    /// Why the wait of the request at `place` must end, if it must; if
    /// not, `waker` is woken when it must.
    fn ended(&self, place: usize, waker: &Waker) -> Option<Ended> {
        let mut slab = self.lock(place % SHARDS);
        match slab.entries.get_mut(place / SHARDS) {
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
    /// must look again. Costs O(log n) per request it ends or mark it
    /// drops, nothing per request still waiting.
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        let mut wake = Vec::new();
        let mut next: Option<Instant> = None;
        for shard in 0..SHARDS {
            if let Some(at) = self.lock(shard).expire_due(now, &mut wake) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
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
        for shard in 0..SHARDS {
            let mut slab = self.lock(shard);
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
    /// no request waits. O(1) amortised per shard: requests are entered in
    /// the order they began to wait.
    pub(crate) fn longest_wait(&self, now: Instant) -> Duration {
        (0..SHARDS)
            .filter_map(|shard| {
                self.lock(shard)
                    .first_waiting()
                    .map(|entry| now.saturating_duration_since(entry.since))
            })
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// A panic while the lock was held cannot leave an entry half-written,
    /// so a poisoned lock is used as it is.
    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Slab> {
        self.shards[shard]
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

    /// A small deterministic generator, enough to shuffle a test.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn shorter_timeouts_entered_later_expire_first_and_are_watched() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let waker = Waker::noop();
        let (long, _) = waiters.enter(t0, t0 + s(30), None);
        let (short, wake) = waiters.enter(t0 + s(1), t0 + s(6), None);
        assert!(wake, "an earlier deadline entered later must be watched");
        let (middle, wake) = waiters.enter(t0 + s(2), t0 + s(20), None);
        assert!(!wake);
        assert_eq!(waiters.expire(t0 + s(5)), Some(t0 + s(6)));
        assert_eq!(waiters.expire(t0 + s(6)), Some(t0 + s(20)));
        assert!(matches!(waiters.ended(short, waker), Some(Ended::Expired)));
        assert!(waiters.ended(long, waker).is_none());
        assert!(waiters.ended(middle, waker).is_none());
        // The oldest request still waiting is the first entered.
        assert_eq!(waiters.longest_wait(t0 + s(10)), s(10));
        assert_eq!(waiters.expire(t0 + s(20)), Some(t0 + s(30)));
        assert!(matches!(waiters.ended(middle, waker), Some(Ended::Expired)));
        waiters.leave(long);
        assert_eq!(waiters.expire(t0 + s(21)), None);
        assert_eq!(waiters.longest_wait(t0 + s(21)), Duration::ZERO);
    }

    /// Random entries, leaves and expiries, with several timeouts, against
    /// a plain list: the same requests end, at the same times.
    #[test]
    fn expiry_matches_a_plain_scan_whatever_the_order() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut random = Lcg(7);
        // (place, since, deadline) of the requests waiting, per the model.
        let mut model: Vec<(usize, Instant, Instant)> = Vec::new();
        let mut now = t0;
        for _ in 0..20_000 {
            match random.below(10) {
                0..=4 => {
                    let timeout =
                        [ms(500), ms(500), ms(500), ms(80), ms(2000)][random.below(5) as usize];
                    let (place, _) = waiters.enter(now, now + timeout, None);
                    model.push((place, now, now + timeout));
                }
                5..=7 if !model.is_empty() => {
                    // Mostly the oldest leaves (first come, first served).
                    let at = if random.below(4) == 0 {
                        random.below(model.len() as u64) as usize
                    } else {
                        0
                    };
                    let (place, _, _) = model.remove(at);
                    waiters.leave(place);
                }
                _ => {
                    now += ms(random.below(60));
                    let next = waiters.expire(now);
                    let (due, waiting): (Vec<_>, Vec<_>) =
                        model.iter().partition(|(_, _, deadline)| *deadline <= now);
                    for (place, _, _) in &due {
                        assert!(matches!(
                            waiters.ended(*place, Waker::noop()),
                            Some(Ended::Expired)
                        ));
                        waiters.leave(*place);
                    }
                    assert_eq!(next, waiting.iter().map(|(_, _, d)| *d).min());
                    model.retain(|(_, _, deadline)| *deadline > now);
                    let oldest = model.iter().map(|(_, since, _)| *since).min();
                    assert_eq!(
                        waiters.longest_wait(now),
                        oldest.map_or(Duration::ZERO, |since| now - since)
                    );
                }
            }
        }
    }

    #[test]
    fn requests_entered_on_many_threads_expire_and_fail_together() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Sixteen threads (more than the shards) enter a request each, the
        // deadlines 1 s apart. One after another: requests are entered in
        // the order they began to wait, as checkouts are, which two threads
        // sharing a shard would not keep if they raced.
        let places: Vec<usize> = std::thread::scope(|scope| {
            (0..16u64)
                .map(|i| {
                    let waiters = &waiters;
                    scope
                        .spawn(move || waiters.enter(t0 + s(i), t0 + s(100 + i), None).0)
                        .join()
                        .unwrap()
                })
                .collect()
        });
        assert_eq!(waiters.longest_wait(t0 + s(20)), s(20));
        // The first ten deadlines pass, whichever shard holds them.
        assert_eq!(waiters.expire(t0 + s(109)), Some(t0 + s(110)));
        for (i, place) in places.iter().enumerate() {
            let ended = waiters.ended(*place, Waker::noop());
            assert_eq!(matches!(ended, Some(Ended::Expired)), i < 10, "{i}");
        }
        assert_eq!(waiters.longest_wait(t0 + s(20)), s(10));
        let cause: BoxedCause = std::sync::Arc::new(std::io::Error::other("refused"));
        assert_eq!(waiters.fail_all(&cause), 6);
        for place in places {
            waiters.leave(place);
        }
        assert_eq!(waiters.expire(t0 + s(200)), None);
        assert_eq!(waiters.longest_wait(t0 + s(200)), Duration::ZERO);
    }

    #[test]
    fn marks_of_requests_that_left_do_not_pile_up() {
        let waiters = Waiters::default();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        // One request waits all along at the front; thousands come and go
        // behind it, some with a shorter timeout.
        let (_first, _) = waiters.enter(t0, far + Duration::from_secs(1), None);
        for i in 0..10_000u64 {
            let deadline = if i % 3 == 0 {
                far
            } else {
                far + Duration::from_secs(2)
            };
            let (place, _) = waiters.enter(t0, deadline, None);
            waiters.leave(place);
        }
        let slab = waiters.lock(crate::striped::cell());
        assert!(
            slab.arrivals.len() <= 2 * slab.live + 65,
            "{}",
            slab.arrivals.len()
        );
        assert!(
            slab.early.len() <= 2 * slab.live + 65,
            "{}",
            slab.early.len()
        );
        assert!(slab.entries.len() <= 2);
    }
}
