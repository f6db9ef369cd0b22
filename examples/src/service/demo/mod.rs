//! The demo around the app: what puts the pool on show. A live dashboard
//! (`/`) fed by `/stats` (the pool's statistics and configuration, as
//! JSON) and `/stats/series` (one point a second, the last two minutes),
//! `/metrics` (Prometheus text format), and `POST /burst` to put the pool
//! under load through `/api/sleep?ms=20` (a handler that holds a connection
//! while the server sleeps). Everything it shows comes from the pool
//! itself: `pool.stats()` and the pool's metrics.

mod burst;
mod dashboard;
mod history;
mod prometheus;
mod server;
mod stats;
mod waits;

pub use burst::BurstSettings;
pub use prometheus::install_prometheus;
pub use server::{DEFAULT_LISTEN, Service};
