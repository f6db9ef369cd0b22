//! The rustls connector for a pool's TLS settings: which roots to trust,
//! how much of the server's certificate to check, and the client
//! certificate, built once and shared by every connect.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::Error;
use crate::tls::pem;
use crate::tls::settings::{RootCerts, SslMode, TlsSettings};
use crate::tls::verifier::{AcceptAnyCertificate, VerifyChainOnly};

/// The TLS side of connects: the `sslmode` and a rustls connector set up
/// for it. Cheap to clone (the rustls configuration is shared).
#[derive(Clone)]
pub(crate) struct Tls {
    /// The `sslmode` the connector was built for.
    pub(crate) mode: SslMode,
    /// The connector handed to tokio-postgres, for connects and cancels.
    pub(crate) connector: MakeRustlsConnect,
}

impl Tls {
    /// Reads the files `settings` names and builds the connector.
    ///
    /// # Errors
    ///
    /// A configuration error naming the setting and the file when a file
    /// cannot be read or holds no usable certificate or key, when
    /// `verify-ca` or `verify-full` finds no trusted root, or when the
    /// client key does not fit the certificate.
    pub(crate) fn new(settings: &TlsSettings) -> Result<Tls, Error> {
        settings.check()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("could not set up TLS: {e}")))?;
        let verifier = server_verifier(settings, &provider)?;
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&settings.client_cert, &settings.client_key) {
            (Some(cert), Some(key)) if settings.mode != SslMode::Disable => {
                let chain = pem::read_certificates("sslcert", cert)?;
                let key_der = pem::read_private_key(key)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    Error::config(format!(
                        "sslcert, sslkey: {} and {} cannot be used as a client certificate: {e}",
                        cert.display(),
                        key.display()
                    ))
                })?
            }
            _ => builder.with_no_client_auth(),
        };
        // What libpq 17 sends: the server may check it, and must for
        // sslnegotiation=direct.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls {
            mode: settings.mode,
            connector: MakeRustlsConnect::new(config),
        })
    }
}

/// How the server's certificate is checked in `settings.mode`.
fn server_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let accept_any = || -> Arc<dyn ServerCertVerifier> {
        Arc::new(AcceptAnyCertificate::new(
            provider.signature_verification_algorithms,
        ))
    };
    if settings.mode == SslMode::Disable {
        // Never used for a handshake: nothing to read.
        return Ok(accept_any());
    }
    let Some(roots) = trusted_roots(settings)? else {
        return Ok(accept_any());
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| Error::config(format!("could not set up TLS verification: {e}")))?;
    Ok(match settings.mode {
        SslMode::VerifyFull => webpki,
        // libpq checks the chain whenever it has a root certificate, in
        // every mode but verify-full also checking the name.
        _ => Arc::new(VerifyChainOnly::new(webpki)),
    })
}

/// The roots to verify the server against: the `sslrootcert` file, the
/// system's store (`sslrootcert=system`, or `verify-ca`/`verify-full`
/// without `sslrootcert`), or none (no verification).
fn trusted_roots(settings: &TlsSettings) -> Result<Option<RootCertStore>, Error> {
    let mut roots = RootCertStore::empty();
    match (&settings.root_cert, settings.mode.verifies()) {
        (Some(RootCerts::File(path)), _) => {
            for (i, cert) in pem::read_certificates("sslrootcert", path)?
                .into_iter()
                .enumerate()
            {
                roots.add(cert).map_err(|e| {
                    Error::config(format!(
                        "sslrootcert: certificate {} of {} cannot be a trusted root: {e}",
                        i + 1,
                        path.display()
                    ))
                })?;
            }
        }
        (Some(RootCerts::System), _) | (None, true) => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(String::new, |e| format!(" ({e})"));
                return Err(Error::config(format!(
                    "sslmode={}: no trusted root certificate was found in the system's \
                     store{why}; name the file of the CA that signed the server's \
                     certificate with sslrootcert",
                    settings.mode
                )));
            }
        }
        (None, false) => return Ok(None),
    }
    Ok(Some(roots))
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}
