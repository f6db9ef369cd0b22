//! Bounded workers on OS threads: 16 threads share a blocking pool of 4
//! connections and work through a queue of jobs in a table, claimed with
//! `SELECT ... FOR UPDATE SKIP LOCKED`; one job is slow.
//!
//! ```text
//! cargo run -p tidepool-examples --bin workers-threads [-- --workers 16 --max-size 4 --jobs 200 --slow-ms 1500 --quiet]
//! ```
//!
//! Prints what each thread does, then what the server saw: never more
//! sessions or jobs at once than `max_size`, every job done once, and the
//! other jobs done while the slow one ran. Ctrl-C stops after the jobs in
//! hand. Uses `DATABASE_URL`, or else a private PostgreSQL server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidepool_examples::workers::run_program(
        "workers-threads",
        tidepool_examples::workers::run_threads,
    )
}
