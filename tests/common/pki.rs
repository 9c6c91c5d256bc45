//! A throw-away PKI for the TLS tests: CAs, a server certificate for 127.0.0.1 / localhost,
//! client certificates, written as PEM files.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A certification authority.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem_path: PathBuf,
}

/// A certificate and its key, as PEM text and files.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
}

impl Leaf {
    /// Certificate followed by key (what reqwest's `Identity::from_pem` takes).
    pub fn identity_pem(&self) -> Vec<u8> {
        format!("{}{}", self.cert_pem, self.key_pem).into_bytes()
    }
}

/// A new CA named `name`, written to `dir/name.ca.pem`.
pub fn ca(dir: &Path, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem_path = dir.join(format!("{name}.ca.pem"));
    std::fs::write(&pem_path, issuer.pem()).unwrap();
    Ca { issuer, pem_path }
}

fn leaf(dir: &Path, name: &str, params: CertificateParams, ca: Option<&Ca>) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let cert = match ca {
        Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_path,
        key_path,
        fingerprint: Sha256::digest(cert.der())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    }
}

/// A server certificate for `127.0.0.1` and `localhost`.
pub fn server(dir: &Path, name: &str, ca: &Ca) -> Leaf {
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf(dir, name, params, Some(ca))
}

/// A client certificate (X.509 v3 with clientAuth), issued by `ca` or self-signed.
pub fn client(dir: &Path, name: &str, ca: Option<&Ca>) -> Leaf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf(dir, name, params, ca)
}

/// The demo configuration with `extra` TOML appended (listener sections such as `[nodo.tls]`),
/// written to `dir/varco.toml`.
pub fn config_with(dir: &Path, extra: &str) -> PathBuf {
    let demo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("varco.example.toml"))
            .unwrap();
    let path = dir.join("varco.toml");
    std::fs::write(&path, format!("{demo}\n{extra}\n")).unwrap();
    path
}
