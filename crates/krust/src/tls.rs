//! TLS for the API server: the rustls server configuration built from the [`ClusterPki`], and the
//! Kubernetes identity carried by a client certificate.
//!
//! Client certificates are optional (kubectl with a token, or anonymous discovery, must still
//! connect) but, when presented, must chain to the cluster CA or the handshake fails. The
//! authenticated user is the subject CN and the groups are the subject O values, as in
//! Kubernetes' x509 authenticator; [`peer_identity`] reads them with the panic-free DER reader in
//! [`crate::pki::der`] rather than a full X.509 parser.
//!
//! Only the ring crypto provider is used, passed explicitly (mixing ring and aws-lc-rs makes
//! rustls panic at runtime).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::pki::{ClusterPki, PkiError, der, ring_provider};

/// ALPN protocols the API server offers, in preference order.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key from the PKI could not be used.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// rustls rejected the certificate, key or protocol settings.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built from the CA.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] VerifierBuilderError),
    /// A PEM input holds no usable certificate or key.
    #[error("{what}: invalid PEM: {source}")]
    Pem {
        /// Which input ("CA certificate", "client certificate", "client key").
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
}

/// The Kubernetes user a verified client certificate authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The user name: the subject common name.
    pub user: String,
    /// The groups: the subject organization values, in certificate order.
    pub groups: Vec<String>,
}

/// The API server's TLS configuration: the serving certificate, ALPN `h2` then `http/1.1`, and
/// optional client certificates verified against the cluster CA.
pub fn server_config(pki: &ClusterPki) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = ring_provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(pki.root_store()), provider.clone())
            .allow_unauthenticated()
            .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.serving_cert_chain(), pki.serving_key_der()?)?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration trusting only `ca_pem`, presenting `client` (`(cert_pem, key_pem)`)
/// when given, with ALPN `h2` then `http/1.1`. For agents and tests talking to the API server.
pub fn client_config(
    ca_pem: &str,
    client: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|source| TlsError::Pem {
            what: "CA certificate",
            source,
        })?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(TlsError::Pem {
            what: "CA certificate",
            source: rustls::pki_types::pem::Error::NoItemsFound,
        });
    }
    let builder = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pem)) => {
            let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| TlsError::Pem {
                    what: "client certificate",
                    source,
                })?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|source| {
                TlsError::Pem {
                    what: "client key",
                    source,
                }
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The identity in a client's (already verified) certificate chain: CN of the end-entity
/// certificate as the user, its O values as groups. `None` when no certificate was presented or
/// it has no readable common name. Never panics, whatever the bytes.
pub fn peer_identity(certs: &[CertificateDer<'_>]) -> Option<PeerIdentity> {
    let end_entity = certs.first()?;
    let (user, groups) = der::common_name_and_organizations(end_entity)?;
    if user.is_empty() {
        return None;
    }
    Some(PeerIdentity { user, groups })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io;

    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;
    use crate::pki::{ServingNames, first_service_ip};

    fn pki_in(dir: &std::path::Path) -> ClusterPki {
        let names = ServingNames::gather(first_service_ip("10.43.0.0/16").unwrap());
        ClusterPki::load_or_create(dir, &names).unwrap()
    }

    fn cert_der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn identity_of_rcgen_certificates() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = pki_in(tmp.path());
        assert_eq!(
            peer_identity(&[cert_der(pki.admin_cert_pem())]),
            Some(PeerIdentity {
                user: "system:admin".into(),
                groups: vec!["system:masters".into()],
            })
        );
        let (node, _) = pki
            .issue_client_cert("system:node:worker-1", &["system:nodes"])
            .unwrap();
        assert_eq!(
            peer_identity(&[cert_der(&node)]).unwrap(),
            PeerIdentity {
                user: "system:node:worker-1".into(),
                groups: vec!["system:nodes".into()],
            }
        );
        let (nogroup, _) = pki.issue_client_cert("alice", &[]).unwrap();
        assert_eq!(
            peer_identity(&[cert_der(&nogroup)]).unwrap(),
            PeerIdentity {
                user: "alice".into(),
                groups: vec![],
            }
        );
        assert_eq!(peer_identity(&[]), None);

        // Self-signed with PrintableString values and other attributes around them.
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CountryName,
            DnValue::PrintableString("US".try_into().unwrap()),
        );
        dn.push(
            DnType::OrganizationName,
            DnValue::PrintableString("devs".try_into().unwrap()),
        );
        dn.push(DnType::OrganizationalUnitName, "unit");
        dn.push(
            DnType::CommonName,
            DnValue::PrintableString("bob".try_into().unwrap()),
        );
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            peer_identity(&[cert.der().clone()]).unwrap(),
            PeerIdentity {
                user: "bob".into(),
                groups: vec!["devs".into()],
            }
        );

        // No common name at all.
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "only-org");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(peer_identity(&[cert.der().clone()]), None);
    }

    #[test]
    fn malformed_der_never_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = pki_in(tmp.path());
        let good = cert_der(pki.admin_cert_pem()).to_vec();

        // Every truncation.
        for len in 0..good.len() {
            let cert = CertificateDer::from(good[..len].to_vec());
            assert_eq!(peer_identity(&[cert]), None, "truncated to {len}");
        }
        // Every single-byte corruption (a few values each), deterministic.
        for i in 0..good.len() {
            for xor in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= xor;
                let _ = peer_identity(&[CertificateDer::from(bad)]);
            }
        }
        // Pseudo-random garbage, and hostile lengths.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let len = round % 300;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = peer_identity(&[CertificateDer::from(bytes)]);
        }
        for hostile in [
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            vec![0x30, 0x80, 0x00, 0x00],
            vec![0x1f, 0x01, 0x00],
            vec![0x30],
            vec![0x30, 0x03, 0x30, 0x01],
        ] {
            assert_eq!(peer_identity(&[CertificateDer::from(hostile)]), None);
        }
    }

    /// Accepts one TLS connection and reports the identity the server saw, or the error.
    async fn serve_one(
        listener: TcpListener,
        acceptor: TlsAcceptor,
    ) -> io::Result<(Option<PeerIdentity>, Option<Vec<u8>>)> {
        let (tcp, _) = listener.accept().await?;
        let mut tls = acceptor.accept(tcp).await?;
        let (_, conn) = tls.get_ref();
        let identity = conn.peer_certificates().and_then(peer_identity);
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await?;
        tls.write_all(b"pong").await?;
        tls.shutdown().await?;
        Ok((identity, alpn))
    }

    async fn exchange(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
    ) -> (
        io::Result<(Option<PeerIdentity>, Option<Vec<u8>>)>,
        io::Result<Vec<u8>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server_task = tokio::spawn(serve_one(listener, TlsAcceptor::from(server)));
        let client_result = async {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = TlsConnector::from(client).connect(name, tcp).await?;
            tls.write_all(b"ping").await?;
            let mut reply = Vec::new();
            tls.read_to_end(&mut reply).await?;
            Ok(reply)
        }
        .await;
        let server_result = server_task.await.unwrap();
        (server_result, client_result)
    }

    #[tokio::test]
    async fn end_to_end_client_certificates() {
        let tmp = tempfile::tempdir().unwrap();
        let pki = pki_in(tmp.path());
        let server = server_config(&pki).unwrap();
        assert_eq!(
            server.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        // The admin certificate.
        let admin = client_config(
            pki.ca_cert_pem(),
            Some((pki.admin_cert_pem(), pki.admin_key_pem())),
        )
        .unwrap();
        let (server_side, client_side) = exchange(server.clone(), admin).await;
        let (identity, alpn) = server_side.unwrap();
        assert_eq!(
            identity,
            Some(PeerIdentity {
                user: "system:admin".into(),
                groups: vec!["system:masters".into()],
            })
        );
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        assert_eq!(client_side.unwrap(), b"pong");

        // No client certificate: connects, no identity.
        let anonymous = client_config(pki.ca_cert_pem(), None).unwrap();
        let (server_side, client_side) = exchange(server.clone(), anonymous).await;
        assert_eq!(server_side.unwrap().0, None);
        assert_eq!(client_side.unwrap(), b"pong");

        // A client certificate from another CA: the server rejects the handshake.
        let other_dir = tempfile::tempdir().unwrap();
        let other = pki_in(other_dir.path());
        let foreign = client_config(
            pki.ca_cert_pem(),
            Some((other.admin_cert_pem(), other.admin_key_pem())),
        )
        .unwrap();
        let (server_side, client_side) = exchange(server.clone(), foreign).await;
        assert!(
            server_side.is_err(),
            "server accepted a foreign client cert"
        );
        assert!(
            client_side.is_err(),
            "client got a reply with a foreign cert"
        );

        // A client that does not trust the cluster CA refuses the server.
        let distrustful = client_config(other.ca_cert_pem(), None).unwrap();
        let (server_side, client_side) = exchange(server, distrustful).await;
        assert!(server_side.is_err());
        assert!(client_side.is_err());
    }

    #[test]
    fn client_config_rejects_bad_pem() {
        assert!(matches!(
            client_config("nothing here", None),
            Err(TlsError::Pem { .. })
        ));
    }
}
