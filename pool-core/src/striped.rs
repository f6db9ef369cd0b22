//! Counters that every checkout and return adds to, spread over several
//! cache lines: threads add to a cell of their own instead of taking one
//! line from each other at every checkout, and a reader sums the cells
//! (statistics are read far less often than they are written). Java's
//! `LongAdder` is the same idea.
//!
//! The first [`CELLS`] threads to count hold a cell each for as long as
//! they live, alone, and add to it with a plain read and write: an atomic
//! read-modify-write waits for the thread's earlier writes to reach the
//! cache, which cost more than the add itself, several times per checkout.
//! Threads beyond them share [`SHARED_CELLS`] more cells, in turn, with
//! atomic adds. A cell let go by a thread that ended goes to the next
//! thread that counts, its value kept.

use std::ops::Deref;
use std::sync::atomic::{
    AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::time::Duration;

/// Cells held by one thread each. At most 32 (one bit each in [`FREE`]).
pub(crate) const CELLS: usize = 16;

/// Cells shared by the threads beyond the first [`CELLS`], in turn.
const SHARED_CELLS: usize = 8;

/// A value alone on its cache line (two lines: some CPUs fetch lines in
/// pairs), so that writing it does not slow readers of its neighbours.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Alone<T>(pub(crate) T);

impl<T> Deref for Alone<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A counter spread over cache lines: one per thread holding a cell, and
/// [`SHARED_CELLS`] for the others. Adds wrap, so a gauge can go up on one
/// thread and down on another; the sum is right whatever the cells hold.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    cells: [Alone<AtomicU64>; CELLS + SHARED_CELLS],
    /// How much of the sum [`take`](Self::take) has handed out: readers
    /// never write the cells, which their holders write without atomic
    /// read-modify-writes.
    taken: AtomicU64,
}

/// The cells no living thread holds, one bit each.
static FREE: AtomicU32 = AtomicU32::new(u32::MAX >> (32 - CELLS));

/// Hands out the shared cells in turn.
static NEXT_SHARED: AtomicUsize = AtomicUsize::new(0);

/// A thread's cell: one it holds alone until it ends (below [`CELLS`]), or
/// a shared one.
struct Held(usize);

impl Held {
    /// Takes a free cell, or a shared one when none is free.
    fn claim() -> Self {
        let mut free = FREE.load(Relaxed);
        loop {
            if free == 0 {
                return Self(shared());
            }
            let bit = free.trailing_zeros();
            // Acquire: the last holder's writes to the cell are seen here.
            match FREE.compare_exchange_weak(free, free & !(1 << bit), Acquire, Relaxed) {
                Ok(_) => return Self(bit as usize),
                Err(now) => free = now,
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.0 < CELLS {
            // Release: the next holder sees this thread's last writes.
            FREE.fetch_or(1 << self.0, Release);
        }
    }
}

thread_local! {
    /// This thread's cell, taken at its first count.
    static CELL: Held = Held::claim();
}

/// A shared cell, the next in turn.
fn shared() -> usize {
    CELLS + NEXT_SHARED.fetch_add(1, Relaxed) % SHARED_CELLS
}

/// The calling thread's cell.
fn cell() -> usize {
    // A thread's locals are being destroyed: a shared cell.
    CELL.try_with(|held| held.0).unwrap_or_else(|_| shared())
}

impl Striped {
    /// Adds `n` (wrapping).
    pub(crate) fn add(&self, n: u64) {
        let index = cell();
        let cell = &self.cells[index];
        if index < CELLS {
            // Only this thread writes this cell while it holds it.
            cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
        } else {
            cell.fetch_add(n, Relaxed);
        }
    }

    /// Adds one.
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    /// Takes one away (a gauge).
    pub(crate) fn drop_one(&self) {
        self.add(u64::MAX);
    }

    /// Adds a duration, in microseconds.
    pub(crate) fn add_time(&self, elapsed: Duration) {
        self.add(crate::stats::micros(elapsed));
    }

    /// The sum of the cells, with nothing taken away.
    fn raw(&self) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |sum, cell| sum.wrapping_add(cell.load(Relaxed)))
    }

    /// The counter's value, less what [`take`](Self::take) handed out.
    pub(crate) fn sum(&self) -> u64 {
        // A sum read just before another reader's take can be below it.
        self.raw().saturating_sub(self.taken.load(Acquire))
    }

    /// The counter's value, setting it back to zero; an add that races
    /// with this counts in this value or the next. For counters that only
    /// grow.
    pub(crate) fn take(&self) -> u64 {
        let raw = self.raw();
        // Two readers taking at once: the larger sum wins, and the other
        // takes nothing more than it.
        let before = self.taken.fetch_max(raw, AcqRel);
        raw.saturating_sub(before)
    }

    /// The value of a gauge: what was added less what was taken away,
    /// never below zero (a reader can see a decrease before the increase
    /// it follows). Gauges are never [taken](Self::take).
    pub(crate) fn gauge(&self) -> usize {
        let value = self.raw() as i64;
        usize::try_from(value.max(0)).unwrap_or(usize::MAX)
    }
}

/// The requests waiting now. Every contended checkout adds itself and
/// takes itself away again: striped, so that the threads do not take one
/// cache line from each other twice per checkout; but counted exactly, in
/// one place, where `max_waiting` bounds the queue, because the bound is
/// checked against the count each arrival sees.
#[derive(Debug, Default)]
pub(crate) struct WaitingCount {
    exact: Alone<AtomicUsize>,
    striped: Striped,
}

impl WaitingCount {
    /// Counts one more request; with `exact`, returns how many wait now,
    /// this one included (without, 0: nothing is compared with it).
    pub(crate) fn enter(&self, exact: bool) -> usize {
        if exact {
            self.exact.fetch_add(1, Relaxed) + 1
        } else {
            self.striped.bump();
            0
        }
    }

    /// Takes away a request counted by [`enter`](Self::enter) with the same
    /// `exact`.
    pub(crate) fn leave(&self, exact: bool) {
        if exact {
            self.exact.fetch_sub(1, Relaxed);
        } else {
            self.striped.drop_one();
        }
    }

    /// How many requests wait now.
    pub(crate) fn load(&self) -> usize {
        self.exact
            .load(Relaxed)
            .saturating_add(self.striped.gauge())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_from_many_threads_sum_up_and_a_gauge_nets_out() {
        let counter = Striped::default();
        let gauge = Striped::default();
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.bump();
                        gauge.bump();
                    }
                });
            }
        });
        assert_eq!(counter.sum(), 16_000);
        // Taken away on other threads than those that added.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..3990 {
                        gauge.drop_one();
                    }
                });
            }
        });
        assert_eq!(gauge.gauge(), 40);
        assert_eq!(counter.take(), 16_000);
        assert_eq!(counter.sum(), 0);
        counter.add_time(Duration::from_millis(3));
        assert_eq!(counter.sum(), 3000);
    }

    #[test]
    fn threads_beyond_the_cells_and_threads_that_ended_lose_no_add() {
        // Waves of more threads than there are cells, all adding at once:
        // the first to count hold a cell alone (plain writes), the others
        // share; each wave's threads end, and the next wave takes their
        // cells over. Two threads writing one held cell would lose adds.
        let counter = Striped::default();
        let gauge = Striped::default();
        let threads = CELLS + 2 * SHARED_CELLS;
        for _ in 0..3 {
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        for _ in 0..2000 {
                            counter.bump();
                            gauge.bump();
                            gauge.drop_one();
                        }
                        gauge.bump();
                    });
                }
            });
        }
        assert_eq!(counter.sum(), 3 * threads as u64 * 2000);
        assert_eq!(gauge.gauge(), 3 * threads);
    }

    #[test]
    fn takes_racing_with_adds_hand_out_each_add_once() {
        let counter = Striped::default();
        let taken = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        counter.bump();
                    }
                });
            }
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        taken.fetch_add(counter.take(), Relaxed);
                    }
                });
            }
        });
        let rest = counter.take();
        assert_eq!(taken.load(Relaxed) + rest, 40_000);
        assert_eq!(counter.sum(), 0);
        counter.add(5);
        assert_eq!(counter.sum(), 5);
    }

    #[test]
    fn waiting_requests_count_the_same_exact_or_striped() {
        let waiting = WaitingCount::default();
        assert_eq!(waiting.enter(true), 1);
        assert_eq!(waiting.enter(true), 2);
        assert_eq!(waiting.enter(false), 0);
        assert_eq!(waiting.load(), 3);
        // Taken away on another thread than the one that counted it.
        std::thread::scope(|scope| {
            scope.spawn(|| waiting.leave(false));
        });
        waiting.leave(true);
        assert_eq!(waiting.load(), 1);
        assert_eq!(waiting.enter(true), 2);
    }

    #[test]
    fn a_gauge_seen_below_zero_reads_zero() {
        let gauge = Striped::default();
        gauge.drop_one();
        assert_eq!(gauge.gauge(), 0);
        gauge.bump();
        gauge.bump();
        assert_eq!(gauge.gauge(), 1);
    }
}
