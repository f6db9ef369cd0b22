//! libpq connection strings: URLs and key=value pairs with libpq's TLS
//! keys, and libpq's environment variables for what they leave out.

mod env;
mod extract;
mod parse;
mod redact;
#[cfg(test)]
mod tests;

pub(crate) use parse::{ConnInfo, parse_dsn};
pub use redact::redact_dsn;
