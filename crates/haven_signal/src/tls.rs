//! TLS 1.3 for the signaling WebSocket: the server's identity (certificate files, or a fresh
//! self-signed certificate whose SHA-256 the invite carries) and the client's trust (a pinned
//! fingerprint, or certificate authorities).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Why TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or held no certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, say).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
}

/// The SHA-256 of a certificate (DER). Shown as colon-separated hex like browsers and
/// `openssl x509 -fingerprint -sha256` show it; parsed with or without the colons.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(cert: &CertificateDer<'_>) -> Self {
        Self(Sha256::digest(cert.as_ref()).into())
    }

    /// Lowercase hex without separators (the form an invite carries).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Not 32 bytes of hex.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("a certificate fingerprint is 64 hex digits (colons allowed)")]
pub struct BadFingerprint;

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: String = s.chars().filter(|&c| c != ':').collect();
        let bytes = hex::decode(digits).map_err(|_| BadFingerprint)?;
        Ok(Self(bytes.try_into().map_err(|_| BadFingerprint)?))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The server's certificate chain and key.
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Whether it was made here rather than read from files.
    pub self_signed: bool,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint())
            .field("self_signed", &self.self_signed)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Reads a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let pem_err = |path: &Path, reason: String| TlsError::Pem {
            path: path.display().to_string(),
            reason,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| pem_err(cert, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_err(cert, "no certificate in the file".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e.to_string()))?;
        Ok(Self {
            chain,
            key,
            self_signed: false,
        })
    }

    /// A fresh self-signed certificate for the given names (host names or IP addresses).
    pub fn self_signed(names: Vec<String>) -> Result<Self, TlsError> {
        let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
        Ok(Self {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
            self_signed: true,
        })
    }

    /// The self-signed identity kept in `path` (certificate and key in one PEM file, mode
    /// 0600), made and saved on first use. Keeping it means invites that pin it survive a
    /// server restart; deleting the file makes a new one (and old pins stop working).
    pub fn load_or_create_self_signed(path: &Path, names: Vec<String>) -> Result<Self, TlsError> {
        if path.exists() {
            let mut identity = Self::from_pem_files(path, path)?;
            identity.self_signed = true;
            return Ok(identity);
        }
        let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
        let pem = format!("{}{}", cert.pem(), signing_key.serialize_pem());
        crate::secret::write_private(path, pem.as_bytes()).map_err(|e| TlsError::Pem {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
            self_signed: true,
        })
    }

    /// The SHA-256 fingerprint of the end-entity certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.chain[0])
    }

    /// The end-entity certificate, DER (for a client's root store in tests).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// A rustls server configuration: TLS 1.3 only.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}

/// The certificate authorities a client trusts when an invite pins no certificate: the
/// operating system's (as `rustls-native-certs` finds them; what cannot be read is logged and
/// left out) and those in `extra` PEM files (`haven join --ca FILE`).
pub fn trusted_roots(extra: &[&Path]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(
            errors = native.errors.len(),
            "some of the system's certificate authorities could not be read"
        );
    }
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    for path in extra {
        let pem_err = |reason: String| TlsError::Pem {
            path: path.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| pem_err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(pem_err("no certificate in the file".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| pem_err(format!("not a usable authority: {e}")))?;
        }
    }
    Ok(roots)
}

/// How a client decides to trust the server.
#[derive(Clone, Debug)]
pub enum ClientTls {
    /// Accept exactly the certificate with this SHA-256 (a self-signed server). The name is not
    /// checked: the pin is stronger than a name.
    Pinned(Fingerprint),
    /// Verify the chain and name against these authorities.
    Roots(Arc<RootCertStore>),
}

impl ClientTls {
    /// A rustls client configuration: TLS 1.3 only.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?;
        let config = match self {
            Self::Pinned(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                    pin: *pin,
                    provider: provider(),
                }))
                .with_no_client_auth(),
            Self::Roots(roots) => builder
                .with_root_certificates(Arc::clone(roots))
                .with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// Accepts one certificate by its SHA-256, and checks the handshake signatures with its key.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Not secret, so no need for a constant-time comparison.
        if Fingerprint::of(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_print_and_parse_both_ways() {
        let id = TlsIdentity::self_signed(vec!["localhost".into()]).expect("rcgen");
        let fp = id.fingerprint();
        let shown = fp.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(shown.parse::<Fingerprint>(), Ok(fp));
        assert_eq!(fp.to_hex().parse::<Fingerprint>(), Ok(fp));
        assert_eq!("abc".parse::<Fingerprint>(), Err(BadFingerprint));
        assert!(id.server_config().is_ok());
        assert!(ClientTls::Pinned(fp).client_config().is_ok());
    }

    #[test]
    fn a_saved_self_signed_identity_is_reused() {
        let path = std::env::temp_dir().join(format!("haven-tls-{}.pem", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let names = vec!["localhost".to_owned()];
        let a = TlsIdentity::load_or_create_self_signed(&path, names.clone()).expect("creates");
        let b = TlsIdentity::load_or_create_self_signed(&path, names).expect("reads");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(
            b.server_config().is_ok(),
            "the saved key matches the saved certificate"
        );
        std::fs::remove_file(&path).expect("cleanup");
    }
}
