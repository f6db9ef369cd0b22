//! Bounded workers: many workers, few connections, one queue of jobs in a
//! table.
//!
//! Each worker takes the next job with `SELECT ... FOR UPDATE SKIP LOCKED`
//! inside a transaction, does it (the server sleeps a few milliseconds),
//! marks it done and commits: a job is done once, a worker that fails
//! leaves its job to the others (the transaction rolls back), and a slow
//! job holds one row and one connection, never the queue. There are more
//! workers than the pool has connections, so the pool's `max_size` is what
//! bounds the work against the database: [`Report`] shows it, measured on
//! the server.
//!
//! [`run_threads`] runs the workers as OS threads sharing a blocking pool
//! (`tidepool_sync`), [`run_tasks`] as async tasks sharing an async pool
//! (`tidepool_async`).

mod program;
mod queue;
mod report;
mod tasks;
mod threads;
mod watcher;

pub use program::{RunWorkers, run_program};
pub use queue::{Job, Queue, WorkerSettings};
pub use report::Report;
pub use tasks::run_tasks;
pub use threads::run_threads;
