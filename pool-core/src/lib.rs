#![doc = include_str!("../README.md")]

mod backoff;
mod books;
mod builder;
mod checkin;
mod checkout;
mod close_reason;
mod config;
#[doc(hidden)]
pub mod duration;
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
mod striped;
mod sweeper;
mod throttle;
mod waiters;
mod worker;

pub use builder::Builder;
pub use config::{MAX_SIZE_LIMIT, PoolConfig};
pub use error::{BoxedCause, Error};
pub use guard::Pooled;
pub use health::HealthCheck;
pub use manager::{Manager, Sweeper};
pub use pool::Pool;
pub use stats::Stats;
