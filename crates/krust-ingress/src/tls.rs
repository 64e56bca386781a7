//! TLS of the ingress controller: the certificate for a connection is chosen by its SNI name
//! from the `spec.tls` Secrets (`kubernetes.io/tls`) of the routing table; a connection
//! without SNI, or for a host no Ingress has a certificate for, gets a self-signed default
//! certificate made at start (as ingress-nginx's "fake certificate").

use crate::routes::RouteTable;
use k8s_openapi::api::core::v1::Secret;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The certificates of the current routing table.
#[derive(Debug, Default)]
pub struct Certificates {
    table: Arc<RouteTable>,
    /// `ns/name` → the Secret's certificate and key.
    keys: HashMap<String, Arc<CertifiedKey>>,
}

/// Why a TLS Secret or the default certificate is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the Secret has no tls.crt or tls.key")]
    Missing,
    #[error("tls.crt or tls.key is not PEM: {0}")]
    Pem(String),
    #[error("the key does not fit the certificate: {0}")]
    Key(#[from] rustls::Error),
    #[error("making the default certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The certificate chain and key of a `kubernetes.io/tls` Secret.
pub fn certified_key(secret: &Secret) -> Result<CertifiedKey, TlsError> {
    let data = secret.data.as_ref().ok_or(TlsError::Missing)?;
    let crt = data.get("tls.crt").ok_or(TlsError::Missing)?;
    let key = data.get("tls.key").ok_or(TlsError::Missing)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&crt.0)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Pem("no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key.0).map_err(|e| TlsError::Pem(e.to_string()))?;
    Ok(CertifiedKey::from_der(certs, key, &provider())?)
}

/// A self-signed certificate for `ingress.local`, the default.
pub fn default_certificate() -> Result<CertifiedKey, TlsError> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["ingress.local".to_string()])?;
    let key = PrivateKeyDer::try_from(signing_key.serialize_der())
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    Ok(CertifiedKey::from_der(
        vec![cert.der().clone()],
        key,
        &provider(),
    )?)
}

impl Certificates {
    /// The certificates the table's TLS Secrets hold (unusable ones are logged and skipped).
    pub fn load(
        table: Arc<RouteTable>,
        secret: impl Fn(&str, &str) -> Option<Arc<Secret>>,
    ) -> Self {
        let mut keys = HashMap::new();
        for key in table.tls_secrets() {
            let (ns, name) = key.split_once('/').unwrap_or(("", key));
            let Some(s) = secret(ns, name) else {
                tracing::debug!(secret = %key, "TLS Secret not found");
                continue;
            };
            match certified_key(&s) {
                Ok(ck) => {
                    keys.insert(key.to_string(), Arc::new(ck));
                }
                Err(e) => tracing::warn!(secret = %key, error = %e, "TLS Secret not usable"),
            }
        }
        Certificates { table, keys }
    }
}

/// Picks the certificate by SNI.
#[derive(Debug)]
pub struct SniResolver {
    pub current: Arc<RwLock<Certificates>>,
    pub default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|sni| {
            let certs = self.current.read().ok()?;
            let secret = certs.table.tls_secret(sni)?;
            certs.keys.get(secret).cloned()
        });
        Some(chosen.unwrap_or_else(|| self.default.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    #[test]
    fn secrets_and_the_default() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        assert!(default_certificate().is_ok());
        let made =
            rcgen::generate_simple_self_signed(vec!["one.example.test".to_string()]).unwrap();
        let secret = |crt: &str, key: &str| Secret {
            data: Some(BTreeMap::from([
                ("tls.crt".to_string(), ByteString(crt.as_bytes().to_vec())),
                ("tls.key".to_string(), ByteString(key.as_bytes().to_vec())),
            ])),
            ..Secret::default()
        };
        let good = secret(&made.cert.pem(), &made.signing_key.serialize_pem());
        assert!(certified_key(&good).is_ok());
        assert!(matches!(
            certified_key(&Secret::default()),
            Err(TlsError::Missing)
        ));
        assert!(certified_key(&secret("junk", "junk")).is_err());
        let other = rcgen::generate_simple_self_signed(vec!["x".to_string()]).unwrap();
        assert!(
            certified_key(&secret(
                &made.cert.pem(),
                &other.signing_key.serialize_pem()
            ))
            .is_err()
        );
    }
}
