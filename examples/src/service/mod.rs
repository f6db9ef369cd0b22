//! The web service: a small JSON API of todos whose request handlers share
//! one async pool ([`app`], the part to copy), with the pool on show around
//! it ([`demo`]: a live dashboard, `/stats`, `/metrics`, load bursts).
//!
//! [`Service::start`] builds both around a pool; the `service` program adds
//! the settings file, the private server and Ctrl-C.

pub mod app;
pub mod demo;

pub use demo::{BurstSettings, DEFAULT_LISTEN, Service, install_prometheus};
