//! What a connection string says about TLS: the `sslmode` and the
//! certificate files, as libpq reads them.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

/// libpq's `sslmode`: whether to use TLS, and what to check of the server's
/// certificate. Defaults to [`Prefer`](SslMode::Prefer), as in libpq.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum SslMode {
    /// Plain connections only.
    Disable,
    /// Plain first; TLS if the server refuses the plain connection.
    Allow,
    /// TLS if the server offers it, plain otherwise.
    #[default]
    Prefer,
    /// TLS only; the certificate is checked only when `sslrootcert` is
    /// given (then as [`VerifyCa`](SslMode::VerifyCa)).
    Require,
    /// TLS only; the certificate must chain to a trusted root.
    VerifyCa,
    /// TLS only; the certificate must chain to a trusted root and name the
    /// host connected to.
    VerifyFull,
}

impl SslMode {
    /// The values, as written in connection strings.
    const NAMES: [(&'static str, SslMode); 6] = [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    /// Parses a value of `sslmode` or `PGSSLMODE`; the error says what was
    /// expected and what was given.
    pub(crate) fn parse(value: &str) -> Result<SslMode, String> {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                format!(
                    "expected one of disable, allow, prefer, require, verify-ca, verify-full; \
                     got '{value}'"
                )
            })
    }

    /// The mode of tokio-postgres's first connect attempt: `allow` starts
    /// plain, the verifying modes need TLS.
    pub(crate) fn wire_mode(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Wire;
        match self {
            SslMode::Disable | SslMode::Allow => Wire::Disable,
            SslMode::Prefer => Wire::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Wire::Require,
        }
    }

    /// The mode of a connection that tokio-postgres was given `wire`
    /// (tokio-postgres's modes mean what libpq's do).
    pub(crate) fn from_wire(wire: tokio_postgres::config::SslMode) -> SslMode {
        use tokio_postgres::config::SslMode as Wire;
        match wire {
            Wire::Disable => SslMode::Disable,
            Wire::Prefer => SslMode::Prefer,
            // Require, and any stricter mode a later version adds.
            _ => SslMode::Require,
        }
    }

    /// The value as written in connection strings.
    pub(crate) fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("prefer", |(name, _)| name)
    }

    /// Whether the server's certificate must chain to a trusted root
    /// whatever else is given.
    pub(crate) fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted root certificates come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RootCerts {
    /// A PEM file (`sslrootcert=/path/to/root.crt`).
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// The TLS part of a connection string. Holds no secret: `sslpassword` is
/// refused, and the key file is read only when a connector is built.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct TlsSettings {
    /// `sslmode`. Defaults to `prefer`.
    pub(crate) mode: SslMode,
    /// `sslrootcert`: the roots to verify the server against. Defaults to
    /// none: the system's roots for `verify-ca` and `verify-full`, no
    /// verification for the other modes.
    pub(crate) root_cert: Option<RootCerts>,
    /// `sslcert`: the client certificate (PEM), with its chain. Defaults
    /// to none.
    pub(crate) client_cert: Option<PathBuf>,
    /// `sslkey`: the client certificate's private key (PEM). Defaults to
    /// none.
    pub(crate) client_key: Option<PathBuf>,
}

impl TlsSettings {
    /// Checks that the settings go together.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.root_cert == Some(RootCerts::System) && self.mode != SslMode::VerifyFull {
            return Err(Error::config(format!(
                "invalid connection string: sslmode: '{}' may not be used with \
                 sslrootcert=system; use verify-full (the default with sslrootcert=system)",
                self.mode
            )));
        }
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => Err(Error::config(
                "invalid connection string: sslcert is set but sslkey is not; \
                 give the client certificate's private key as sslkey",
            )),
            (None, Some(_)) => Err(Error::config(
                "invalid connection string: sslkey is set but sslcert is not; \
                 give the client certificate as sslcert",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_reads_back_as_written() {
        for (name, mode) in SslMode::NAMES {
            assert_eq!(SslMode::parse(name).unwrap(), mode);
            assert_eq!(mode.to_string(), name);
        }
    }

    #[test]
    fn an_unknown_mode_names_the_key_and_the_choices() {
        let error = SslMode::parse("verify_full").unwrap_err();
        assert_eq!(
            error,
            "expected one of disable, allow, prefer, require, verify-ca, verify-full; \
             got 'verify_full'"
        );
    }

    #[test]
    fn system_roots_need_verify_full() {
        let settings = TlsSettings {
            mode: SslMode::Require,
            root_cert: Some(RootCerts::System),
            ..TlsSettings::default()
        };
        assert!(
            settings
                .check()
                .unwrap_err()
                .to_string()
                .contains("verify-full")
        );
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            ..settings
        };
        settings.check().unwrap();
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let settings = TlsSettings {
            client_cert: Some("client.crt".into()),
            ..TlsSettings::default()
        };
        assert!(settings.check().unwrap_err().to_string().contains("sslkey"));
        let settings = TlsSettings {
            client_key: Some("client.key".into()),
            ..TlsSettings::default()
        };
        assert!(
            settings
                .check()
                .unwrap_err()
                .to_string()
                .contains("sslcert")
        );
    }
}
