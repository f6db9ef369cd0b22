//! TLS with rustls, as libpq's `sslmode`, `sslrootcert`, `sslcert` and
//! `sslkey` describe it.

mod connector;
mod hint;
mod noting;
mod pem;
mod settings;
mod verifier;

pub(crate) use connector::Tls;
pub(crate) use hint::{tls_hint, tls_refused};
pub(crate) use noting::NotingConnector;
pub(crate) use settings::{RootCerts, SslMode, TlsSettings};
