//! Names outside the cluster zone: forwarded to the upstream resolvers (the nameservers of the
//! node's resolv.conf, as CoreDNS's `forward . /etc/resolv.conf`) through hickory's resolver,
//! whose cache keeps answers up to 30 s (CoreDNS's `cache 30`).

use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::net::{DnsError, NetError};
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, Record, RecordType};
use hickory_server::resolver::TokioResolver;
use hickory_server::resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The longest time a forwarded answer is cached.
pub const MAX_CACHE: Duration = Duration::from_secs(30);

/// What a forwarded query got.
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub soa: Option<Record>,
}

/// The upstream resolvers, with a cache.
pub struct Forwarder {
    resolver: TokioResolver,
}

/// The nameservers of a resolv.conf (`nameserver` lines), at port 53, skipping `exclude`.
pub fn resolv_conf_servers(text: &str, exclude: &[IpAddr]) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|w| w.split('%').next()?.parse::<IpAddr>().ok())
        .filter(|ip| !exclude.contains(ip) && !ip.is_unspecified())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Forwarder {
    /// A forwarder to `servers` (tried in order); None when there are none.
    pub fn new(servers: &[SocketAddr]) -> Option<Forwarder> {
        if servers.is_empty() {
            return None;
        }
        let name_servers = servers
            .iter()
            .map(|s| {
                let conn = |mut c: ConnectionConfig| {
                    c.port = s.port();
                    c
                };
                NameServerConfig::new(
                    s.ip(),
                    true,
                    vec![conn(ConnectionConfig::udp()), conn(ConnectionConfig::tcp())],
                )
            })
            .collect();
        let config = ResolverConfig::from_parts(None, Vec::new(), name_servers);
        let mut opts = ResolverOpts::default();
        opts.ndots = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.positive_max_ttl = Some(MAX_CACHE);
        opts.negative_max_ttl = Some(MAX_CACHE);
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        opts.cache_size = 10_000;
        opts.preserve_intermediates = true;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .ok()?;
        Some(Forwarder { resolver })
    }

    /// Resolves `name` upstream (from the cache while it is fresh).
    pub async fn lookup(&self, name: &Name, qtype: RecordType) -> Forwarded {
        let mut name = name.clone();
        name.set_fqdn(true);
        match self.resolver.lookup(name.clone(), qtype).await {
            Ok(lookup) => Forwarded {
                rcode: ResponseCode::NoError,
                answers: lookup.answers().to_vec(),
                soa: None,
            },
            Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => Forwarded {
                rcode: nr.response_code,
                answers: Vec::new(),
                soa: nr.soa.map(|s| (*s).into_record_of_rdata()),
            },
            Err(e) => {
                tracing::debug!(%name, error = %e, "forwarding failed");
                Forwarded {
                    rcode: ResponseCode::ServFail,
                    answers: Vec::new(),
                    soa: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_of_resolv_conf() {
        let text = "# comment\nsearch example.test\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n\
                    nameserver 10.43.0.10\nnameserver bogus\noptions ndots:2\n";
        let got = resolv_conf_servers(text, &["10.43.0.10".parse().unwrap()]);
        assert_eq!(
            got,
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
        assert!(Forwarder::new(&[]).is_none());
    }
}
