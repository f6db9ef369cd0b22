//! The engine of the tidepool connection pool, free of any database.
//!
//! A [`Manager`] opens, checks and resets connections; a [`Pool`] keeps
//! between `min_size` and `max_size` of them, hands them out first come,
//! first served through [`Pooled`] guards, and keeps the books ([`Stats`]).
//!
//! Connections are opened by a background worker, never on a caller's
//! path: a caller waits for whichever connection is available first, one
//! returned by another caller or one newly opened. At most `max_connecting`
//! connects run at once, and failed connects are retried with exponential
//! backoff and jitter.
//!
//! Operators watch a pool through [`Pool::stats`] (psycopg_pool's names,
//! and a few more), through the [`metrics`] facade (gauges, counters and
//! histograms, all listed in the [`metrics`] module), and through
//! [`tracing`](https://docs.rs/tracing): a span per checkout and per
//! connect, and warnings when the queue is full, when a checkout is slow
//! (`slow_checkout_warning`) and when a connection is held longer than
//! `leak_detection_threshold`.
//!
//! The engine is built on [`deadpool`]'s unmanaged pool, which gives it a
//! fair queue of waiters over a stack of idle connections.
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use tidepool_core::{Manager, Pool};
//!
//! struct Numbers;
//!
//! impl Manager for Numbers {
//!     type Connection = u32;
//!     type Error = Infallible;
//!
//!     async fn connect(&self) -> Result<u32, Infallible> {
//!         Ok(42)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tidepool_core::Error> {
//! let pool = Pool::builder(Numbers).min_size(1).max_size(4).build()?;
//! pool.wait().await?;
//! let conn = pool.get().await?;
//! assert_eq!(*conn, 42);
//! # Ok(())
//! # }
//! ```

mod backoff;
mod books;
mod builder;
mod checkin;
mod checkout;
mod close_reason;
mod config;
mod duration;
mod error;
mod guard;
mod health;
mod inner;
mod instruments;
mod jitter;
mod lifecycle;
mod manager;
pub mod metrics;
mod pool;
mod setters;
mod slot;
mod stats;
mod throttle;
mod waiters;
mod worker;

pub use builder::Builder;
pub use config::{MAX_SIZE_LIMIT, PoolConfig};
pub use error::{BoxedCause, Error};
pub use guard::Pooled;
pub use health::HealthCheck;
pub use manager::Manager;
pub use pool::Pool;
pub use stats::Stats;
