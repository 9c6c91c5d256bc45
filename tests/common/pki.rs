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

/// An intermediate CA issued by `root`, its certificate written to `dir/name.ca.pem`.
pub fn intermediate(dir: &Path, name: &str, root: &Ca) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer =
        CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &root.issuer).unwrap();
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
    let path = dir.join("varco.toml");
    std::fs::write(&path, format!("{}\n{extra}\n", demo_toml())).unwrap();
    path
}

/// The demo password hash of `[[applicazioni]]` and `[[operatori]]` in varco.example.toml.
pub const DEMO_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$txpmaUcaTJLfScRpnxpbJQ$83oRsvtEd0uMh5d96ffq7JASWGM73E7HtN7QfM5X3DI";

/// Like [`config_with`], with every demo password replaced by `password` (the application
/// `demo` and the operator `admin` keep their names): what a configuration with
/// `trusted_proxies` needs, since the demo password is refused there.
pub fn config_with_password(dir: &Path, extra: &str, password: &str) -> PathBuf {
    let demo = demo_toml();
    assert!(
        demo.matches(DEMO_HASH).count() >= 2,
        "the demo hashes moved"
    );
    let hash = varco::password::hash_password(password).unwrap();
    let path = dir.join("varco.toml");
    std::fs::write(
        &path,
        format!("{}\n{extra}\n", demo.replace(DEMO_HASH, &hash)),
    )
    .unwrap();
    path
}

fn demo_toml() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("varco.example.toml"))
        .unwrap()
}
