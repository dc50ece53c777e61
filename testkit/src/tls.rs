//! A test certificate authority: a CA and a server certificate for `localhost` / `127.0.0.1`,
//! written as PEM files for [`unidm_core::tls::TlsFiles`], and a second, unrelated CA to show
//! that a certificate it did not sign is refused.

use std::path::Path;

use unidm_core::tls::TlsFiles;

/// A CA with one server certificate.
pub struct TestCa {
    /// The CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The server's certificate and key files.
    pub files: TlsFiles,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl TestCa {
    /// A new CA and a server certificate for `localhost` and `127.0.0.1`, written in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "unidm test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server params");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("server certificate");
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write CA");
        TestCa {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            files: TlsFiles { cert: cert_path, key: key_path, client_ca: None },
            ca,
            ca_key,
        }
    }

    /// A client certificate with subject CN `cn`, signed by this CA: (certificate PEM, key PEM).
    pub fn client(&self, cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("client key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).expect("client certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// A client certificate with subject CN `cn`, signed by this CA, as the LwM2M Security
    /// object carries it: (certificate DER, PKCS#8 key DER).
    pub fn client_der(&self, cn: &str) -> (Vec<u8>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().expect("client key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("client params");
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).expect("client certificate");
        (cert.der().to_vec(), key.serialize_der())
    }

    /// The server's certificate and key, PEM.
    pub fn server_pem(&self) -> (String, String) {
        let read = |p: &std::path::PathBuf| std::fs::read_to_string(p).expect("read PEM");
        (read(&self.files.cert), read(&self.files.key))
    }
}
