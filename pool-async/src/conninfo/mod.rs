//! libpq connection strings: URLs and key=value pairs with libpq's TLS
//! keys, services, password file, environment variables and defaults for
//! what they leave out.

mod defaults;
mod env;
mod extract;
mod parse;
mod pgpass;
mod redact;
mod service;
#[cfg(test)]
mod tests;

pub(crate) use parse::{ConnInfo, parse_dsn};
pub(crate) use pgpass::PassFile;
pub use redact::redact_dsn;
