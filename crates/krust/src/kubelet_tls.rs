//! Certificates of the kubelet's HTTPS server (logs, exec, attach, port-forward) and of the API
//! server's calls to it.
//!
//! - An agent in the server's process gets a serving certificate signed by the cluster CA
//!   ([`ClusterPki::issue_kubelet_serving_cert`]); a joining agent, which has no CA key and no
//!   kubelet-serving CSR flow yet, makes a self-signed one. The API server does not verify
//!   kubelet serving certificates (upstream's default without `--kubelet-certificate-authority`).
//! - The kubelet accepts only client certificates from the cluster CA; the API server presents
//!   `CN=kube-apiserver-kubelet-client, O=system:masters` ([`apiserver_client`]).
//!
//! Certificates are issued at every start and never written to disk.

use crate::pki::ClusterPki;
use anyhow::Context;
use krust_kubelet::server::ServerConfig;
use std::net::{IpAddr, Ipv4Addr};

/// The API server's user towards kubelets (upstream's name).
pub const APISERVER_KUBELET_CLIENT: &str = "kube-apiserver-kubelet-client";

/// The kubelet server's configuration for an agent in the server's process.
pub fn in_process_server(
    pki: &ClusterPki,
    node_name: &str,
    node_ip: Ipv4Addr,
    port: u16,
) -> anyhow::Result<ServerConfig> {
    let ips = [IpAddr::V4(node_ip), IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let (cert_pem, key_pem) = pki
        .issue_kubelet_serving_cert(node_name, &ips)
        .context("issuing the kubelet serving certificate")?;
    Ok(ServerConfig {
        bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port,
        cert_pem,
        key_pem,
        client_ca_pem: pki.ca_cert_pem().to_string(),
    })
}

/// The kubelet server's configuration for a joining agent: a self-signed serving certificate,
/// client certificates verified against the cluster CA `ca_pem`.
pub fn joined_server(
    ca_pem: &str,
    node_name: &str,
    node_ip: Ipv4Addr,
    port: u16,
) -> anyhow::Result<ServerConfig> {
    let mut sans = vec![node_ip.to_string(), "127.0.0.1".to_string()];
    if !node_name.is_empty() {
        sans.push(node_name.to_string());
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the kubelet serving key")?;
    let mut params = rcgen::CertificateParams::new(sans).context("kubelet serving names")?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("system:node:{node_name}"),
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .self_signed(&key)
        .context("self-signing the kubelet serving certificate")?;
    Ok(ServerConfig {
        bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        client_ca_pem: ca_pem.to_string(),
    })
}

/// The API server's client certificate for kubelets: `(cert_pem, key_pem)`.
pub fn apiserver_client(pki: &ClusterPki) -> anyhow::Result<(String, String)> {
    pki.issue_client_cert(APISERVER_KUBELET_CLIENT, &[crate::pki::ADMIN_GROUP])
        .context("issuing the API server's kubelet client certificate")
}
