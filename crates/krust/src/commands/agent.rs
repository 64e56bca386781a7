//! `krust agent`: joins a server with its join token. The token (`K10<sha256 of the CA
//! PEM>::server:<secret>`, k3s's format) pins the cluster CA: the agent fetches `/cacerts`
//! over TLS without trusting anything yet, checks the PEM's SHA-256 against the token, and only
//! then talks to the API with that CA as its sole root and the secret as bearer token.
//!
//! Then it runs the real node agent ([`crate::node_agent`]: containerd and the kubelet), or
//! simulated nodes with `--simulate-nodes N`. `krust agent cleanup` removes what an agent on
//! this machine left behind.

use crate::cli::{AgentAction, AgentArgs};
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;
use krust_kubelet::simulated::{SimConfig, SimulatedNodes, parse_capacity};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;

/// Longest `/cacerts` response accepted.
const MAX_CACERTS: usize = 1 << 20;
/// Time allowed for fetching `/cacerts`.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// A parsed join token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinToken {
    /// SHA-256 (lowercase hex) of the CA bundle the server must present, when the token
    /// carries one (`K10…` tokens do).
    pub ca_hash: Option<String>,
    /// The secret, sent as bearer token.
    pub secret: String,
}

impl JoinToken {
    /// Parses `K10<hex>::<user>:<secret>` (k3s's secure format) or a bare secret.
    pub(crate) fn parse(token: &str) -> anyhow::Result<JoinToken> {
        let token = token.trim();
        if token.is_empty() {
            bail!("the join token is empty");
        }
        let Some(rest) = token.strip_prefix("K10") else {
            if token.contains("::") {
                bail!("the join token is malformed (expected K10<ca-hash>::server:<secret>)");
            }
            return Ok(JoinToken {
                ca_hash: None,
                secret: token.to_string(),
            });
        };
        let (hash, creds) = rest
            .split_once("::")
            .context("the join token is malformed (expected K10<ca-hash>::server:<secret>)")?;
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("the join token's CA hash is not a SHA-256 hex digest");
        }
        let secret = creds.split_once(':').map_or(creds, |(_, s)| s);
        if secret.is_empty() {
            bail!("the join token has no secret after its CA hash");
        }
        Ok(JoinToken {
            ca_hash: Some(hash.to_ascii_lowercase()),
            secret: secret.to_string(),
        })
    }
}

/// Runs the agent until SIGINT or SIGTERM (or `krust agent cleanup`).
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    if let Some(AgentAction::Cleanup(c)) = &args.action {
        let c = c.clone();
        return tokio::task::spawn_blocking(move || {
            crate::node_agent::cleanup(&c.data_dir, &c.cni_bridge, &c.cluster_cidr, &c.service_cidr)
        })
        .await
        .context("cleanup task")?;
    }
    let Some(server) = args.server.clone() else {
        bail!("--server is required");
    };
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the join token from {}", path.display()))?,
        (None, None) => bail!("a join token is needed: --token TOKEN or --token-file FILE"),
    };
    let token = JoinToken::parse(&token)?;
    let simulated = match args.simulate_nodes {
        Some(count) => {
            let capacity = parse_capacity(&args.node_capacity)?;
            let config = SimConfig {
                count,
                name_prefix: args.node_name_prefix.clone(),
                capacity,
                pod_cidr_base: args.simulated_pod_cidr.clone(),
                ..SimConfig::default()
            };
            config.validate()?;
            crate::host_network::refuse_host_overlap(
                "--simulated-pod-cidr",
                &args.simulated_pod_cidr,
                &[],
            )?;
            Some(config)
        }
        None => None,
    };

    let url: http::Uri = server
        .parse()
        .with_context(|| format!("--server {server:?} is not a URL"))?;
    if url.scheme_str() != Some("https") {
        bail!("--server must be an https:// URL (got {server:?})");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pem = fetch_cacerts(&url, &provider)
        .await
        .with_context(|| format!("fetching the cluster CA from {server}/cacerts"))?;
    let actual = sha256_hex(&pem);
    match &token.ca_hash {
        Some(expected) if *expected != actual => bail!(
            "the server's CA certificate does not match the join token (token expects sha256 \
             {expected}, server presented {actual}): wrong token, or not the server the token \
             came from; refusing to join"
        ),
        Some(_) => tracing::info!("cluster CA verified against the join token"),
        None => tracing::warn!(
            "the join token carries no CA hash: trusting the CA the server presented \
             (sha256 {actual}); use the full K10… token to pin it"
        ),
    }
    let roots = pem_certificates(&pem);
    if roots.is_empty() {
        bail!("the server's /cacerts held no PEM certificate");
    }

    let client = api_client(url, roots, &token.secret)?;
    check_access(&client).await?;
    if let Some(config) = simulated {
        tracing::info!(
            server = %server,
            nodes = config.count,
            prefix = %config.name_prefix,
            "krust agent joined; running simulated nodes"
        );
        // Packets to the simulated pods' addresses die here instead of leaving the host.
        crate::node_agent::add_simulated_route(&args.data_dir, &args.simulated_pod_cidr);
        let nodes = SimulatedNodes::new(client, config);
        let stopped = tokio::select! {
            _ = nodes.run() => true,
            _ = shutdown_signal() => false,
        };
        crate::node_agent::remove_simulated_route(&args.data_dir);
        if stopped {
            bail!("the simulated nodes stopped");
        }
        tracing::info!("shutting down");
        return Ok(());
    }
    let node = &args.node;
    let node_name = node
        .node_name
        .clone()
        .unwrap_or_else(crate::node_agent::default_node_name);
    let kubelet_server = Some(crate::kubelet_tls::joined_server(
        &String::from_utf8_lossy(&pem),
        &node_name,
        crate::node_agent::node_ip(node.node_ip),
        node.kubelet_port,
    )?);
    let opts = crate::node_agent::AgentOptions {
        kubelet_server,
        data_dir: args.data_dir.clone(),
        node_name: node
            .node_name
            .clone()
            .unwrap_or_else(crate::node_agent::default_node_name),
        node_ip: crate::node_agent::node_ip(node.node_ip),
        cluster_dns: args.cluster_dns,
        cluster_domain: args.cluster_domain.clone(),
        cluster_cidr: args.cluster_cidr.clone(),
        service_cidr: args.service_cidr.clone(),
        cni_bridge: node.cni_bridge.clone(),
        max_pods: node.max_pods,
        ca_pem: String::from_utf8_lossy(&pem).into_owned(),
        runtime_endpoint: node
            .container_runtime_endpoint
            .as_deref()
            .map(crate::node_agent::endpoint_path),
        private_registry: node.private_registry.clone(),
        resolv_conf: node.resolv_conf.clone(),
        ingress_ports: (node.ingress_http_port, node.ingress_https_port),
    };
    let agent = crate::node_agent::RunningAgent::start(client, opts).await?;
    tracing::info!(server = %server, "krust agent joined; running the kubelet");
    shutdown_signal().await;
    tracing::info!("shutting down");
    agent.stop().await;
    Ok(())
}

/// A client trusting only `roots`, authenticated by the bearer `secret`.
fn api_client(url: http::Uri, roots: Vec<Vec<u8>>, secret: &str) -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::new(url);
    config.root_cert = Some(roots);
    config.auth_info = serde_json::from_value(serde_json::json!({ "token": secret }))
        .context("building the agent's credentials")?;
    config.connect_timeout = Some(Duration::from_secs(10));
    kube::Client::try_from(config).context("building the API client")
}

/// Fails with a clear message when the server does not accept the token.
async fn check_access(client: &kube::Client) -> anyhow::Result<()> {
    let api: kube::Api<Node> = kube::Api::all(client.clone());
    match api
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 401 => {
            bail!("the server rejected the join token (401 Unauthorized)")
        }
        Err(kube::Error::Api(s)) if s.code == 403 => {
            bail!(
                "the server does not let this agent list nodes (403): {}",
                s.message
            )
        }
        Err(e) => Err(anyhow::Error::new(e).context("reaching the API server")),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The DER of every `CERTIFICATE` block in `pem`.
fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = body.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b.as_bytes())
            {
                out.push(der);
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}

/// `GET /cacerts` over TLS without verifying the server (see [`krust_apiserver::tls_verify::AnyServerCert`]).
async fn fetch_cacerts(url: &http::Uri, provider: &Arc<CryptoProvider>) -> anyhow::Result<Vec<u8>> {
    use http_body_util::BodyExt;
    let host = url.host().context("the server URL has no host")?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_u16().unwrap_or(443);
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS configuration")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(
            krust_apiserver::tls_verify::AnyServerCert::new(provider.clone()),
        ))
        .with_no_client_auth();
    let server_name = ServerName::try_from(host.clone())
        .with_context(|| format!("{host:?} is not a valid server name"))?;
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("connecting to {host}:{port}"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(server_name, tcp)
            .await
            .context("TLS handshake")?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .context("HTTP handshake")?;
        let conn = tokio::spawn(conn);
        let authority = url
            .authority()
            .map_or_else(|| host.clone(), |a| a.as_str().to_string());
        let request = http::Request::get("/cacerts")
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, "*/*")
            .header(http::header::USER_AGENT, "krust-agent")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .context("building the request")?;
        let response = sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_CACERTS)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the response: {e}"))?
            .to_bytes();
        conn.abort();
        if status != http::StatusCode::OK {
            bail!(
                "HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or_default())
            );
        }
        anyhow::Ok(body.to_vec())
    };
    tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .context("timed out")?
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {},
                _ = i.recv() => {},
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

    #[test]
    fn parses_tokens() {
        let t = JoinToken::parse(&format!("K10{HASH}::server:s3cret\n")).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(HASH));
        assert_eq!(t.secret, "s3cret");
        let t = JoinToken::parse(&format!("K10{}::node:abc", HASH.to_uppercase())).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(HASH));
        assert_eq!(t.secret, "abc");
        let t = JoinToken::parse("plainsecret").unwrap();
        assert_eq!(t.ca_hash, None);
        assert_eq!(t.secret, "plainsecret");
        for bad in [
            "",
            "K10abc::server:x",
            &format!("K10{HASH}::server:"),
            &format!("K10{HASH}"),
            "x::y",
        ] {
            assert!(JoinToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_pem_certificates() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n\
                    junk\n-----BEGIN CERTIFICATE-----\nBAU=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(pem), vec![vec![0, 1, 2, 3], vec![4, 5]]);
        assert!(pem_certificates(b"nothing").is_empty());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
