//! The key ServiceAccount tokens are signed with: ECDSA P-256 in PKCS#8 PEM at
//! `<data-dir>/server/tls/service-account.key` (mode 0600), generated on the first start and
//! reused afterwards, so tokens issued before a restart stay valid.

use anyhow::Context;
use base64::Engine;
use krust_apiserver::service_account_token::TokenSigner;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;

/// The key file's name in the TLS directory.
pub const FILE_NAME: &str = "service-account.key";

/// PEM text of a PKCS#8 DER key.
fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// The PKCS#8 DER of the key at `path`, generating and storing a new one if the file does not
/// exist. A file that is not an ECDSA P-256 PKCS#8 key is an error (never silently replaced:
/// that would invalidate every token issued).
pub fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let der = PrivatePkcs8KeyDer::from_pem_slice(&bytes)
                .with_context(|| format!("{}: not a PKCS#8 PEM private key", path.display()))?;
            let der = der.secret_pkcs8_der().to_vec();
            TokenSigner::from_pkcs8(&der).with_context(|| format!("{}", path.display()))?;
            Ok(der)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let der = TokenSigner::generate_pkcs8()?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            crate::pki::write_atomically(path, to_pem(&der).as_bytes(), 0o600)
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(der)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls").join(FILE_NAME);
        let a = load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let b = load_or_create(&path).unwrap();
        assert_eq!(a, b);
        let signer = TokenSigner::from_pkcs8(&b).unwrap();
        assert_eq!(signer.key_id().len(), 43);
    }

    #[test]
    fn garbage_is_an_error_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "not a key").unwrap();
        assert!(load_or_create(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key");
    }
}
