//! Counters that every checkout and return adds to, spread over several
//! cache lines: threads add to a cell of their own instead of taking one
//! line from each other at every checkout, and a reader sums the cells
//! (statistics are read far less often than they are written). Java's
//! `LongAdder` is the same idea.

use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Cells per counter: a thread's cell is its number modulo this, so
/// threads share cells only beyond this many.
pub(crate) const CELLS: usize = 8;

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

/// A counter spread over [`CELLS`] cache lines. Adds wrap, so a gauge can
/// go up on one thread and down on another; the sum is right whatever the
/// cells hold.
#[derive(Debug, Default)]
pub(crate) struct Striped {
    cells: [Alone<AtomicU64>; CELLS],
}

thread_local! {
    /// This thread's cell, given on first use.
    static CELL: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Hands out cells to threads in turn.
static NEXT_CELL: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's cell.
pub(crate) fn cell() -> usize {
    CELL.try_with(|cell| match cell.get() {
        usize::MAX => {
            let index = NEXT_CELL.fetch_add(1, Relaxed) % CELLS;
            cell.set(index);
            index
        }
        index => index,
    })
    // A thread's locals are being destroyed: any cell will do.
    .unwrap_or(0)
}

impl Striped {
    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        self.cells[cell()].fetch_add(n, Relaxed);
    }

    /// Adds one.
    pub(crate) fn bump(&self) {
        self.add(1);
    }

    /// Takes one away (a gauge).
    pub(crate) fn drop_one(&self) {
        self.cells[cell()].fetch_sub(1, Relaxed);
    }

    /// Adds a duration, in microseconds.
    pub(crate) fn add_time(&self, elapsed: Duration) {
        self.add(crate::stats::micros(elapsed));
    }

    /// The counter's value.
    pub(crate) fn sum(&self) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |sum, cell| sum.wrapping_add(cell.load(Relaxed)))
    }

    /// The counter's value, setting it back to zero; an add that races
    /// with this counts in this value or the next.
    pub(crate) fn take(&self) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |sum, cell| sum.wrapping_add(cell.swap(0, Relaxed)))
    }

    /// The value of a gauge: what was added less what was taken away,
    /// never below zero (a reader can see a decrease before the increase
    /// it follows).
    pub(crate) fn gauge(&self) -> usize {
        let value = self.sum() as i64;
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
