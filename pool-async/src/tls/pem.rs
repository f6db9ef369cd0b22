//! Reading the PEM files a connection string names: root certificates,
//! the client certificate and its private key.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// All certificates of the PEM file `path`, named by the connection
/// string's `key` (`sslrootcert`, `sslcert`) in errors.
pub(crate) fn read_certificates(
    key: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::config(format!(
                "{key}: could not read the certificates of {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{key}: {} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of the PEM file `path` (`sslkey`): PKCS#8, PKCS#1 (RSA)
/// or SEC1 (EC), unencrypted.
pub(crate) fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = read("sslkey", path)?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::config(format!(
            "sslkey: {} is encrypted, and encrypted keys are not supported; \
             decrypt it (openssl pkey -in KEY -out KEY.decrypted) and keep it readable \
             only by its owner",
            path.display()
        )));
    }
    // The parse error says only what was wrong with the PEM framing, never
    // the key's bytes.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => Error::config(format!(
            "sslkey: {} holds no PEM private key (\"-----BEGIN PRIVATE KEY-----\", \
             \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")",
            path.display()
        )),
        other => Error::config(format!(
            "sslkey: could not read the private key of {}: {other}",
            path.display()
        )),
    })
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| Error::config(format!("{key}: could not read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the test's own, deleted when dropped.
    struct Scratch(std::path::PathBuf);

    impl std::ops::Deref for Scratch {
        type Target = Path;

        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn scratch(name: &str, contents: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("tidepool-pem-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Scratch(path)
    }

    #[test]
    fn a_missing_file_is_named_with_its_key() {
        let error = read_certificates("sslrootcert", Path::new("/nonexistent/root.crt"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("sslrootcert: could not read /nonexistent/root.crt"),
            "{error}"
        );
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path = scratch("empty.crt", "not a certificate\n");
        let error = read_certificates("sslcert", &path).unwrap_err().to_string();
        assert!(error.contains("holds no PEM certificate"), "{error}");
    }

    #[test]
    fn an_encrypted_key_is_refused_clearly() {
        let path = scratch(
            "encrypted.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let error = read_private_key(&path).unwrap_err().to_string();
        assert!(error.contains("is encrypted"), "{error}");
        assert!(!error.contains("MIIB"), "{error}");
    }

    #[test]
    fn a_file_without_a_key_is_refused() {
        let path = scratch("nokey.key", "nothing here\n");
        let error = read_private_key(&path).unwrap_err().to_string();
        assert!(error.contains("holds no PEM private key"), "{error}");
    }
}
