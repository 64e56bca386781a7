//! The cluster's certificates: a CA, the API server's serving certificate and the admin client
//! certificate, kept as PEM files in `<data-dir>/server/tls`.
//!
//! [`ClusterPki::load_or_create`] generates everything on the first start and reuses what it can
//! afterwards:
//!
//! - the **CA** (`ca.crt`, `ca.key`) is never replaced once it exists, so kubeconfigs and node
//!   certificates issued earlier keep working. New certificates are signed with it by rebuilding
//!   its issuer parameters from the stored certificate's subject name and the stored key (see
//!   [`der`] for the small DER reader) and handing them to rcgen's [`Issuer`];
//! - the **admin** client certificate (`admin.crt`, `admin.key`; CN `system:admin`, O
//!   `system:masters`) is reused while it chains to the CA and has more than
//!   [`RENEW_BEFORE`] of validity left;
//! - the **serving** certificate (`serving.crt`, `serving.key`) is also re-issued when the wanted
//!   subject alternative names ([`ServingNames`]) differ from those recorded in `serving.sans`
//!   when it was issued (a new interface address, a new hostname).
//!
//! Keys are ECDSA P-256 in PKCS#8 PEM, written with mode 0600; every file is replaced
//! atomically (write to a temporary file, then rename).

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, server::VerifierBuilderError};

/// CA certificate file name inside the PKI directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// CA private key file name.
pub const CA_KEY_FILE: &str = "ca.key";
/// API server serving certificate file name.
pub const SERVING_CERT_FILE: &str = "serving.crt";
/// API server serving key file name.
pub const SERVING_KEY_FILE: &str = "serving.key";
/// The subject alternative names the serving certificate was issued for, one per line.
pub const SERVING_SANS_FILE: &str = "serving.sans";
/// Admin client certificate file name.
pub const ADMIN_CERT_FILE: &str = "admin.crt";
/// Admin client key file name.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// The admin user (subject CN of the admin certificate).
pub const ADMIN_USER: &str = "system:admin";
/// The admin group (subject O of the admin certificate); bound to cluster-admin.
pub const ADMIN_GROUP: &str = "system:masters";

/// Validity of the CA certificate.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Validity of leaf (serving and client) certificates.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A stored leaf certificate that expires within this is re-issued on start.
pub const RENEW_BEFORE: Duration = Duration::from_secs(90 * 24 * 3600);
/// `notBefore` is back-dated by this much to tolerate clock skew between machines.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// The serving certificate's common name.
const SERVING_COMMON_NAME: &str = "kube-apiserver";
/// Default cluster domain used by [`ServingNames::gather`].
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Why the PKI could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create directory").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{}: invalid PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rcgen failed to generate a key or sign a certificate.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// The CA key is present but its certificate is missing, or the reverse.
    #[error("{} exists but {} is missing; restore it or remove both to create a new CA", present.display(), missing.display())]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        missing: PathBuf,
    },
    /// The CA certificate's subject could not be read or cannot be represented for signing.
    #[error("{}: unsupported CA certificate subject: {reason}", path.display())]
    CaSubject {
        /// The CA certificate file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The CA key does not belong to the CA certificate.
    #[error("{} does not match the CA certificate {}: {source}", key.display(), cert.display())]
    CaKeyMismatch {
        /// The CA key file.
        key: PathBuf,
        /// The CA certificate file.
        cert: PathBuf,
        /// The rustls consistency error.
        #[source]
        source: rustls::Error,
    },
    /// A certificate failed verification against the cluster CA, or rustls rejected the CA.
    #[error("certificate verification: {0}")]
    Verify(#[from] rustls::Error),
    /// The certificate verifier could not be built from the CA.
    #[error("building a certificate verifier from the CA: {0}")]
    Verifier(#[from] VerifierBuilderError),
    /// rcgen's distinguished names hold one value per attribute type, so a subject can carry at
    /// most two organizations (`O` and a second `O` written under its raw OID).
    #[error("a client certificate can carry at most 2 organizations, got {0}")]
    TooManyOrganizations(usize),
    /// A DNS name for the serving certificate is not a valid host name.
    #[error("invalid DNS name {0:?} for the serving certificate")]
    InvalidDnsName(String),
    /// The serving certificate would have no subject alternative names.
    #[error("no serving names (IP addresses or DNS names) for the serving certificate")]
    NoServingNames,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

/// The IP addresses and DNS names the API server's certificate is valid for.
///
/// Kept sorted and de-duplicated, so two sets gathered in a different order compare equal and
/// produce the same [`manifest`](Self::manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServingNames {
    ips: BTreeSet<IpAddr>,
    dns_names: BTreeSet<String>,
}

impl ServingNames {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults with the cluster domain `cluster.local`; see [`Self::gather_with_domain`].
    pub fn gather(service_ip: IpAddr) -> Self {
        Self::gather_with_domain(service_ip, DEFAULT_CLUSTER_DOMAIN)
    }

    /// The default names: `127.0.0.1`, `::1`, `localhost`, this machine's hostname, every local
    /// interface address (from `/proc/net`), `service_ip` (the first address of the service
    /// CIDR, where the `kubernetes` Service points) and `kubernetes`, `kubernetes.default`,
    /// `kubernetes.default.svc`, `kubernetes.default.svc.<cluster_domain>`.
    pub fn gather_with_domain(service_ip: IpAddr, cluster_domain: &str) -> Self {
        let mut names = Self::new();
        names.add_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        names.add_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        names.add_ip(service_ip);
        for ip in local_addresses() {
            names.add_ip(ip);
        }
        let domain = cluster_domain.trim_matches('.');
        let mut dns = vec![
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
        ];
        if !domain.is_empty() {
            dns.push(format!("kubernetes.default.svc.{domain}"));
        }
        if let Some(host) = hostname() {
            dns.push(host);
        }
        for name in dns {
            // Only an odd hostname or cluster domain can be invalid; leave it out.
            if let Err(err) = names.add_dns_name(&name) {
                tracing::warn!(%err, "skipping serving name");
            }
        }
        names
    }

    /// Adds an IP address.
    pub fn add_ip(&mut self, ip: IpAddr) -> &mut Self {
        // An IPv4-mapped IPv6 address means the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.ips.insert(ip);
        self
    }

    /// Adds a DNS name (lower-cased, without a trailing dot). A leading `*.` label is allowed.
    pub fn add_dns_name(&mut self, name: &str) -> Result<&mut Self, PkiError> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_valid_dns_name(&name) {
            return Err(PkiError::InvalidDnsName(name));
        }
        self.dns_names.insert(name);
        Ok(self)
    }

    /// The IP addresses, sorted.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ips.iter().copied()
    }

    /// The DNS names, sorted.
    pub fn dns_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.dns_names.iter().map(String::as_str)
    }

    /// Whether there is no name at all.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.dns_names.is_empty()
    }

    /// The canonical text stored in `serving.sans`: `DNS:name` lines then `IP:addr` lines,
    /// each sorted, each ending in a newline.
    pub fn manifest(&self) -> String {
        let mut out = String::new();
        for name in &self.dns_names {
            out.push_str("DNS:");
            out.push_str(name);
            out.push('\n');
        }
        for ip in &self.ips {
            out.push_str(&format!("IP:{ip}\n"));
        }
        out
    }

    fn subject_alt_names(&self) -> Result<Vec<SanType>, PkiError> {
        let mut sans = Vec::with_capacity(self.ips.len() + self.dns_names.len());
        for name in &self.dns_names {
            let ia5 = name
                .as_str()
                .try_into()
                .map_err(|_| PkiError::InvalidDnsName(name.clone()))?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(self.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        Ok(sans)
    }

    /// A name to check the serving certificate with: the first DNS name, else the first IP.
    fn probe_name(&self) -> Option<ServerName<'static>> {
        if let Some(name) = self.dns_names.iter().find(|n| !n.starts_with('*')) {
            return ServerName::try_from(name.clone()).ok();
        }
        self.ips.iter().next().map(|ip| ServerName::from(*ip))
    }
}

fn is_valid_dns_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The first usable address of a CIDR (`10.43.0.0/16` gives `10.43.0.1`): where the
/// `kubernetes` Service lives. For a dual-stack list (`a/16,b/112`) the first entry is used.
pub fn first_service_ip(cidr: &str) -> Option<IpAddr> {
    let first = cidr.split(',').next()?.trim();
    let (addr, prefix) = first.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    match addr {
        IpAddr::V4(v4) if prefix < 32 => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            let net = u32::from(v4) & mask;
            Some(IpAddr::V4(Ipv4Addr::from(net.checked_add(1)?)))
        }
        IpAddr::V6(v6) if prefix < 128 => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            let net = u128::from(v6) & mask;
            Some(IpAddr::V6(Ipv6Addr::from(net.checked_add(1)?)))
        }
        _ => None,
    }
}

/// This machine's host name (lower-cased), from `/proc/sys/kernel/hostname` or `/etc/hostname`.
pub fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .find(|s| !s.is_empty())
}

/// This machine's main IPv4 address: the address of the interface the default route uses
/// (read with `ip`), else the first non-loopback IPv4 address, else 127.0.0.1. Bridges that
/// pods or tests created never win over the uplink.
pub fn primary_ipv4() -> std::net::Ipv4Addr {
    let run = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let route = run(&["-o", "-4", "route", "show", "default"]);
    let dev = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .map(str::to_string);
    if let Some(dev) = dev {
        let addrs = run(&["-o", "-4", "addr", "show", "dev", &dev]);
        let found = addrs
            .split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next())
            .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok());
        if let Some(ip) = found {
            return ip;
        }
    }
    local_addresses()
        .into_iter()
        .find_map(|ip| match ip {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST)
}

/// The addresses of this machine's interfaces: IPv4 from `/proc/net/fib_trie` (the `/32 host
/// LOCAL` entries), IPv6 from `/proc/net/if_inet6` (link-local addresses left out). Missing or
/// unreadable files give no addresses.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = BTreeSet::new();
    if let Ok(text) = fs::read_to_string("/proc/net/fib_trie") {
        out.extend(parse_fib_trie(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = fs::read_to_string("/proc/net/if_inet6") {
        out.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    out.into_iter().collect()
}

/// Local IPv4 addresses in the text of `/proc/net/fib_trie`: a leaf line `|-- a.b.c.d` followed
/// by a `/32 host LOCAL` line.
fn parse_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|--") {
            last = addr.trim().parse().ok();
        } else if line.starts_with("/32") && line.split_whitespace().any(|w| w == "LOCAL") {
            if let Some(ip) = last
                && !out.contains(&ip)
            {
                out.push(ip);
            }
        } else if line.starts_with("+--") {
            last = None;
        }
    }
    out
}

/// Non-link-local IPv6 addresses in the text of `/proc/net/if_inet6`
/// (`address ifindex prefixlen scope flags name`).
fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    const SCOPE_LINK: u32 = 0x20;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(hex), Some(_), Some(_), Some(scope)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(bits), Ok(scope)) = (
            u128::from_str_radix(hex, 16),
            u32::from_str_radix(scope, 16),
        ) else {
            continue;
        };
        if hex.len() != 32 || scope & 0xf0 == SCOPE_LINK {
            continue;
        }
        let ip = Ipv6Addr::from(bits);
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// A PEM certificate and its PEM (PKCS#8) private key.
#[derive(Clone)]
struct CertAndKey {
    cert_pem: String,
    key_pem: String,
}

/// The cluster's CA and the certificates the server itself needs.
pub struct ClusterPki {
    dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
    ca_cert_pem: String,
    ca_cert_der: CertificateDer<'static>,
    serving: CertAndKey,
    serving_cert_der: CertificateDer<'static>,
    admin: CertAndKey,
}

impl fmt::Debug for ClusterPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ClusterPki {
    /// Loads the PKI from `dir` (`<data-dir>/server/tls`), creating whatever is missing: see the
    /// module documentation for what is reused and what is re-issued.
    pub fn load_or_create(dir: &Path, serving_names: &ServingNames) -> Result<Self, PkiError> {
        if serving_names.is_empty() {
            return Err(PkiError::NoServingNames);
        }
        create_private_dir(dir)?;
        let provider = ring_provider();

        let (ca, ca_cert_pem, ca_cert_der, ca_is_new) = load_or_create_ca(dir, &provider)?;
        let mut roots = RootCertStore::empty();
        roots.add(ca_cert_der.clone())?;
        let roots = Arc::new(roots);
        let renew_at = renewal_time();

        let mut pki = Self {
            dir: dir.to_path_buf(),
            ca,
            ca_cert_pem,
            ca_cert_der,
            serving: CertAndKey {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
            serving_cert_der: CertificateDer::from(Vec::new()),
            admin: CertAndKey {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
        };

        // Admin client certificate.
        let admin_cert_path = dir.join(ADMIN_CERT_FILE);
        let admin_key_path = dir.join(ADMIN_KEY_FILE);
        let stored_admin = if ca_is_new {
            None
        } else {
            read_pair(&admin_cert_path, &admin_key_path)?
        };
        let reusable_admin = stored_admin.filter(|pair| {
            let ok = client_pair_usable(pair, &roots, &provider, renew_at, ADMIN_USER, ADMIN_GROUP);
            if !ok {
                tracing::info!("admin certificate is invalid, expiring or from another CA");
            }
            ok
        });
        pki.admin = match reusable_admin {
            Some(pair) => pair,
            None => {
                tracing::info!(dir = %dir.display(), "issuing the admin client certificate");
                let (cert_pem, key_pem) = pki.issue_client_cert(ADMIN_USER, &[ADMIN_GROUP])?;
                write_file(&admin_key_path, key_pem.as_bytes(), 0o600)?;
                write_file(&admin_cert_path, cert_pem.as_bytes(), 0o644)?;
                CertAndKey { cert_pem, key_pem }
            }
        };

        // Serving certificate.
        let serving_cert_path = dir.join(SERVING_CERT_FILE);
        let serving_key_path = dir.join(SERVING_KEY_FILE);
        let sans_path = dir.join(SERVING_SANS_FILE);
        let manifest = serving_names.manifest();
        let stored_serving = if ca_is_new {
            None
        } else {
            match fs::read_to_string(&sans_path) {
                Ok(stored) if stored == manifest => {
                    read_pair(&serving_cert_path, &serving_key_path)?
                }
                Ok(_) => {
                    tracing::info!("serving names changed");
                    None
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(PkiError::Io {
                        op: "read",
                        path: sans_path,
                        source,
                    });
                }
            }
        };
        let probe = serving_names.probe_name().ok_or(PkiError::NoServingNames)?;
        let reusable_serving = stored_serving.filter(|pair| {
            let ok = serving_pair_usable(pair, &roots, &provider, renew_at, &probe);
            if !ok {
                tracing::info!("serving certificate is invalid, expiring or from another CA");
            }
            ok
        });
        pki.serving = match reusable_serving {
            Some(pair) => pair,
            None => {
                tracing::info!(dir = %dir.display(), "issuing the serving certificate");
                let pair = pki.issue_serving_cert(serving_names)?;
                let der = parse_cert(&pair.cert_pem, &serving_cert_path)?;
                server_verifier(&roots, &provider)?.verify_server_cert(
                    &der,
                    &[],
                    &probe,
                    &[],
                    UnixTime::now(),
                )?;
                write_file(&serving_key_path, pair.key_pem.as_bytes(), 0o600)?;
                write_file(&serving_cert_path, pair.cert_pem.as_bytes(), 0o644)?;
                // Written last: a crash before this leaves a stale manifest and a re-issue.
                write_file(&sans_path, manifest.as_bytes(), 0o644)?;
                pair
            }
        };
        pki.serving_cert_der = parse_cert(&pki.serving.cert_pem, &serving_cert_path)?;
        Ok(pki)
    }

    /// Issues a new client certificate signed by the cluster CA: subject CN `common_name` (the
    /// Kubernetes user) and O `organizations` (its groups, at most two), extended key usage
    /// client authentication, valid for [`LEAF_VALIDITY`]. Returns `(cert_pem, key_pem)`; nothing
    /// is written to disk.
    pub fn issue_client_cert(
        &self,
        common_name: &str,
        organizations: &[&str],
    ) -> Result<(String, String), PkiError> {
        if organizations.len() > 2 {
            return Err(PkiError::TooManyOrganizations(organizations.len()));
        }
        let mut dn = DistinguishedName::new();
        for (i, org) in organizations.iter().enumerate() {
            let ty = if i == 0 {
                DnType::OrganizationName
            } else {
                DnType::CustomDnType(vec![2, 5, 4, 10])
            };
            dn.push(ty, DnValue::Utf8String((*org).to_string()));
        }
        dn.push(
            DnType::CommonName,
            DnValue::Utf8String(common_name.to_string()),
        );
        let pair = self.issue_leaf(dn, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)?;
        Ok((pair.cert_pem, pair.key_pem))
    }

    /// Issues a kubelet serving certificate (as upstream's kubelet-serving signer does): CN
    /// `system:node:<node>`, O `system:nodes`, server authentication, valid for the node's
    /// name and addresses. Returns `(cert_pem, key_pem)`; nothing is written to disk.
    pub fn issue_kubelet_serving_cert(
        &self,
        node_name: &str,
        ips: &[IpAddr],
    ) -> Result<(String, String), PkiError> {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::OrganizationName,
            DnValue::Utf8String("system:nodes".to_string()),
        );
        dn.push(
            DnType::CommonName,
            DnValue::Utf8String(format!("system:node:{node_name}")),
        );
        let mut names = ServingNames::new();
        for ip in ips {
            names.add_ip(*ip);
        }
        if names.add_dns_name(node_name).is_err() {
            tracing::debug!(
                node = node_name,
                "node name is not a DNS name; left out of the kubelet certificate"
            );
        }
        let pair = self.issue_leaf(
            dn,
            names.subject_alt_names()?,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        Ok((pair.cert_pem, pair.key_pem))
    }

    /// Signs `params` for `public_key` with the cluster CA (for certificate signing requests).
    pub fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl rcgen::PublicKeyData,
    ) -> Result<rcgen::Certificate, PkiError> {
        Ok(params.signed_by(public_key, &self.ca)?)
    }

    fn issue_serving_cert(&self, names: &ServingNames) -> Result<CertAndKey, PkiError> {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            DnValue::Utf8String(SERVING_COMMON_NAME.to_string()),
        );
        self.issue_leaf(
            dn,
            names.subject_alt_names()?,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn issue_leaf(
        &self,
        dn: DistinguishedName,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<CertAndKey, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.serial_number = Some(random_serial()?);
        let now = SystemTime::now();
        params.not_before = now.checked_sub(CLOCK_SKEW).unwrap_or(now).into();
        params.not_after = now.checked_add(LEAF_VALIDITY).unwrap_or(now).into();
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.ca_cert_der
    }

    /// A root store holding only the cluster CA.
    pub fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        // The CA was accepted by a RootCertStore when loading, so this cannot fail.
        let _ = roots.add(self.ca_cert_der.clone());
        roots
    }

    /// The serving certificate, PEM.
    pub fn serving_cert_pem(&self) -> &str {
        &self.serving.cert_pem
    }

    /// The serving key, PEM (PKCS#8).
    pub fn serving_key_pem(&self) -> &str {
        &self.serving.key_pem
    }

    /// The serving certificate chain (the leaf only), DER.
    pub fn serving_cert_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.serving_cert_der.clone()]
    }

    /// The serving key, DER.
    pub fn serving_key_der(&self) -> Result<PrivateKeyDer<'static>, PkiError> {
        parse_key(&self.serving.key_pem, &self.dir.join(SERVING_KEY_FILE))
    }

    /// The admin client certificate, PEM.
    pub fn admin_cert_pem(&self) -> &str {
        &self.admin.cert_pem
    }

    /// The admin client key, PEM (PKCS#8).
    pub fn admin_key_pem(&self) -> &str {
        &self.admin.key_pem
    }
}

/// The ring crypto provider (never aws-lc-rs: mixing providers panics at runtime).
pub(crate) fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The time at which a reused leaf certificate must still be valid.
fn renewal_time() -> UnixTime {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime::since_unix_epoch(now.saturating_add(RENEW_BEFORE))
}

fn ca_params(distinguished_name: DistinguishedName) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

type LoadedCa = (
    Issuer<'static, KeyPair>,
    String,
    CertificateDer<'static>,
    bool,
);

fn load_or_create_ca(dir: &Path, provider: &CryptoProvider) -> Result<LoadedCa, PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    let cert_pem = read_optional(&cert_path)?;
    let key_pem = read_optional(&key_path)?;
    match (cert_pem, key_pem) {
        (Some(cert_pem), Some(key_pem)) => {
            let cert_der = parse_cert(&cert_pem, &cert_path)?;
            let key_der = parse_key(&key_pem, &key_path)?;
            CertifiedKey::from_der(vec![cert_der.clone()], key_der, provider).map_err(
                |source| PkiError::CaKeyMismatch {
                    key: key_path.clone(),
                    cert: cert_path.clone(),
                    source,
                },
            )?;
            let key = KeyPair::from_pem(&key_pem)?;
            let dn = ca_distinguished_name(&cert_der).map_err(|reason| PkiError::CaSubject {
                path: cert_path.clone(),
                reason,
            })?;
            let issuer = Issuer::new(ca_params(dn), key);
            Ok((issuer, cert_pem, cert_der, false))
        }
        (None, None) => {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let mut dn = DistinguishedName::new();
            dn.push(
                DnType::CommonName,
                DnValue::Utf8String(format!("krust-server-ca@{unix}")),
            );
            let mut params = ca_params(dn);
            params.serial_number = Some(random_serial()?);
            let now = SystemTime::now();
            params.not_before = now.checked_sub(CLOCK_SKEW).unwrap_or(now).into();
            params.not_after = now.checked_add(CA_VALIDITY).unwrap_or(now).into();
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let cert = params.self_signed(&key)?;
            let cert_pem = cert.pem();
            tracing::info!(dir = %dir.display(), "created a new cluster CA");
            write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            write_file(&cert_path, cert_pem.as_bytes(), 0o644)?;
            let issuer = Issuer::new(params, key);
            Ok((issuer, cert_pem, cert.der().clone(), true))
        }
        (Some(_), None) => Err(PkiError::IncompleteCa {
            present: cert_path,
            missing: key_path,
        }),
        (None, Some(_)) => Err(PkiError::IncompleteCa {
            present: key_path,
            missing: cert_path,
        }),
    }
}

/// Rebuilds rcgen's view of the CA's subject name from its certificate, so that certificates
/// signed now carry an issuer name byte-identical to the stored CA's subject.
fn ca_distinguished_name(cert_der: &[u8]) -> Result<DistinguishedName, &'static str> {
    use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString};

    let rdns = der::certificate_subject(cert_der).ok_or("malformed certificate")?;
    let mut dn = DistinguishedName::new();
    let mut seen = HashSet::new();
    for rdn in rdns {
        let [attr] = rdn.as_slice() else {
            return Err("multi-valued relative distinguished name");
        };
        let oid = der::oid_components(attr.oid).ok_or("malformed attribute type")?;
        let ty = DnType::from_oid(&oid);
        if !seen.insert(ty.clone()) {
            return Err("repeated attribute type");
        }
        let text = || std::str::from_utf8(attr.value).map_err(|_| "attribute value is not UTF-8");
        let value = match attr.tag {
            der::UTF8_STRING => DnValue::Utf8String(text()?.to_string()),
            der::PRINTABLE_STRING => DnValue::PrintableString(
                PrintableString::try_from(text()?).map_err(|_| "bad PrintableString")?,
            ),
            der::IA5_STRING => {
                DnValue::Ia5String(Ia5String::try_from(text()?).map_err(|_| "bad IA5String")?)
            }
            der::TELETEX_STRING => DnValue::TeletexString(
                TeletexString::try_from(text()?).map_err(|_| "bad TeletexString")?,
            ),
            der::BMP_STRING => DnValue::BmpString(
                BmpString::from_utf16be(attr.value.to_vec()).map_err(|_| "bad BMPString")?,
            ),
            der::UNIVERSAL_STRING => DnValue::UniversalString(
                UniversalString::from_utf32be(attr.value.to_vec())
                    .map_err(|_| "bad UniversalString")?,
            ),
            _ => return Err("unsupported attribute value type"),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Random)?;
    // Positive, and never shorter than 16 bytes once encoded.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn client_pair_usable(
    pair: &CertAndKey,
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    at: UnixTime,
    user: &str,
    group: &str,
) -> bool {
    let check = || -> Option<()> {
        let cert = CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).ok()?;
        let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).ok()?;
        CertifiedKey::from_der(vec![cert.clone()], key, provider).ok()?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .ok()?;
        verifier.verify_client_cert(&cert, &[], at).ok()?;
        let (cn, orgs) = der::common_name_and_organizations(&cert)?;
        (cn == user && orgs == [group]).then_some(())
    };
    check().is_some()
}

fn serving_pair_usable(
    pair: &CertAndKey,
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    at: UnixTime,
    probe: &ServerName<'_>,
) -> bool {
    let check = || -> Option<()> {
        let cert = CertificateDer::from_pem_slice(pair.cert_pem.as_bytes()).ok()?;
        let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).ok()?;
        CertifiedKey::from_der(vec![cert.clone()], key, provider).ok()?;
        server_verifier(roots, provider)
            .ok()?
            .verify_server_cert(&cert, &[], probe, &[], at)
            .ok()?;
        Some(())
    };
    check().is_some()
}

fn server_verifier(
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, PkiError> {
    Ok(WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?)
}

fn parse_cert(pem: &str, path: &Path) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|source| PkiError::Pem {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_key(pem: &str, path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| PkiError::Pem {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads a certificate and key pair, `None` if either file is missing.
fn read_pair(cert_path: &Path, key_path: &Path) -> Result<Option<CertAndKey>, PkiError> {
    Ok(
        match (read_optional(cert_path)?, read_optional(key_path)?) {
            (Some(cert_pem), Some(key_pem)) => Some(CertAndKey { cert_pem, key_pem }),
            _ => None,
        },
    )
}

fn create_private_dir(dir: &Path) -> Result<(), PkiError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| PkiError::Io {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        })
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    write_atomically(path, contents, mode).map_err(|source| PkiError::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Replaces `path` with `contents` atomically: writes `<path>.tmp` with `mode`, syncs it and
/// renames it over `path`. The parent directory must exist.
pub(crate) fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // `mode` only applies to a new file and is subject to the umask.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A minimal, panic-free DER reader: just enough of X.509 to read a certificate's subject name.
pub mod der {
    /// Tag of a SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// Tag of a SET.
    pub const SET: u8 = 0x31;
    /// Tag of an INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// Tag of an OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// Tag of the explicit `[0]` version field of a tbsCertificate.
    pub const CONTEXT_0: u8 = 0xa0;
    /// UTF8String.
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString.
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// TeletexString (T61String).
    pub const TELETEX_STRING: u8 = 0x14;
    /// IA5String.
    pub const IA5_STRING: u8 = 0x16;
    /// UniversalString (UTF-32BE).
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    /// BMPString (UTF-16BE).
    pub const BMP_STRING: u8 = 0x1e;

    /// The encoded OID 2.5.4.3, commonName.
    pub const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    /// The encoded OID 2.5.4.10, organizationName.
    pub const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

    /// One AttributeTypeAndValue of a name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct NameAttribute<'a> {
        /// The attribute type: the content octets of its OBJECT IDENTIFIER.
        pub oid: &'a [u8],
        /// The tag of the value (one of the string tags, normally).
        pub tag: u8,
        /// The content octets of the value.
        pub value: &'a [u8],
    }

    impl NameAttribute<'_> {
        /// The value as text, for the string types X.509 names use.
        pub fn text(&self) -> Option<String> {
            match self.tag {
                UTF8_STRING | PRINTABLE_STRING | IA5_STRING | TELETEX_STRING => {
                    std::str::from_utf8(self.value).ok().map(str::to_string)
                }
                BMP_STRING => {
                    if !self.value.len().is_multiple_of(2) {
                        return None;
                    }
                    let units = self
                        .value
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]));
                    char::decode_utf16(units)
                        .collect::<Result<String, _>>()
                        .ok()
                }
                UNIVERSAL_STRING => {
                    if !self.value.len().is_multiple_of(4) {
                        return None;
                    }
                    self.value
                        .chunks_exact(4)
                        .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                        .collect()
                }
                _ => None,
            }
        }
    }

    /// Splits one TLV off `input`: `(tag, content, rest)`. Only definite lengths of up to four
    /// octets and single-octet tags are accepted.
    pub fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let (len_bytes, rest) = rest.split_at_checked(n)?;
            let len = len_bytes
                .iter()
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            (usize::try_from(len).ok()?, rest)
        };
        let (content, rest) = rest.split_at_checked(len)?;
        Some((tag, content, rest))
    }

    /// Splits one TLV with the given tag off `input`: `(content, rest)`.
    pub fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (found, content, rest) = read_tlv(input)?;
        (found == tag).then_some((content, rest))
    }

    /// The subject of a DER certificate as its relative distinguished names, each a list of
    /// attributes (almost always one). `None` if the certificate is malformed.
    pub fn certificate_subject(cert: &[u8]) -> Option<Vec<Vec<NameAttribute<'_>>>> {
        let (certificate, _) = expect(cert, SEQUENCE)?;
        let (tbs, _) = expect(certificate, SEQUENCE)?;
        let mut rest = tbs;
        if rest.first() == Some(&CONTEXT_0) {
            rest = read_tlv(rest)?.2;
        }
        let (_serial, rest) = expect(rest, INTEGER)?;
        let (_signature, rest) = expect(rest, SEQUENCE)?;
        let (_issuer, rest) = expect(rest, SEQUENCE)?;
        let (_validity, rest) = expect(rest, SEQUENCE)?;
        let (subject, _) = expect(rest, SEQUENCE)?;
        parse_name(subject)
    }

    /// The content of a Name (RDNSequence) as relative distinguished names.
    pub fn parse_name(mut name: &[u8]) -> Option<Vec<Vec<NameAttribute<'_>>>> {
        let mut rdns = Vec::new();
        while !name.is_empty() {
            let (mut set, rest) = expect(name, SET)?;
            name = rest;
            let mut attributes = Vec::new();
            while !set.is_empty() {
                let (atv, rest) = expect(set, SEQUENCE)?;
                set = rest;
                let (oid, value) = expect(atv, OID)?;
                let (tag, value, trailing) = read_tlv(value)?;
                if !trailing.is_empty() {
                    return None;
                }
                attributes.push(NameAttribute { oid, tag, value });
            }
            if attributes.is_empty() {
                return None;
            }
            rdns.push(attributes);
        }
        Some(rdns)
    }

    /// The subject common name and organizations of a DER certificate: `None` if it is
    /// malformed or has no readable common name.
    pub fn common_name_and_organizations(cert: &[u8]) -> Option<(String, Vec<String>)> {
        let rdns = certificate_subject(cert)?;
        let mut common_name = None;
        let mut organizations = Vec::new();
        for attr in rdns.iter().flatten() {
            if attr.oid == OID_COMMON_NAME {
                // The last CN is the most specific, as Go's pkix reads it.
                common_name = Some(attr.text()?);
            } else if attr.oid == OID_ORGANIZATION {
                organizations.push(attr.text()?);
            }
        }
        Some((common_name?, organizations))
    }

    /// The arcs of an encoded OBJECT IDENTIFIER (its content octets).
    pub fn oid_components(content: &[u8]) -> Option<Vec<u64>> {
        let mut arcs = Vec::new();
        let mut value: u64 = 0;
        let mut in_progress = false;
        for &byte in content {
            if !in_progress && byte == 0x80 {
                // Non-minimal encoding.
                return None;
            }
            if value > (u64::MAX >> 7) {
                return None;
            }
            value = (value << 7) | u64::from(byte & 0x7f);
            in_progress = byte & 0x80 != 0;
            if !in_progress {
                if arcs.is_empty() {
                    let first = (value / 40).min(2);
                    arcs.push(first);
                    arcs.push(value - first * 40);
                } else {
                    arcs.push(value);
                }
                value = 0;
            }
        }
        if in_progress || arcs.is_empty() {
            return None;
        }
        Some(arcs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use rustls::server::danger::ClientCertVerifier;

    use super::*;

    fn names() -> ServingNames {
        ServingNames::gather(first_service_ip("10.43.0.0/16").unwrap())
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn client_verifier(ca_der: &CertificateDer<'static>) -> Arc<dyn ClientCertVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(ca_der.clone()).unwrap();
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), ring_provider())
            .build()
            .unwrap()
    }

    fn server_verifier_for(ca_der: &CertificateDer<'static>) -> Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(ca_der.clone()).unwrap();
        server_verifier(&Arc::new(roots), &ring_provider()).unwrap()
    }

    #[test]
    fn first_service_ip_of_cidrs() {
        assert_eq!(
            first_service_ip("10.43.0.0/16"),
            Some("10.43.0.1".parse().unwrap())
        );
        assert_eq!(
            first_service_ip("10.43.7.9/16"),
            Some("10.43.0.1".parse().unwrap())
        );
        assert_eq!(
            first_service_ip("fd00:43::/112,10.0.0.0/8"),
            Some("fd00:43::1".parse().unwrap())
        );
        assert_eq!(first_service_ip("10.0.0.0/32"), None);
        assert_eq!(first_service_ip("10.0.0.0/33"), None);
        assert_eq!(first_service_ip("nonsense"), None);
        assert_eq!(
            first_service_ip("0.0.0.0/0"),
            Some("0.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn fib_trie_and_if_inet6_parsing() {
        let fib = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.20
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 127.0.0.1
              /32 host LOCAL
";
        assert_eq!(
            parse_fib_trie(fib),
            vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 168, 1, 20)]
        );
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000002155dfffe010203 02 40 20 80     eth0
20010db8000000000000000000000042 02 40 00 00     eth0
garbage
";
        assert_eq!(
            parse_if_inet6(inet6),
            vec![
                Ipv6Addr::LOCALHOST,
                "2001:db8::42".parse::<Ipv6Addr>().unwrap()
            ]
        );
    }

    #[test]
    fn serving_names_defaults() {
        let n = names();
        let ips: Vec<IpAddr> = n.ips().collect();
        assert!(ips.contains(&"127.0.0.1".parse().unwrap()));
        assert!(ips.contains(&"::1".parse().unwrap()));
        assert!(ips.contains(&"10.43.0.1".parse().unwrap()));
        let dns: Vec<&str> = n.dns_names().collect();
        for want in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ] {
            assert!(dns.contains(&want), "{want} missing from {dns:?}");
        }
        if let Some(host) = hostname()
            && is_valid_dns_name(&host)
        {
            assert!(dns.contains(&host.as_str()));
        }
        let manifest = n.manifest();
        assert!(manifest.contains("DNS:kubernetes\n"));
        assert!(manifest.contains("IP:10.43.0.1\n"));

        let mut other = ServingNames::new();
        assert!(other.add_dns_name("bad name").is_err());
        assert!(other.add_dns_name("-bad").is_err());
        other.add_dns_name("Example.COM.").unwrap();
        other.add_dns_name("*.example.com").unwrap();
        other.add_ip("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(
            other.manifest(),
            "DNS:*.example.com\nDNS:example.com\nIP:10.0.0.1\n"
        );
    }

    #[test]
    fn creates_files_and_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("server/tls");
        let pki = ClusterPki::load_or_create(&dir, &names()).unwrap();
        for file in [CA_KEY_FILE, SERVING_KEY_FILE, ADMIN_KEY_FILE] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        for file in [
            CA_CERT_FILE,
            SERVING_CERT_FILE,
            ADMIN_CERT_FILE,
            SERVING_SANS_FILE,
        ] {
            assert!(dir.join(file).exists(), "{file}");
        }
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(
            fs::read_to_string(dir.join(SERVING_SANS_FILE)).unwrap(),
            names().manifest()
        );

        // CA subject.
        let (cn, orgs) = der::common_name_and_organizations(pki.ca_cert_der()).unwrap();
        assert!(cn.starts_with("krust-server-ca@"), "{cn}");
        assert!(orgs.is_empty());

        // Admin identity and chain.
        let admin = CertificateDer::from_pem_slice(pki.admin_cert_pem().as_bytes()).unwrap();
        assert_eq!(
            der::common_name_and_organizations(&admin).unwrap(),
            (ADMIN_USER.to_string(), vec![ADMIN_GROUP.to_string()])
        );
        client_verifier(pki.ca_cert_der())
            .verify_client_cert(&admin, &[], UnixTime::now())
            .unwrap();

        // Serving certificate for each kind of name.
        let verifier = server_verifier_for(pki.ca_cert_der());
        for name in [
            "localhost",
            "kubernetes.default.svc",
            "127.0.0.1",
            "::1",
            "10.43.0.1",
        ] {
            let name = ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(
                    &pki.serving_cert_chain()[0],
                    &[],
                    &name,
                    &[],
                    UnixTime::now(),
                )
                .unwrap();
        }
        let wrong = ServerName::try_from("example.com").unwrap();
        assert!(
            verifier
                .verify_server_cert(
                    &pki.serving_cert_chain()[0],
                    &[],
                    &wrong,
                    &[],
                    UnixTime::now()
                )
                .is_err()
        );
        pki.serving_key_der().unwrap();
    }

    #[test]
    fn restart_reuses_ca_admin_and_serving() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let first = ClusterPki::load_or_create(dir, &names()).unwrap();
        let second = ClusterPki::load_or_create(dir, &names()).unwrap();
        assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
        assert_eq!(first.admin_cert_pem(), second.admin_cert_pem());
        assert_eq!(first.admin_key_pem(), second.admin_key_pem());
        assert_eq!(first.serving_cert_pem(), second.serving_cert_pem());
        assert_eq!(first.serving_key_pem(), second.serving_key_pem());
    }

    #[test]
    fn changed_names_reissue_serving_with_the_same_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let first = ClusterPki::load_or_create(dir, &names()).unwrap();
        let mut more = names();
        more.add_dns_name("api.example.com").unwrap();
        more.add_ip("192.0.2.7".parse().unwrap());
        let second = ClusterPki::load_or_create(dir, &more).unwrap();
        assert_eq!(first.ca_cert_pem(), second.ca_cert_pem());
        assert_eq!(first.admin_cert_pem(), second.admin_cert_pem());
        assert_ne!(first.serving_cert_pem(), second.serving_cert_pem());
        assert_eq!(
            fs::read_to_string(dir.join(SERVING_SANS_FILE)).unwrap(),
            more.manifest()
        );

        // The re-issued leaf, signed by the rebuilt issuer, chains to the stored CA.
        let verifier = server_verifier_for(first.ca_cert_der());
        for name in ["api.example.com", "192.0.2.7", "kubernetes"] {
            verifier
                .verify_server_cert(
                    &second.serving_cert_chain()[0],
                    &[],
                    &ServerName::try_from(name).unwrap(),
                    &[],
                    UnixTime::now(),
                )
                .unwrap();
        }
    }

    #[test]
    fn client_certs_from_a_reloaded_ca_chain_to_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let first = ClusterPki::load_or_create(dir, &names()).unwrap();
        let reloaded = ClusterPki::load_or_create(dir, &names()).unwrap();
        let (cert_pem, key_pem) = reloaded
            .issue_client_cert("system:node:n1", &["system:nodes", "extra"])
            .unwrap();
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        client_verifier(first.ca_cert_der())
            .verify_client_cert(&cert, &[], UnixTime::now())
            .unwrap();
        assert_eq!(
            der::common_name_and_organizations(&cert).unwrap(),
            (
                "system:node:n1".to_string(),
                vec!["system:nodes".to_string(), "extra".to_string()]
            )
        );
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        CertifiedKey::from_der(vec![cert], key, &ring_provider()).unwrap();
        assert!(matches!(
            reloaded.issue_client_cert("u", &["a", "b", "c"]),
            Err(PkiError::TooManyOrganizations(3))
        ));
    }

    #[test]
    fn missing_or_foreign_leaves_are_reissued() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let first = ClusterPki::load_or_create(dir, &names()).unwrap();

        fs::remove_file(dir.join(SERVING_KEY_FILE)).unwrap();
        let second = ClusterPki::load_or_create(dir, &names()).unwrap();
        assert_ne!(first.serving_cert_pem(), second.serving_cert_pem());
        assert_eq!(first.admin_cert_pem(), second.admin_cert_pem());

        // An admin certificate from another CA is replaced.
        let other = tempfile::tempdir().unwrap();
        let foreign = ClusterPki::load_or_create(other.path(), &names()).unwrap();
        fs::write(dir.join(ADMIN_CERT_FILE), foreign.admin_cert_pem()).unwrap();
        fs::write(dir.join(ADMIN_KEY_FILE), foreign.admin_key_pem()).unwrap();
        let third = ClusterPki::load_or_create(dir, &names()).unwrap();
        assert_ne!(third.admin_cert_pem(), foreign.admin_cert_pem());
        assert_eq!(third.ca_cert_pem(), first.ca_cert_pem());
        let admin = CertificateDer::from_pem_slice(third.admin_cert_pem().as_bytes()).unwrap();
        client_verifier(first.ca_cert_der())
            .verify_client_cert(&admin, &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn broken_ca_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        ClusterPki::load_or_create(dir, &names()).unwrap();
        let ca_key = fs::read_to_string(dir.join(CA_KEY_FILE)).unwrap();

        fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
        assert!(matches!(
            ClusterPki::load_or_create(dir, &names()),
            Err(PkiError::IncompleteCa { .. })
        ));

        // A key that is not the CA's.
        let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        fs::write(dir.join(CA_KEY_FILE), other.serialize_pem()).unwrap();
        assert!(matches!(
            ClusterPki::load_or_create(dir, &names()),
            Err(PkiError::CaKeyMismatch { .. })
        ));

        fs::write(dir.join(CA_KEY_FILE), ca_key).unwrap();
        fs::write(dir.join(CA_CERT_FILE), "not pem").unwrap();
        assert!(matches!(
            ClusterPki::load_or_create(dir, &names()),
            Err(PkiError::Pem { .. })
        ));

        assert!(matches!(
            ClusterPki::load_or_create(dir, &ServingNames::new()),
            Err(PkiError::NoServingNames)
        ));
    }

    #[test]
    fn user_supplied_ca_with_a_richer_subject() {
        // A CA made elsewhere, with several attributes and a PrintableString value.
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CountryName,
            DnValue::PrintableString("DE".try_into().unwrap()),
        );
        dn.push(DnType::OrganizationName, "Example Org");
        dn.push(DnType::CommonName, "Example Root CA");
        let ca = ca_params(dn).self_signed(&key).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join(CA_CERT_FILE), ca.pem()).unwrap();
        fs::write(dir.join(CA_KEY_FILE), key.serialize_pem()).unwrap();

        let pki = ClusterPki::load_or_create(dir, &names()).unwrap();
        assert_eq!(pki.ca_cert_pem(), ca.pem());
        let admin = CertificateDer::from_pem_slice(pki.admin_cert_pem().as_bytes()).unwrap();
        client_verifier(ca.der())
            .verify_client_cert(&admin, &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn oid_decoding() {
        assert_eq!(
            der::oid_components(der::OID_COMMON_NAME),
            Some(vec![2, 5, 4, 3])
        );
        // 1.2.840.10045.2.1 (id-ecPublicKey)
        assert_eq!(
            der::oid_components(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            Some(vec![1, 2, 840, 10045, 2, 1])
        );
        assert_eq!(der::oid_components(&[0x2a, 0x86]), None);
        assert_eq!(der::oid_components(&[]), None);
        assert_eq!(der::oid_components(&[0xff; 20]), None);
    }

    #[test]
    fn atomic_write_sets_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        assert!(!tmp.path().join("f.tmp").exists());
    }
}
