//! Image registries a node may pull from: `/etc/krust/registries.yaml` in k3s's format
//! (`mirrors` with `endpoint`s, `configs` with `auth` and `tls`), rendered into containerd's
//! own registry configuration (a `hosts.toml` per registry under `<root>/certs.d`, credentials
//! in the CRI plugin's `registry.configs`), plus the image-reference parsing that tells which
//! registry an image comes from and whether the node can reach it at all.
//!
//! With no file the node is air-gapped: containerd's traffic goes to a dead local proxy, and
//! only the hosts named here are exempted from it (`NO_PROXY`).
//!
//! Not supported (k3s patches containerd for it): `rewrite` rules; a file with rewrites is
//! refused rather than silently pulling other images.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Where `krust server` and `krust agent` read the registries from by default.
pub const DEFAULT_PATH: &str = "/etc/krust/registries.yaml";

/// Docker Hub's registry host and the API endpoint containerd uses for it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";

/// The parsed `registries.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registries {
    /// Registry host (`docker.io`, `registry.example.com:5000`, `*`) -> its mirrors.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    /// Registry or mirror host -> credentials and TLS settings.
    #[serde(default)]
    pub configs: BTreeMap<String, RegistryConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// Endpoints tried in order (`https://mirror.example.com:5000`); the registry itself last.
    #[serde(default)]
    pub endpoint: Vec<String>,
    /// k3s's rewrite rules (refused, see the module docs).
    #[serde(default)]
    pub rewrite: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub auth: Option<Auth>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    /// `base64(username:password)`.
    pub auth: Option<String>,
    pub identitytoken: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Why a registries file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Registries {
    /// Reads `path`; a missing file is no registries (an air-gapped node).
    pub fn load(path: &Path) -> Result<Registries, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registries::default()),
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let parsed: Option<Registries> =
            serde_saphyr::from_str(&text).map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let registries = parsed.unwrap_or_default();
        registries.check().map_err(|message| Error::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(registries)
    }

    fn check(&self) -> Result<(), String> {
        for (host, mirror) in &self.mirrors {
            if !mirror.rewrite.is_empty() {
                return Err(format!(
                    "mirrors.{host:?}.rewrite is not supported by krust (containerd has no rewrite rules); push the images under their rewritten names instead"
                ));
            }
            for ep in &mirror.endpoint {
                endpoint_host(ep).ok_or_else(|| {
                    format!("mirrors.{host:?}.endpoint: {ep:?} is not an http(s) URL")
                })?;
            }
        }
        Ok(())
    }

    /// Whether no registry at all is configured (an air-gapped node).
    pub fn is_empty(&self) -> bool {
        self.mirrors.is_empty() && self.configs.is_empty()
    }

    /// Whether a pull of an image from `registry` can reach anything: the registry has
    /// mirrors (or `*` has), or the registry itself is configured.
    pub fn reaches(&self, registry: &str) -> bool {
        self.mirrors
            .get(registry)
            .or_else(|| self.mirrors.get("*"))
            .is_some_and(|m| !m.endpoint.is_empty())
            || self.configs.contains_key(registry)
    }

    /// Every host containerd may contact: mirror endpoints and configured registries
    /// (the `NO_PROXY` list, so these and only these bypass the dead proxy).
    pub fn reachable_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .mirrors
            .values()
            .flat_map(|m| m.endpoint.iter().filter_map(|e| endpoint_host(e)))
            .chain(self.configs.keys().cloned())
            .filter(|h| h != "*")
            .collect();
        // Go matches NO_PROXY entries against the host with and without the port.
        let bare: Vec<String> = hosts
            .iter()
            .filter_map(|h| h.rsplit_once(':').map(|(b, _)| b.to_string()))
            .collect();
        hosts.extend(bare);
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The `hosts.toml` files to write under containerd's `config_path`: (directory name,
    /// contents). One per mirrored registry (`_default` for `*`) and per configured host.
    pub fn hosts_files(&self) -> Vec<(String, String)> {
        let mut out = BTreeMap::new();
        for (registry, mirror) in &self.mirrors {
            let mut s = String::new();
            if registry != "*" {
                let _ = writeln!(s, "server = {}", toml_str(&server_of(registry)));
                self.write_tls(&mut s, registry);
            }
            for ep in &mirror.endpoint {
                let _ = writeln!(s, "\n[host.{}]", toml_str(ep.trim_end_matches('/')));
                let _ = writeln!(s, "  capabilities = [\"pull\", \"resolve\"]");
                if let Some(host) = endpoint_host(ep) {
                    self.write_tls(&mut s, &host);
                }
            }
            let dir = if registry == "*" {
                "_default".to_string()
            } else {
                registry.clone()
            };
            out.insert(dir, s);
        }
        for host in self.configs.keys() {
            if host == "*" || out.contains_key(host) {
                continue;
            }
            // The registry as an explicit `[host]` too: containerd 1.6.20 was seen to speak
            // plain HTTP to a loopback `server` (a 400 from the registry's TLS port), while
            // the scheme of a `[host]` entry is honoured.
            let server = server_of(host);
            let mut s = format!("server = {}\n", toml_str(&server));
            let _ = writeln!(s, "\n[host.{}]", toml_str(&server));
            let _ = writeln!(s, "  capabilities = [\"pull\", \"resolve\"]");
            self.write_tls(&mut s, host);
            out.insert(host.clone(), s);
        }
        out.into_iter().collect()
    }

    fn write_tls(&self, s: &mut String, host: &str) {
        let Some(tls) = self.configs.get(host).and_then(|c| c.tls.as_ref()) else {
            return;
        };
        if let Some(ca) = &tls.ca_file {
            let _ = writeln!(s, "  ca = {}", toml_str(&ca.to_string_lossy()));
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            let _ = writeln!(
                s,
                "  client = [[{}, {}]]",
                toml_str(&cert.to_string_lossy()),
                toml_str(&key.to_string_lossy())
            );
        }
        if tls.insecure_skip_verify {
            let _ = writeln!(s, "  skip_verify = true");
        }
    }

    /// The CRI plugin's `registry.configs` sections with credentials (containerd 1.6 reads
    /// them for every host, also with `config_path`).
    pub fn auth_toml(&self) -> String {
        let mut s = String::new();
        for (host, cfg) in &self.configs {
            let Some(auth) = &cfg.auth else { continue };
            let _ = writeln!(
                s,
                "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.{}.auth]",
                toml_str(host)
            );
            for (k, v) in [
                ("username", &auth.username),
                ("password", &auth.password),
                ("auth", &auth.auth),
                ("identitytoken", &auth.identitytoken),
            ] {
                if let Some(v) = v {
                    let _ = writeln!(s, "  {k} = {}", toml_str(v));
                }
            }
            s.push('\n');
        }
        s
    }
}

/// The host (with port) of an `http(s)://host[:port][/path]` endpoint.
fn endpoint_host(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    (!host.is_empty()).then(|| host.to_string())
}

/// The `server` of a registry's hosts.toml.
fn server_of(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_ENDPOINT.to_string()
    } else {
        format!("https://{registry}")
    }
}

/// The registry host of an image reference, as the docker reference rules decide:
/// the first path component when it has a `.` or `:` or is `localhost`, else `docker.io`.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => DOCKER_HUB,
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const K3S_EXAMPLE: &str = r#"
mirrors:
  docker.io:
    endpoint:
      - "https://mirror.local:5000"
  "*":
    endpoint: ["http://fallback.local"]
configs:
  "mirror.local:5000":
    auth:
      username: alice
      password: "s3cr\"et"
    tls:
      ca_file: /etc/ssl/mirror-ca.pem
      cert_file: /etc/ssl/client.pem
      key_file: /etc/ssl/client-key.pem
  "registry.example.com":
    tls:
      insecure_skip_verify: true
"#;

    fn parse(text: &str) -> Result<Registries, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.yaml");
        std::fs::write(&path, text).unwrap();
        Registries::load(&path)
    }

    #[test]
    fn renders_containerd_configuration() {
        let r = parse(K3S_EXAMPLE).unwrap();
        let files: BTreeMap<String, String> = r.hosts_files().into_iter().collect();
        let hub = &files["docker.io"];
        assert!(
            hub.starts_with("server = \"https://registry-1.docker.io\"\n"),
            "{hub}"
        );
        assert!(hub.contains("[host.\"https://mirror.local:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"/etc/ssl/mirror-ca.pem\"\n  client = [[\"/etc/ssl/client.pem\", \"/etc/ssl/client-key.pem\"]]\n"), "{hub}");
        assert!(files["_default"].contains("[host.\"http://fallback.local\"]"));
        assert!(files["registry.example.com"].contains("skip_verify = true"));
        let auth = r.auth_toml();
        assert!(auth.contains("registry.configs.\"mirror.local:5000\".auth]\n  username = \"alice\"\n  password = \"s3cr\\\"et\"\n"), "{auth}");
        assert_eq!(
            r.reachable_hosts(),
            [
                "fallback.local",
                "mirror.local",
                "mirror.local:5000",
                "registry.example.com"
            ]
        );
        assert!(
            r.reaches("docker.io") && r.reaches("quay.io") && r.reaches("registry.example.com")
        );
    }

    #[test]
    fn missing_empty_and_bad_files() {
        assert!(
            Registries::load(Path::new("/nonexistent/registries.yaml"))
                .unwrap()
                .is_empty()
        );
        assert!(parse("").unwrap().is_empty());
        let only_hub = parse("mirrors:\n  docker.io:\n    endpoint: [\"https://m:1\"]\n").unwrap();
        assert!(only_hub.reaches("docker.io") && !only_hub.reaches("quay.io"));
        let err = parse("mirrors:\n  docker.io:\n    rewrite:\n      \"^a/(.*)\": \"b/$1\"\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("rewrite is not supported"),
            "{err}"
        );
        assert!(parse("mirors: {}\n").is_err());
        assert!(parse("mirrors:\n  x:\n    endpoint: [\"ftp://x\"]\n").is_err());
    }

    #[test]
    fn registry_of_references() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox:1.36"), "docker.io");
        assert_eq!(registry_of("quay.io/a/b"), "quay.io");
        assert_eq!(registry_of("127.0.0.1:5000/b"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/b"), "localhost");
    }
}
