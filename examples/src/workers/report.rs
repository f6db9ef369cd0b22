//! What a run of the workers did, measured on the server.

use std::fmt;
use std::time::Duration;

/// What a run of the workers did: the jobs (from the queue's table), the
/// concurrency against the database (from the jobs' transactions and from
/// `pg_stat_activity`), and whether the slow job held the others up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// Jobs in the queue.
    pub jobs: usize,
    /// Workers sharing the pool.
    pub workers: usize,
    /// The pool's `max_size`.
    pub max_size: usize,
    /// Jobs done exactly once.
    pub done_once: usize,
    /// Jobs done more than once (there should be none).
    pub done_twice_or_more: usize,
    /// Jobs not done (the run was stopped early, or failed).
    pub not_done: usize,
    /// Workers that did at least one job.
    pub workers_that_worked: usize,
    /// The most jobs whose transactions were open at once on the server.
    pub max_jobs_at_once: usize,
    /// Other jobs finished before the slow job finished.
    pub done_during_slow_job: usize,
    /// The most sessions of the workers' pool at once in
    /// `pg_stat_activity`.
    pub peak_sessions: usize,
    /// The most of those sessions busy (not idle) at once.
    pub peak_busy_sessions: usize,
    /// How many times `pg_stat_activity` was read.
    pub samples: usize,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Whether the pool bounded the work: never more sessions, nor jobs in
    /// progress, than `max_size`.
    pub fn bounded(&self) -> bool {
        self.peak_sessions <= self.max_size && self.max_jobs_at_once <= self.max_size
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = |ok: bool| if ok { "yes" } else { "NO" };
        writeln!(
            f,
            "{} workers, {} jobs, max_size {}, in {:.2?}:",
            self.workers, self.jobs, self.max_size, self.elapsed
        )?;
        writeln!(
            f,
            "  jobs done exactly once:       {:>5}  (twice or more: {}, not done: {})",
            self.done_once, self.done_twice_or_more, self.not_done
        )?;
        writeln!(
            f,
            "  workers that did a job:       {:>5}  of {}",
            self.workers_that_worked, self.workers
        )?;
        writeln!(
            f,
            "  most jobs at once (server):   {:>5}  (from the jobs' transactions)",
            self.max_jobs_at_once
        )?;
        writeln!(
            f,
            "  most sessions at once:        {:>5}  ({} busy; pg_stat_activity read {} times)",
            self.peak_sessions, self.peak_busy_sessions, self.samples
        )?;
        writeln!(
            f,
            "  bounded by max_size {}:        {:>5}",
            self.max_size,
            verdict(self.bounded())
        )?;
        write!(
            f,
            "  jobs done while the slow one ran: {} of {}",
            self.done_during_slow_job,
            self.jobs.saturating_sub(1)
        )
    }
}
