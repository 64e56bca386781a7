//! Allocation of Service cluster IPs (from the service CIDR) and node ports (from the node port
//! range), as the upstream Service REST storage does on create, update and delete.

use serde_json::Value;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    /// Parses `10.43.0.0/16`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, p) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        (prefix <= 32).then(|| Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// The `n`th address of the network.
    pub fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr).wrapping_add(n))
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// Why an allocation failed (rendered into a field error by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("provided IP is already allocated")]
    IpInUse,
    #[error("the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}")]
    IpOutOfRange { ip: String, range: String },
    #[error("range is full")]
    Full,
    #[error("provided port is already allocated")]
    PortInUse,
    #[error("provided port is not in the valid range. The range of valid ports is {0}-{1}")]
    PortOutOfRange(u16, u16),
}

/// Tracks which cluster IPs and node ports are taken.
pub struct ServiceAllocator {
    net: Ipv4Net,
    ports: (u16, u16),
    ips: Mutex<HashSet<Ipv4Addr>>,
    node_ports: Mutex<HashSet<u16>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u32::from_le_bytes(b)
}

impl ServiceAllocator {
    pub fn new(net: Ipv4Net, ports: (u16, u16)) -> Self {
        ServiceAllocator {
            net,
            ports,
            ips: Mutex::new(HashSet::new()),
            node_ports: Mutex::new(HashSet::new()),
        }
    }

    pub fn net(&self) -> Ipv4Net {
        self.net
    }

    /// Marks everything a stored Service holds as taken.
    pub fn observe(&self, svc: &Value) {
        for ip in cluster_ips(svc) {
            if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                lock(&self.ips).insert(ip);
            }
        }
        for p in node_ports(svc) {
            lock(&self.node_ports).insert(p);
        }
    }

    /// Takes a specific IP, or any free one.
    pub fn allocate_ip(&self, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr, AllocError> {
        let mut ips = lock(&self.ips);
        if let Some(ip) = wanted {
            if !self.net.contains(ip) || ip == self.net.addr || ip == self.net.nth(u32::MAX) {
                return Err(AllocError::IpOutOfRange {
                    ip: ip.to_string(),
                    range: self.net.to_string(),
                });
            }
            if !ips.insert(ip) {
                return Err(AllocError::IpInUse);
            }
            return Ok(ip);
        }
        // Usable addresses: 2 .. size-2 (network, the API server's .1 and broadcast excluded).
        let size = self.net.size();
        if size < 4 {
            return Err(AllocError::Full);
        }
        let usable = (size - 3) as u32;
        let start = random_u32() % usable;
        for i in 0..usable {
            let ip = self.net.nth(2 + (start + i) % usable);
            if ips.insert(ip) {
                return Ok(ip);
            }
        }
        Err(AllocError::Full)
    }

    /// Marks `ip` taken (reserved by an IPAddress created by hand); outside the range it is
    /// ignored.
    pub fn reserve_ip(&self, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>()
            && self.net.contains(ip)
        {
            lock(&self.ips).insert(ip);
        }
    }

    pub fn release_ip(&self, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            lock(&self.ips).remove(&ip);
        }
    }

    /// Takes a specific node port, or any free one.
    pub fn allocate_node_port(&self, wanted: Option<u16>) -> Result<u16, AllocError> {
        let (lo, hi) = self.ports;
        let mut taken = lock(&self.node_ports);
        if let Some(p) = wanted {
            if p < lo || p > hi {
                return Err(AllocError::PortOutOfRange(lo, hi));
            }
            if !taken.insert(p) {
                return Err(AllocError::PortInUse);
            }
            return Ok(p);
        }
        let n = u32::from(hi - lo) + 1;
        let start = random_u32() % n;
        for i in 0..n {
            let p = lo + ((start + i) % n) as u16;
            if taken.insert(p) {
                return Ok(p);
            }
        }
        Err(AllocError::Full)
    }

    pub fn release_node_port(&self, p: u16) {
        lock(&self.node_ports).remove(&p);
    }

    /// Releases everything a Service holds.
    pub fn release_service(&self, svc: &Value) {
        for ip in cluster_ips(svc) {
            self.release_ip(&ip);
        }
        for p in node_ports(svc) {
            self.release_node_port(p);
        }
    }
}

/// The allocated cluster IPs of a Service (not `None`).
pub fn cluster_ips(svc: &Value) -> Vec<String> {
    let spec = &svc["spec"];
    let mut out: Vec<String> = spec["clusterIPs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(ip) = spec["clusterIP"].as_str()
        && !out.iter().any(|x| x == ip)
    {
        out.push(ip.to_string());
    }
    out.retain(|ip| !ip.is_empty() && ip != "None");
    out
}

/// The node ports of a Service.
pub fn node_ports(svc: &Value) -> Vec<u16> {
    svc["spec"]["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p["nodePort"].as_u64())
                .filter_map(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allocates_and_releases() {
        let a = ServiceAllocator::new(Ipv4Net::parse("10.43.0.0/29").unwrap(), (30000, 30001));
        let mut got = HashSet::new();
        for _ in 0..5 {
            got.insert(a.allocate_ip(None).unwrap());
        }
        assert_eq!(got.len(), 5);
        assert!(!got.contains(&"10.43.0.1".parse().unwrap()));
        assert_eq!(a.allocate_ip(None), Err(AllocError::Full));
        a.release_ip("10.43.0.3");
        assert_eq!(
            a.allocate_ip(None).unwrap(),
            "10.43.0.3".parse::<Ipv4Addr>().unwrap()
        );
        assert!(matches!(
            a.allocate_ip(Some("10.44.0.1".parse().unwrap())),
            Err(AllocError::IpOutOfRange { .. })
        ));
        assert_eq!(a.allocate_node_port(Some(30000)), Ok(30000));
        assert_eq!(
            a.allocate_node_port(Some(30000)),
            Err(AllocError::PortInUse)
        );
        assert_eq!(a.allocate_node_port(None), Ok(30001));
        assert_eq!(
            a.allocate_node_port(Some(80)),
            Err(AllocError::PortOutOfRange(30000, 30001))
        );
        let svc = json!({"spec": {"clusterIP": "10.43.0.2", "clusterIPs": ["10.43.0.2"], "ports": [{"nodePort": 30000}]}});
        a.release_service(&svc);
        assert_eq!(a.allocate_node_port(None), Ok(30000));
    }
}
