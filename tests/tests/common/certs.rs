//! Certificates for the TLS tests, made with rcgen: a test CA, server
//! certificates for chosen names, and client certificates whose common
//! name is a role.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its private key, in PEM.
pub(crate) struct Pem {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// A certificate authority of the test's own.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's certificate, in PEM: the root to trust.
    pub(crate) cert_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).expect("no names to check");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("tidepool test CA {name}"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate the CA's key");
        let cert = params.self_signed(&key).expect("sign the CA's certificate");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub(crate) fn server(&self, names: &[&str]) -> Pem {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("valid server names");
        params
            .distinguished_name
            .push(DnType::CommonName, "tidepool test server");
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        self.sign(params)
    }

    /// A client certificate for the role `role` (its common name).
    pub(crate) fn client(&self, role: &str) -> Pem {
        let mut params = CertificateParams::new(Vec::new()).expect("no names to check");
        params.distinguished_name.push(DnType::CommonName, role);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
        self.sign(params)
    }

    fn sign(&self, mut params: CertificateParams) -> Pem {
        params.use_authority_key_identifier_extension = true;
        params.key_usages.push(KeyUsagePurpose::DigitalSignature);
        let key = KeyPair::generate().expect("generate a key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign a certificate");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A directory of PEM files for the client side, deleted when dropped.
pub(crate) struct CertDir {
    dir: PathBuf,
}

impl CertDir {
    /// A new, empty directory under the system's temporary directory.
    pub(crate) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidepool-certs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        Self { dir }
    }

    /// Writes `contents` to `name` (readable by its owner only) and returns
    /// its path.
    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write a certificate file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("set the mode of a certificate file");
        path
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
