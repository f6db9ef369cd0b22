//! The requests waiting in the queue, first come, first served: a returned
//! connection is handed to the first of them directly, and the queue
//! watches when they began to wait (for the longest current wait) and when
//! they must give up (their deadlines).
//!
//! The idle connections stay in deadpool's store, but a request waits
//! here, not on the store's semaphore. A connection that comes back while
//! requests wait goes straight to the first of them without passing
//! through the store, and is told to it through a cell that the request
//! and its place in the queue share: a contended checkout and return take
//! the queue's lock twice (the request enters; the return takes it out,
//! then fills its cell outside the lock) and nothing of the store's. The
//! request then takes the connection from its cell, which only the two of
//! them touch.
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
use std::sync::atomic::{
    AtomicUsize,
    Ordering::{Release, SeqCst},
    fence,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use deadpool::unmanaged::{self, Object, PoolError};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::BoxedCause;
use crate::striped::{Alone, Striped};

/// Why a request stopped waiting before it was served.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// Its deadline passed.
    Expired,
    /// The pool has no connection and a connect failed with this error,
    /// which retrying cannot fix.
    ConnectFailed(BoxedCause),
    /// The pool closed.
    Closed,
}

/// The requests waiting now, in the order they arrived, and the connections
/// handed to them and not yet taken.
///
/// Only requests that find no idle connection are entered, so the fast
/// path of a checkout never takes this lock. One lock keeps one order:
/// the first request entered is the first served, and while any request
/// waits, a new one goes behind it even if a connection is in the store
/// (it is on its way to the first request).
///
/// The queue is one ring of small places, in the order of entry: entering
/// writes at its back and serving reads at its front, which keeps the
/// memory that the threads take from each other to a cache line or two.
/// Once the ring has grown to the largest queue seen, entering and leaving
/// allocate nothing (but the request's own cell).
///
/// Nothing here scans the queue, whatever its length: requests are entered
/// in the order they arrive, so [`Line::places`] is in the order of their
/// start (the first live place is the next served and the longest
/// waiting), and in the order of their deadlines as long as they share one
/// timeout (the next deadline is the first live place's). A request with a
/// shorter timeout than one before it goes into a heap of early deadlines
/// as well. A request that leaves other than from the front (it gives up
/// or is dropped) leaves its place empty, and the place is dropped when it
/// reaches the front (lazy deletion). Both collections are compacted when
/// empty places outnumber live requests, so every operation is O(1) or
/// O(log n) amortised.
#[derive(Debug)]
pub(crate) struct Waiters<T> {
    queue: Alone<Queue<T>>,
    /// Connections handed to requests and not yet taken: counted on the
    /// returning thread and taken away on the request's, each in its own
    /// cache line, away from the queue's lock.
    handed: Striped,
}

/// The line of requests under its lock, and their count, readable
/// without it. The count comes first, beside the lock's word, so that a
/// return reads it and takes the lock in one cache line.
#[derive(Debug)]
#[repr(C)]
struct Queue<T> {
    /// Requests waiting to be served (in the line), readable without the
    /// lock (written under it): a return that sees none puts its
    /// connection in the store without taking the lock.
    queued: AtomicUsize,
    line: Mutex<Line<T>>,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Self {
            queue: Alone(Queue {
                line: Mutex::new(Line::default()),
                queued: AtomicUsize::new(0),
            }),
            handed: Striped::default(),
        }
    }
}

/// Where a request waiting is told how its wait ended: the connection
/// handed to it or why it must give up. The queue's place and the request
/// share it; once the place is emptied, only the request and whoever
/// emptied it touch it, so the request takes its connection without the
/// queue's lock.
type Cell<T> = Arc<Request<T>>;

/// A request waiting: when it began and when it gives up, which never
/// change, and what it is told.
#[derive(Debug)]
struct Request<T> {
    since: Instant,
    deadline: Instant,
    told: Mutex<Told<T>>,
}

impl<T> Request<T> {
    fn new(since: Instant, deadline: Instant, waker: Option<Waker>) -> Cell<T> {
        Arc::new(Self {
            since,
            deadline,
            told: Mutex::new(Told {
                item: None,
                ended: None,
                waker,
                gone: false,
            }),
        })
    }

    /// Tells the request, out of the queue, that its wait ended with
    /// `why`; its waker goes to `wake`.
    fn end(&self, why: Ended, wake: &mut Vec<Waker>) {
        let mut told = self.told();
        told.ended = Some(why);
        wake.extend(told.waker.take());
    }

    /// Locks what the request is told. A panic while the lock was held
    /// cannot leave it half-written, so a poisoned lock is used as it is.
    fn told(&self) -> MutexGuard<'_, Told<T>> {
        self.told
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
struct Told<T> {
    /// The connection handed to the request, until it takes it.
    item: Option<Object<T>>,
    /// Set when the wait must end unserved.
    ended: Option<Ended>,
    /// The request's task.
    waker: Option<Waker>,
    /// Set when the request is dropped: nothing may be handed to it.
    gone: bool,
}

/// A request's ticket: the order of its entry, which tells apart requests
/// and finds a request's place in the line.
type Mark = u64;

/// A place in the line: a request's ticket, and its cell while it waits.
#[derive(Debug)]
struct Place<T> {
    ticket: Mark,
    cell: Option<Cell<T>>,
}

/// The requests in the order of entry, and what finds the next deadline.
#[derive(Debug)]
struct Line<T> {
    /// Every request entered and not yet dropped from the front, in the
    /// order of entry (so of ticket).
    places: VecDeque<Place<T>>,
    /// Requests entered and still waiting.
    live: usize,
    /// The ticket of the next request.
    next_ticket: Mark,
    /// The latest deadline of a request entered in order of deadline.
    last_in_order: Option<Instant>,
    /// The requests entered with a deadline earlier than one entered
    /// before them: the earliest on top.
    early: BinaryHeap<Reverse<(Instant, Mark)>>,
    /// When the worker looks next; a request with an earlier deadline must
    /// wake it.
    target: Option<Instant>,
}

impl<T> Default for Line<T> {
    fn default() -> Self {
        Self {
            places: VecDeque::new(),
            live: 0,
            next_ticket: 0,
            last_in_order: None,
            early: BinaryHeap::new(),
            target: None,
        }
    }
}

impl<T> Line<T> {
    /// Where in the line the request of `mark` is, if its place is there
    /// (it may be empty). Its place is found at once unless the line was
    /// compacted since it entered; then by a binary search.
    fn find(&self, mark: Mark) -> Option<usize> {
        let front = self.places.front()?.ticket;
        let guess = usize::try_from(mark.checked_sub(front)?).ok()?;
        match self.places.get(guess) {
            Some(place) if place.ticket == mark => Some(guess),
            _ => self
                .places
                .binary_search_by_key(&mark, |place| place.ticket)
                .ok(),
        }
    }

    /// The request of `mark`, while it waits.
    fn waiting(&self, mark: Mark) -> Option<&Cell<T>> {
        self.places.get(self.find(mark)?)?.cell.as_ref()
    }

    /// Drops the empty places from the front of the line; returns the
    /// first request still waiting.
    fn first_waiting(&mut self) -> Option<&Cell<T>> {
        while self.places.front()?.cell.is_none() {
            self.places.pop_front();
        }
        self.places.front()?.cell.as_ref()
    }

    /// Drops the empty places and stale marks wherever they are, once they
    /// outnumber the requests waiting: each is dropped at most once, so
    /// this costs O(1) amortised per request.
    fn compact(&mut self) {
        let limit = 2 * self.live + 64;
        if self.places.len() > limit {
            self.places.retain(|place| place.cell.is_some());
        }
        if self.early.len() > limit {
            let mut early = std::mem::take(&mut self.early).into_vec();
            early.retain(|Reverse((_, mark))| self.waiting(*mark).is_some());
            self.early = BinaryHeap::from(early);
        }
    }

    /// Takes the request of `mark` out of the queue, if it still waits.
    fn take(&mut self, mark: Mark) -> Option<Cell<T>> {
        let at = self.find(mark)?;
        let cell = self.places.get_mut(at)?.cell.take()?;
        self.live -= 1;
        Some(cell)
    }

    /// Takes the first request waiting out of the queue, to be served:
    /// its cell is filled outside the lock ([`Waiters::tell`]).
    fn take_first(&mut self) -> Option<Cell<T>> {
        loop {
            let place = self.places.pop_front()?;
            if let Some(cell) = place.cell {
                self.live -= 1;
                return Some(cell);
            }
        }
    }

    /// Ends the wait of the request of `mark` with `why`, if it still
    /// waits: its waker is added to `wake`. Returns whether it ended.
    fn end(&mut self, mark: Mark, why: Ended, wake: &mut Vec<Waker>) -> bool {
        let Some(cell) = self.take(mark) else {
            return false;
        };
        cell.end(why, wake);
        true
    }

    /// Enters the request of `cell`; returns its mark and whether the
    /// worker must be woken to watch its deadline.
    fn enter(&mut self, cell: Cell<T>) -> (Mark, bool) {
        let deadline = cell.deadline;
        if self.live == 0 {
            // No request waits: every place and mark left is stale, and
            // deadlines start over in order.
            self.places.clear();
            self.early.clear();
            self.last_in_order = None;
        } else {
            self.compact();
        }
        let mark = self.next_ticket;
        self.next_ticket += 1;
        self.places.push_back(Place {
            ticket: mark,
            cell: Some(cell),
        });
        self.live += 1;
        if self.last_in_order.is_some_and(|last| deadline < last) {
            self.early.push(Reverse((deadline, mark)));
        } else {
            self.last_in_order = Some(deadline);
        }
        let wake = self.target.is_none_or(|target| deadline < target);
        if wake {
            self.target = Some(deadline);
        }
        (mark, wake)
    }

    /// See [`Waiters::expire`]: the requests whose deadline passed are
    /// ended, their wakers go to `wake`; returns the next deadline.
    fn expire_due(&mut self, now: Instant, wake: &mut Vec<Waker>) -> Option<Instant> {
        // The line, in order of deadline but for the early ones: the
        // first live request not due has no in-order request due behind
        // it (an early request's deadline is before those entered after
        // it, and it is in the heap too).
        let mut next = None;
        while let Some(place) = self.places.front_mut() {
            if let Some(cell) = &place.cell {
                if cell.deadline > now {
                    next = Some(cell.deadline);
                    break;
                }
                // Invariant: checked just above.
                let cell = place.cell.take().expect("a request waits here");
                self.live -= 1;
                cell.end(Ended::Expired, wake);
            }
            self.places.pop_front();
        }
        while let Some(&Reverse((deadline, mark))) = self.early.peek() {
            if self.waiting(mark).is_some() {
                if deadline > now {
                    next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
                    break;
                }
                self.end(mark, Ended::Expired, wake);
            }
            self.early.pop();
        }
        if self.live == 0 || next.is_none() {
            self.last_in_order = None;
        }
        self.target = next;
        next
    }

    /// Ends every request waiting now with `why`; returns how many.
    fn end_all(&mut self, why: &Ended, wake: &mut Vec<Waker>) -> usize {
        let mut ended = 0;
        for place in std::mem::take(&mut self.places) {
            if let Some(cell) = place.cell {
                cell.end(why.clone(), wake);
                ended += 1;
            }
        }
        self.live = 0;
        self.early.clear();
        self.last_in_order = None;
        ended
    }
}

/// How a request fared when it first asked ([`Waiters::wait`]).
enum Entered<T> {
    /// An idle connection was there.
    Got(Object<T>),
    /// The pool is closed.
    Closed,
    /// It waits under this mark, told through the cell; the worker must be
    /// woken to watch its deadline when `watch`.
    Waiting {
        mark: Mark,
        cell: Cell<T>,
        watch: bool,
    },
}

impl<T> Waiters<T> {
    /// Takes an idle connection from `idle`, or enters a request that
    /// began waiting at `since`, gives up at `deadline` and is woken
    /// through `waker`.
    fn wait(
        &self,
        idle: &unmanaged::Pool<T>,
        since: Instant,
        deadline: Instant,
        waker: &Waker,
    ) -> Entered<T> {
        // Made before the lock is taken, to keep the lock short: the
        // checkout found no idle connection, so it most likely waits.
        let cell = Request::new(since, deadline, Some(waker.clone()));
        let mut line = self.lock();
        // A connection in the store while others wait is on its way to the
        // first of them (whoever put it there serves them next): this
        // request goes behind them, without looking.
        if line.live == 0 {
            // Counted before the store is looked at, and a return puts its
            // connection in the store before it reads the count (both with
            // a fence between): either the return sees this request or the
            // request sees the connection.
            self.queue.queued.store(1, SeqCst);
            fence(SeqCst);
            let taken = match idle.try_get() {
                Ok(item) => Some(Entered::Got(item)),
                Err(PoolError::Closed) => Some(Entered::Closed),
                Err(_) => None,
            };
            if let Some(taken) = taken {
                self.count(&line);
                drop(line);
                return taken;
            }
        }
        let (mark, watch) = line.enter(Arc::clone(&cell));
        self.count(&line);
        Entered::Waiting { mark, cell, watch }
    }

    /// The connection handed to the request told through `cell`, or why
    /// its wait ended; if neither, `waker` is woken when one of them comes.
    /// Takes no lock of the queue.
    fn poll_told(&self, cell: &Cell<T>, waker: &Waker) -> Poll<Result<Object<T>, Ended>> {
        let mut told = cell.told();
        if let Some(item) = told.item.take() {
            self.handed.drop_one();
            return Poll::Ready(Ok(item));
        }
        if let Some(ended) = &told.ended {
            return Poll::Ready(Err(ended.clone()));
        }
        if !told.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            told.waker = Some(waker.clone());
        }
        Poll::Pending
    }

    /// Removes the request of `mark`, told through `cell`, dropped while
    /// it waited; returns the connection that was handed to it and not
    /// taken, which the caller must give back.
    fn leave(&self, mark: Mark, cell: &Cell<T>) -> Option<Object<T>> {
        let (item, ended) = {
            let mut told = cell.told();
            told.gone = true;
            (told.item.take(), told.ended.is_some())
        };
        if item.is_some() {
            self.handed.drop_one();
            return item;
        }
        if !ended {
            // Still in the queue, unless a return took it out just now (it
            // will see `gone` and pass on).
            let taken = self.change(|line, _| line.take(mark));
            // Its cell is let go outside the lock.
            drop(taken);
        }
        None
    }

    /// Gives a connection back: to the first request waiting, or, if none
    /// waits, to `idle`. Takes no lock while no request waits.
    pub(crate) fn give(&self, idle: &unmanaged::Pool<T>, mut item: Object<T>) {
        while self.queue.queued.load(SeqCst) > 0 {
            let first = {
                let mut line = self.lock();
                let first = line.take_first();
                self.count(&line);
                first
            };
            let Some(first) = first else { break };
            match self.tell(first, item) {
                Ok(()) => return,
                // Dropped before it could leave the queue itself: the next.
                Err(back) => item = back,
            }
        }
        // Dropping the object puts it in the store (or closes the
        // connection if the pool is closed).
        drop(item);
        self.serve_from(idle);
    }

    /// Hands `item` to the request of `cell`, taken out of the queue, and
    /// wakes it; gives `item` back if the request was dropped meanwhile.
    /// The request's cell is locked, not the queue.
    fn tell(&self, cell: Cell<T>, item: Object<T>) -> Result<(), Object<T>> {
        let waker = {
            let mut told = cell.told();
            if told.gone {
                return Err(item);
            }
            // Counted before the request can see it. From the moment the
            // request left the line until here, the maintenance worker may
            // count it as waiting and unserved: its count is a hint (read
            // without a snapshot), and the worst it does is begin one
            // connect within max_size. Counting it before it leaves the
            // line (under the queue's lock, or before taking it) cost 3-5 %
            // of contended checkouts.
            self.handed.bump();
            told.item = Some(item);
            told.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Hands connections from `idle` to the requests waiting, while both
    /// last. Called after connections were put in the store otherwise
    /// than through [`give`](Self::give): a request that entered
    /// meanwhile would not see them.
    pub(crate) fn serve_from(&self, idle: &unmanaged::Pool<T>) {
        fence(SeqCst);
        if self.queue.queued.load(SeqCst) == 0 {
            return;
        }
        loop {
            let served = self.change(|line, _| {
                line.first_waiting()?;
                let item = idle.try_get().ok()?;
                // Invariant: `first_waiting` found a request just now.
                let first = line.take_first().expect("a request waits");
                Some((first, item))
            });
            let Some((first, item)) = served else { return };
            if let Err(item) = self.tell(first, item) {
                // Dropped meanwhile: back in the store, for the next.
                drop(item);
            }
        }
    }

    /// Whether no request waits: a checkout then takes an idle connection
    /// straight from the store, and otherwise queues behind the others.
    pub(crate) fn none_waiting(&self) -> bool {
        self.queue.queued.load(SeqCst) == 0
    }

    /// Connections handed to requests that have not taken them yet: those
    /// requests are served, though still counted as waiting.
    pub(crate) fn handed(&self) -> usize {
        self.handed.gauge()
    }

    /// Marks the requests whose deadline is at or before `now` and wakes
    /// them; returns the earliest deadline still ahead, when the worker
    /// must look again. Costs O(log n) per request it ends or mark it
    /// drops, nothing per request still waiting.
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        self.change(|line, wake| line.expire_due(now, wake))
    }

    /// Ends the wait of every request waiting now with `why`; returns how
    /// many.
    fn end_all(&self, why: &Ended) -> usize {
        self.change(|line, wake| line.end_all(why, wake))
    }

    /// Ends the wait of every request waiting now, with `cause`: a connect
    /// failed with an error that waiting cannot fix. Returns how many.
    pub(crate) fn fail_all(&self, cause: &BoxedCause) -> usize {
        self.end_all(&Ended::ConnectFailed(BoxedCause::clone(cause)))
    }

    /// Ends the wait of every request waiting now: the pool closed (its
    /// store is closed first, so no request enters afterwards).
    pub(crate) fn close_all(&self) -> usize {
        self.end_all(&Ended::Closed)
    }

    /// How long the request waiting longest has waited, at `now`; zero when
    /// no request waits. O(1) amortised: requests are entered in the order
    /// they began to wait.
    pub(crate) fn longest_wait(&self, now: Instant) -> Duration {
        let since = self.lock().first_waiting().map(|cell| cell.since);
        since.map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Runs `change` on the queue under its lock, then keeps the count
    /// readable without the lock in step, and wakes the requests whose
    /// wakers `change` gathered, outside the lock.
    fn change<R>(&self, change: impl FnOnce(&mut Line<T>, &mut Vec<Waker>) -> R) -> R {
        let mut wake = Vec::new();
        let outcome = {
            let mut line = self.lock();
            let outcome = change(&mut line, &mut wake);
            self.count(&line);
            outcome
        };
        for waker in wake {
            waker.wake();
        }
        outcome
    }

    /// Publishes the count of requests in the queue, under its lock.
    ///
    /// A plain store is enough: the one store that must be ordered before
    /// a read of the store of idle connections (a request entering an
    /// empty queue) is made apart, with a fence. A return that reads a
    /// count gone stale either takes the lock and finds the queue as it
    /// is, or puts its connection in the store and serves the queue after
    /// a fence ([`serve_from`](Self::serve_from)).
    fn count(&self, line: &Line<T>) {
        self.queue.queued.store(line.live, Release);
    }

    /// A panic while the lock was held cannot leave an entry half-written,
    /// so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Line<T>> {
        self.queue
            .line
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How a wait ([`Handoff`]) ended.
pub(crate) type Waited<T> = Result<Object<T>, Ended>;

/// A request's wait for a connection, until it is handed one, its
/// `deadline` passes, or the worker or the pool's close ends it (see
/// [`Ended`]). The request is entered in the waiters at its first poll
/// unless an idle connection is there, and leaves them when the wait ends
/// or is dropped; a connection handed to it and not taken is given back.
pub(crate) struct Handoff<'a, T> {
    waiters: &'a Waiters<T>,
    idle: &'a unmanaged::Pool<T>,
    /// Wakes the maintenance worker, which watches the deadlines.
    worker: &'a Notify,
    since: Instant,
    deadline: Instant,
    /// Set while the request is entered and has not taken a connection.
    entered: Option<(Mark, Cell<T>)>,
}

impl<'a, T> Handoff<'a, T> {
    pub(crate) fn new(
        waiters: &'a Waiters<T>,
        idle: &'a unmanaged::Pool<T>,
        worker: &'a Notify,
        since: Instant,
        deadline: Instant,
    ) -> Self {
        Self {
            waiters,
            idle,
            worker,
            since,
            deadline,
            entered: None,
        }
    }
}

impl<T> Future for Handoff<'_, T> {
    type Output = Waited<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &this.entered {
            // One lock to take an idle connection or enter with the waker.
            None => match this
                .waiters
                .wait(this.idle, this.since, this.deadline, cx.waker())
            {
                Entered::Got(item) => Poll::Ready(Ok(item)),
                Entered::Closed => Poll::Ready(Err(Ended::Closed)),
                Entered::Waiting { mark, cell, watch } => {
                    this.entered = Some((mark, cell));
                    if watch {
                        this.worker.notify_one();
                    }
                    Poll::Pending
                }
            },
            Some((_, cell)) => {
                let waited = std::task::ready!(this.waiters.poll_told(cell, cx.waker()));
                if waited.is_ok() {
                    // Taken: the request is out of the queue.
                    this.entered = None;
                }
                Poll::Ready(waited)
            }
        }
    }
}

impl<T> Drop for Handoff<'_, T> {
    fn drop(&mut self) {
        if let Some((mark, cell)) = self.entered.take()
            && let Some(item) = self.waiters.leave(mark, &cell)
        {
            self.waiters.give(self.idle, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// The queue's bookkeeping without a store: requests entered directly,
    /// each known by a number, the order of its entry.
    #[derive(Default)]
    struct Book {
        waiters: Waiters<u32>,
        entered: Mutex<Vec<(Mark, Cell<u32>)>>,
    }

    impl std::ops::Deref for Book {
        type Target = Waiters<u32>;

        fn deref(&self) -> &Waiters<u32> {
            &self.waiters
        }
    }

    impl Book {
        fn enter(&self, since: Instant, deadline: Instant, waker: Option<Waker>) -> (usize, bool) {
            let cell = Request::new(since, deadline, waker);
            let (mark, wake) = {
                let mut line = self.waiters.lock();
                let entered = line.enter(Arc::clone(&cell));
                self.waiters.count(&line);
                entered
            };
            let mut entered = self.entered.lock().unwrap();
            entered.push((mark, cell));
            (entered.len() - 1, wake)
        }

        fn request(&self, id: usize) -> (Mark, Cell<u32>) {
            let (mark, cell) = &self.entered.lock().unwrap()[id];
            (*mark, Arc::clone(cell))
        }

        fn ended(&self, id: usize, waker: &Waker) -> Option<Ended> {
            match self.waiters.poll_told(&self.request(id).1, waker) {
                Poll::Pending => None,
                Poll::Ready(Err(ended)) => Some(ended),
                Poll::Ready(Ok(_)) => panic!("no connection was handed"),
            }
        }

        fn leave(&self, id: usize) {
            let (mark, cell) = self.request(id);
            assert!(self.waiters.leave(mark, &cell).is_none());
        }
    }

    #[test]
    fn the_longest_wait_is_that_of_the_oldest_request_still_waiting() {
        let waiters = Book::default();
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
        // A request entered now goes behind the others.
        let (_again, _) = waiters.enter(t0 + Duration::from_secs(9), far, None);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(6));
        waiters.leave(middle);
        waiters.leave(middle);
        assert_eq!(waiters.longest_wait(now), Duration::from_secs(3));
    }

    #[test]
    fn only_an_earlier_deadline_wakes_the_worker_and_expired_requests_are_told() {
        let waiters = Book::default();
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
        let waiters = Book::default();
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
        let waiters = Book::default();
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
        let waiters = Book::default();
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
        let waiters = Book::default();
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
        let waiters = Book::default();
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
        let line = waiters.lock();
        assert!(
            line.places.len() <= 2 * line.live + 65,
            "{}",
            line.places.len()
        );
        assert!(
            line.early.len() <= 2 * line.live + 65,
            "{}",
            line.early.len()
        );
        // The line's memory stays that of a short queue.
        assert!(line.places.capacity() <= 4 * (2 * line.live + 65));
    }

    /// A store of `n` connections, numbered from 0.
    fn store(n: u32) -> unmanaged::Pool<u32> {
        let idle = unmanaged::Pool::new(16);
        for i in 0..n {
            idle.try_add(i).expect("room in the store");
        }
        idle
    }

    /// Polls a wait once, with a waker that counts its wakes.
    fn poll_once<T>(wait: &mut Handoff<'_, T>, waker: &Waker) -> Poll<Waited<T>> {
        Pin::new(wait).poll(&mut Context::from_waker(waker))
    }

    /// A waker that sets a flag.
    struct Flag(AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        (Arc::clone(&flag), Waker::from(flag))
    }

    #[test]
    fn a_returned_connection_goes_to_the_first_request_waiting_not_to_the_store() {
        let waiters = Waiters::default();
        let idle = store(1);
        let notify = Notify::new();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        let Poll::Ready(Ok(held)) = poll_once(
            &mut Handoff::new(&waiters, &idle, &notify, t0, far),
            Waker::noop(),
        ) else {
            panic!("an idle connection is taken at once");
        };
        let mut first = Handoff::new(&waiters, &idle, &notify, t0, far);
        let mut second = Handoff::new(&waiters, &idle, &notify, t0, far);
        let (first_woken, first_waker) = flag();
        let (second_woken, second_waker) = flag();
        assert!(poll_once(&mut first, &first_waker).is_pending());
        assert!(poll_once(&mut second, &second_waker).is_pending());
        assert_eq!(
            waiters.longest_wait(t0 + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        waiters.give(&idle, held);
        assert!(first_woken.0.load(SeqCst), "the first request is woken");
        assert!(!second_woken.0.load(SeqCst), "the second is not");
        assert_eq!(idle.status().available, 0, "the store was passed by");
        assert_eq!(waiters.handed(), 1);
        // The second request asks again (a spurious poll): still waiting.
        assert!(poll_once(&mut second, &second_waker).is_pending());
        let Poll::Ready(Ok(held)) = poll_once(&mut first, &first_waker) else {
            panic!("the first request takes what it was handed");
        };
        assert_eq!(*held, 0);
        assert_eq!(waiters.handed(), 0);
        drop(first);
        // With nobody waiting, a return goes to the store, without a lock.
        drop(second);
        waiters.give(&idle, held);
        assert_eq!(idle.status().available, 1);
        assert_eq!(waiters.longest_wait(t0), Duration::ZERO);
    }

    #[test]
    fn a_request_dropped_after_it_was_handed_a_connection_passes_it_on() {
        let waiters = Waiters::default();
        let idle = store(1);
        let notify = Notify::new();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        let held = idle.try_get().expect("one idle connection");
        let mut first = Handoff::new(&waiters, &idle, &notify, t0, far);
        let mut second = Handoff::new(&waiters, &idle, &notify, t0, far);
        assert!(poll_once(&mut first, Waker::noop()).is_pending());
        assert!(poll_once(&mut second, Waker::noop()).is_pending());
        waiters.give(&idle, held);
        // The first request is cancelled before it runs again.
        drop(first);
        let Poll::Ready(Ok(held)) = poll_once(&mut second, Waker::noop()) else {
            panic!("the connection passes to the next request");
        };
        drop(second);
        // And with nobody left, to the store.
        let mut third = Handoff::new(&waiters, &idle, &notify, t0, far);
        assert!(poll_once(&mut third, Waker::noop()).is_pending());
        waiters.give(&idle, held);
        drop(third);
        assert_eq!(
            idle.status().available,
            1,
            "the connection is back in the store"
        );
        assert_eq!(waiters.handed(), 0);
    }

    #[test]
    fn connections_added_to_the_store_serve_the_requests_waiting() {
        let waiters = Waiters::default();
        let idle = store(0);
        let notify = Notify::new();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        let mut waits: Vec<_> = (0..3)
            .map(|_| Handoff::new(&waiters, &idle, &notify, t0, far))
            .collect();
        for wait in &mut waits {
            assert!(poll_once(wait, Waker::noop()).is_pending());
        }
        idle.try_add(7).expect("room");
        idle.try_add(8).expect("room");
        waiters.serve_from(&idle);
        let served: Vec<Option<u32>> = waits
            .iter_mut()
            .map(|wait| match poll_once(wait, Waker::noop()) {
                Poll::Ready(Ok(held)) => Some(*held),
                _ => None,
            })
            .collect();
        assert_eq!(
            served,
            [Some(8), Some(7), None],
            "first come, first served, from the top of the stack"
        );
    }

    #[test]
    fn closing_ends_every_wait_and_turns_away_later_requests() {
        let waiters = Waiters::default();
        let idle = store(0);
        let notify = Notify::new();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        let mut wait = Handoff::new(&waiters, &idle, &notify, t0, far);
        assert!(poll_once(&mut wait, Waker::noop()).is_pending());
        idle.close();
        assert_eq!(waiters.close_all(), 1);
        assert!(matches!(
            poll_once(&mut wait, Waker::noop()),
            Poll::Ready(Err(Ended::Closed))
        ));
        let mut late = Handoff::new(&waiters, &idle, &notify, t0, far);
        assert!(matches!(
            poll_once(&mut late, Waker::noop()),
            Poll::Ready(Err(Ended::Closed))
        ));
    }

    #[test]
    fn a_request_whose_deadline_passed_is_not_handed_a_connection() {
        let waiters = Waiters::default();
        let idle = store(1);
        let notify = Notify::new();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let held = idle.try_get().expect("one idle connection");
        let mut short = Handoff::new(&waiters, &idle, &notify, t0, t0 + s(1));
        let mut long = Handoff::new(&waiters, &idle, &notify, t0, t0 + s(60));
        assert!(poll_once(&mut short, Waker::noop()).is_pending());
        assert!(poll_once(&mut long, Waker::noop()).is_pending());
        assert_eq!(waiters.expire(t0 + s(1)), Some(t0 + s(60)));
        waiters.give(&idle, held);
        assert!(matches!(
            poll_once(&mut short, Waker::noop()),
            Poll::Ready(Err(Ended::Expired))
        ));
        assert!(matches!(
            poll_once(&mut long, Waker::noop()),
            Poll::Ready(Ok(_))
        ));
    }

    #[test]
    fn a_new_request_goes_behind_those_waiting_even_when_a_connection_is_idle() {
        let waiters = Waiters::default();
        let idle = store(0);
        let notify = Notify::new();
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        let mut first = Handoff::new(&waiters, &idle, &notify, t0, far);
        assert!(poll_once(&mut first, Waker::noop()).is_pending());
        assert!(!waiters.none_waiting());
        // A connection reaches the store (a connect finished), and a new
        // request comes before it is handed on.
        idle.try_add(1).expect("room");
        let mut second = Handoff::new(&waiters, &idle, &notify, t0, far);
        assert!(poll_once(&mut second, Waker::noop()).is_pending());
        waiters.serve_from(&idle);
        assert!(matches!(
            poll_once(&mut first, Waker::noop()),
            Poll::Ready(Ok(_))
        ));
        assert!(poll_once(&mut second, Waker::noop()).is_pending());
    }

    /// Threads take connections and give them back while others wait, as
    /// fast as they can, some giving up as they are served: every wait ends
    /// served, no connection is lost, and none is left stranded in the
    /// store while a request waits.
    #[test]
    fn connections_given_back_on_many_threads_always_reach_the_waiting() {
        const CONNECTIONS: u32 = 3;
        const THREADS: usize = 6;
        const ROUNDS: usize = 20_000;
        let waiters = Waiters::default();
        let idle = store(CONNECTIONS);
        let notify = Notify::new();
        let far = Instant::now() + Duration::from_secs(3600);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    let thread = std::thread::current();
                    let waker = Waker::from(Arc::new(Unpark(thread)));
                    for round in 0..ROUNDS {
                        let mut wait = Handoff::new(&waiters, &idle, &notify, Instant::now(), far);
                        // Every seventh request gives up once it waits,
                        // racing the return that may be handing it a
                        // connection; it asks again at once.
                        let mut first = None;
                        if round % 7 == 0 {
                            match poll_once(&mut wait, &waker) {
                                Poll::Ready(Ok(held)) => first = Some(held),
                                Poll::Ready(Err(ended)) => panic!("{ended:?}"),
                                Poll::Pending => {
                                    drop(wait);
                                    wait = Handoff::new(
                                        &waiters,
                                        &idle,
                                        &notify,
                                        Instant::now(),
                                        far,
                                    );
                                }
                            }
                        }
                        let held = if let Some(held) = first { held } else { loop {
                            match poll_once(&mut wait, &waker) {
                                Poll::Ready(Ok(held)) => break held,
                                Poll::Ready(Err(ended)) => panic!("{ended:?}"),
                                // A lost hand-off would park this thread for
                                // good; the timeout makes that a failure.
                                Poll::Pending => {
                                    let parked = std::time::Instant::now();
                                    std::thread::park_timeout(Duration::from_secs(10));
                                    assert!(
                                        parked.elapsed() < Duration::from_secs(10),
                                        "a request waited with connections in the store: {} idle",
                                        idle.status().available
                                    );
                                }
                            }
                        } };
                        drop(wait);
                        waiters.give(&idle, held);
                    }
                });
            }
        });
        assert_eq!(idle.status().available, CONNECTIONS as usize);
        assert_eq!(waiters.handed(), 0);
        assert_eq!(waiters.queue.queued.load(SeqCst), 0);
    }

    /// Unparks a thread.
    struct Unpark(std::thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
}
