//! TLS for a listener with rustls: the certificate chain and key from PEM files, optional
//! client-certificate verification (a CA bundle, pins, or both), reloaded on SIGHUP without
//! touching established connections.

use crate::config::{ClientAuthConfig, TlsConfig};
use anyhow::{Context, bail};
use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DistinguishedName, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The one crypto provider (aws-lc-rs, as the outbound client uses).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Certificates of a PEM file, in order.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{}: holds no certificate", path.display());
    }
    Ok(certs)
}

fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("{}: no usable private key", path.display()))
}

/// A verifier for client certificates chaining to the CA bundle at `ca`.
pub fn client_verifier(ca: &Path, mandatory: bool) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(ca)? {
        roots
            .add(cert)
            .with_context(|| format!("{}: a CA certificate is not usable", ca.display()))?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = if mandatory {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    Ok(builder.build()?)
}

/// Client certificates checked by pins only (no CA): the handshake proves the client holds
/// the key of the certificate it presents; [`super::Policy::admit_handshake`] then compares
/// the certificate's fingerprint with the pins.
#[derive(Debug)]
struct PinnedOnly {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for PinnedOnly {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
}

/// What a listener's TLS is built from (kept to rebuild it on reload).
#[derive(Debug, Clone)]
pub struct TlsSource {
    /// Listener name, for messages.
    pub listener: &'static str,
    cert: PathBuf,
    key: PathBuf,
    client_auth: Option<ClientAuthConfig>,
    /// A trusted proxy may pass the certificate in a header instead, so the handshake does not
    /// insist on one.
    cert_optional: bool,
}

impl TlsSource {
    /// The source of a listener's TLS settings.
    pub fn new(
        listener: &'static str,
        tls: &TlsConfig,
        client_auth: Option<&ClientAuthConfig>,
        cert_optional: bool,
    ) -> Self {
        Self {
            listener,
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            client_auth: client_auth.cloned(),
            cert_optional,
        }
    }

    /// Reads the files and builds the rustls configuration.
    pub fn build(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let l = self.listener;
        let certs = load_certs(&self.cert).with_context(|| format!("{l}.tls.cert"))?;
        let key = load_key(&self.key).with_context(|| format!("{l}.tls.key"))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &self.client_auth {
            None => builder.with_no_client_auth(),
            Some(auth) => {
                let mandatory = !self.cert_optional;
                let verifier = match &auth.ca {
                    Some(ca) => client_verifier(ca, mandatory)
                        .with_context(|| format!("{l}.client_auth.ca"))?,
                    None => Arc::new(PinnedOnly {
                        provider: provider(),
                        mandatory,
                    }),
                };
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .with_context(|| format!("{l}.tls: the key does not match the certificate"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A TLS acceptor whose configuration can be swapped while serving: new handshakes use the
/// new certificate, established connections keep theirs.
#[derive(Debug)]
pub struct Reloadable {
    source: TlsSource,
    current: RwLock<Arc<ServerConfig>>,
}

impl Reloadable {
    /// Builds the first configuration (errors name the key).
    pub fn new(source: TlsSource) -> anyhow::Result<Self> {
        let config = source.build()?;
        Ok(Self {
            source,
            current: RwLock::new(config),
        })
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        tokio_rustls::TlsAcceptor::from(config)
    }

    /// Re-reads the files; on error the configuration in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = self.source.build()?;
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
        Ok(())
    }

    /// Listener name.
    pub fn listener(&self) -> &'static str {
        self.source.listener
    }
}
