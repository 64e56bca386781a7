//! The admin kubeconfig: a standard `kind: Config` YAML file with the cluster CA and a client
//! certificate embedded as base64 (`*-data` keys), so it works when copied to another machine.
//!
//! The cluster, user and context are all named `default` (as k3s does), and the file is written
//! with mode 0600 because it holds a private key.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why the kubeconfig could not be written.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// A file or directory operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create directory", "write").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// The kubeconfig YAML for `server_url` (e.g. `https://127.0.0.1:6443`), trusting `ca_pem` and
/// authenticating with the client certificate `cert_pem` and key `key_pem`.
pub fn admin_kubeconfig(server_url: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    let ca = STANDARD.encode(ca_pem);
    let cert = STANDARD.encode(cert_pem);
    let key = STANDARD.encode(key_pem);
    // A JSON string is a valid YAML double-quoted scalar, whatever the URL holds.
    let server = serde_json::Value::String(server_url.to_string()).to_string();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    certificate-authority-data: {ca}
    server: {server}
contexts:
- name: default
  context:
    cluster: default
    user: default
current-context: default
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
"
    )
}

/// Writes `contents` to `path` with mode 0600, creating missing parent directories (mode 0700).
/// The file is replaced atomically, and an existing file's looser mode is not kept.
pub fn write_kubeconfig(path: &Path, contents: &str) -> Result<(), KubeconfigError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| KubeconfigError::Io {
                op: "create directory",
                path: parent.to_path_buf(),
                source,
            })?;
    }
    crate::pki::write_atomically(path, contents.as_bytes(), 0o600).map_err(|source| {
        KubeconfigError::Io {
            op: "write",
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "apiVersion")]
        api_version: String,
        kind: String,
        clusters: Vec<Named<Cluster>>,
        contexts: Vec<Named<Context>>,
        users: Vec<Named<User>>,
        #[serde(rename = "current-context")]
        current_context: String,
    }

    #[derive(Deserialize)]
    struct Named<T> {
        name: String,
        #[serde(alias = "cluster", alias = "context", alias = "user")]
        item: T,
    }

    #[derive(Deserialize)]
    struct Cluster {
        server: String,
        #[serde(rename = "certificate-authority-data")]
        ca: String,
    }

    #[derive(Deserialize)]
    struct Context {
        cluster: String,
        user: String,
    }

    #[derive(Deserialize)]
    struct User {
        #[serde(rename = "client-certificate-data")]
        cert: String,
        #[serde(rename = "client-key-data")]
        key: String,
    }

    fn decode(b64: &str) -> String {
        String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
    }

    #[test]
    fn round_trips_through_yaml() {
        let ca = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
        let cert = "-----BEGIN CERTIFICATE-----\nADMIN\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";
        for url in [
            "https://127.0.0.1:6443",
            "https://[::1]:6443",
            "https://h: #x",
        ] {
            let yaml = admin_kubeconfig(url, ca, cert, key);
            let config: Config = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(config.api_version, "v1");
            assert_eq!(config.kind, "Config");
            assert_eq!(config.current_context, "default");
            let [cluster] = config.clusters.as_slice() else {
                panic!("one cluster")
            };
            assert_eq!(cluster.name, "default");
            assert_eq!(cluster.item.server, url);
            assert_eq!(decode(&cluster.item.ca), ca);
            let [context] = config.contexts.as_slice() else {
                panic!("one context")
            };
            assert_eq!(context.name, "default");
            assert_eq!(context.item.cluster, "default");
            assert_eq!(context.item.user, "default");
            let [user] = config.users.as_slice() else {
                panic!("one user")
            };
            assert_eq!(user.name, "default");
            assert_eq!(decode(&user.item.cert), cert);
            assert_eq!(decode(&user.item.key), key);
        }
    }

    #[test]
    fn writes_private_file_and_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("etc/krust/krust.yaml");
        write_kubeconfig(&path, "first").unwrap();
        write_kubeconfig(&path, "second").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
