//! Benchmarks of tidepool's pools against their peers, side by side in one
//! run on the same machine and server.
//!
//! Every system runs the same workload back to back, and one table holds
//! throughput, latency quantiles and the ratio of tidepool to each peer:
//!
//! * end to end: checkout, `SELECT $1::int` with the plain
//!   `query(sql, params)`, return; 64 and 256 tasks over 16 connections;
//!   tidepool against deadpool-postgres (`query(&str)` and
//!   `prepare_cached`), bb8-postgres, sqlx's `PgPool`, and tokio-postgres
//!   on dedicated connections with a prepared statement (the ceiling);
//! * blocking: the same loop on 64 threads (plain, then spawn_blocking
//!   threads of a tokio runtime), tidepool-sync against
//!   r2d2_postgres;
//! * engine: checkout and return of fake connections (no database),
//!   tidepool's engine against deadpool's managed pool and bb8;
//! * fairness: 1000 tasks over 50 fake connections, the checkout's tail;
//! * spike: 50 requests at once on 5 idle connections, with 150 ms
//!   connects: connections opened;
//! * recovery: time from a server restart to the first good checkout;
//! * failover: a primary stops and its standby is promoted, every pool
//!   given the same multi-host string: time from the promote command to
//!   the first acknowledged write, and the writes that failed meanwhile.
//! * unique SQL: every statement text unique (dynamic SQL), 64 tasks over
//!   16 connections, against deadpool-postgres, bb8-postgres and sqlx;
//! * transaction: `BEGIN; SELECT $1; COMMIT` through each pool's
//!   transaction API;
//! * client CPU: 32 statements in flight on one connection, so that the
//!   server's round trip is out of the picture: the process's CPU time per
//!   statement, tidepool against deadpool-postgres (`prepare_cached`) and
//!   tokio-postgres with a prepared statement (the floor);
//! * PgBouncer: 16 connections through a PgBouncer in transaction mode
//!   with 8 server connections, 64 tasks; each system's errors counted.
//!
//! The peers are this package's dependencies only, never the library's.
//! Run it with `cargo run --release -p tidepool-bench` (see [`USAGE`]).

mod blocking;
mod bouncer;
mod client_cpu;
mod database;
mod drive;
mod end_to_end;
mod engine;
mod failover;
mod fairness;
mod fake;
mod latency;
mod machine;
mod options;
mod process_cpu;
mod recovery;
mod report;
mod spike;
mod statements;
mod suite;
mod turns;
mod workload;

pub use drive::Measure;
pub use latency::Latencies;
pub use options::{Options, USAGE};
pub use report::{Compare, Report, Row};
pub use suite::run;
pub use workload::Workload;
