//! The web service: a small JSON API of todos whose request handlers share
//! one async pool, with the pool on show.
//!
//! - `/api/todos`: create (`POST`), list (`GET`, `?limit=20&after=<id>`,
//!   a cursor), and `GET`, `PATCH`, `DELETE` of `/api/todos/{id}`;
//! - `/api/sleep?ms=20`: holds a connection while the server sleeps (what
//!   the load burst requests);
//! - `/health`, `/stats` (the pool's statistics and configuration, as
//!   JSON), `/stats/series` (one point a second, the last two minutes),
//!   `/metrics` (Prometheus text format);
//! - `/`: a live dashboard, and `POST /burst` to put the pool under load.
//!
//! [`Service::start`] builds it around a pool; the `service` program adds
//! the settings file, the private server and Ctrl-C.

mod app;
mod burst;
mod checkout;
mod dashboard;
mod error;
mod history;
mod prometheus;
mod stats;
mod todos;

pub use app::{DEFAULT_LISTEN, Service};
pub use burst::BurstSettings;
pub use prometheus::install_prometheus;
