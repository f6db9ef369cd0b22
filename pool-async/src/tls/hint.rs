//! What to do about a failed TLS handshake: a hint for the connect error.

use std::error::Error as StdError;

use rustls::CertificateError;

/// How a TLS handshake failed, when retrying cannot change it.
enum Refusal<'a> {
    /// The server does not accept TLS, which the client requires.
    NoServerTls,
    /// The server's certificate was refused.
    Certificate(&'a CertificateError),
}

fn refusal(error: &tokio_postgres::Error) -> Option<Refusal<'_>> {
    let cause = error.source()?;
    if cause.to_string() == "server does not support TLS" {
        return Some(Refusal::NoServerTls);
    }
    let rustls_error = cause
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())?;
    match rustls_error {
        rustls::Error::InvalidCertificate(problem) => Some(Refusal::Certificate(problem)),
        _ => None,
    }
}

/// Whether a connect failed because one side refused the other's TLS: the
/// server does not accept TLS that the client requires, or its
/// certificate was refused. Retrying the same connect cannot succeed.
pub(crate) fn tls_refused(error: &tokio_postgres::Error) -> bool {
    refusal(error).is_some()
}

/// A hint for `error` when it is a TLS failure whose usual fix is known.
pub(crate) fn tls_hint(error: &tokio_postgres::Error) -> Option<&'static str> {
    let problem = match refusal(error)? {
        Refusal::NoServerTls => {
            return Some(
                "the server does not accept TLS; turn ssl on at the server, or use \
                 sslmode=prefer or disable",
            );
        }
        Refusal::Certificate(problem) => problem,
    };
    Some(match problem {
        CertificateError::UnknownIssuer => {
            "the server's certificate does not chain to a trusted root; name the file of the \
             CA that signed it with sslrootcert"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the server's certificate does not name the host connected to; connect with a name \
             it carries, or use sslmode=verify-ca to check the chain only"
        }
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is outside its validity period; renew it, or check the \
             clocks"
        }
        _ => return None,
    })
}
