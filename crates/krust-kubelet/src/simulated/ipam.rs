//! Addresses of simulated nodes: IPv4 CIDRs, the per-node `/24` pod ranges carved from a base
//! range by node index, the fake node addresses, and the per-node pod IP pool (host-local
//! IPAM's behaviour: round-robin over the range, gateway and broadcast skipped, freed
//! addresses reused once the cursor wraps).

use super::Error;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The range the fake node addresses come from: RFC 2544's benchmarking network
/// (198.18.0.0/15), which nothing routes. Node `i` gets `198.18.0.0 + i + 1`.
const NODE_ADDRESS_BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
/// How many node addresses that range holds (network and broadcast left out).
pub(crate) const MAX_NODES: usize = (1 << 17) - 2;

/// Pod ranges handed out per node: a `/24`, as upstream's node IPAM does by default.
const NODE_POD_PREFIX: u8 = 24;

/// The largest pool a node range gets (a `/16`); a wider podCIDR is used only in its first
/// 65,534 addresses.
const MAX_POOL: u32 = 1 << 16;

/// An IPv4 network: address and prefix length, the address masked to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network `addr/prefix` (host bits cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        if prefix > 32 {
            return Err(Error::InvalidCidr(format!("{addr}/{prefix}")));
        }
        let network = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        Ok(Ipv4Cidr { network, prefix })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// Number of addresses in the network.
    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidCidr(s.to_string());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Ipv4Cidr::new(addr, prefix).map_err(|_| bad())
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// How many node ranges (`/24`s) `base` holds.
pub(crate) fn node_range_count(base: Ipv4Cidr) -> usize {
    if base.prefix > NODE_POD_PREFIX {
        return 0;
    }
    1usize << (NODE_POD_PREFIX - base.prefix)
}

/// The podCIDR of node `index`: the `index`-th `/24` of `base`.
pub fn node_pod_cidr(base: Ipv4Cidr, index: usize) -> Result<Ipv4Cidr, Error> {
    let available = node_range_count(base);
    if index >= available {
        return Err(Error::TooManyNodes {
            count: index + 1,
            available,
            why: format!("/24 pod ranges in {base}"),
        });
    }
    let offset = u32::try_from(index)
        .ok()
        .and_then(|i| i.checked_mul(1 << (32 - u32::from(NODE_POD_PREFIX))))
        .ok_or_else(|| Error::InvalidCidr(base.to_string()))?;
    let network = u32::from(base.network)
        .checked_add(offset)
        .ok_or_else(|| Error::InvalidCidr(base.to_string()))?;
    Ipv4Cidr::new(Ipv4Addr::from(network), NODE_POD_PREFIX)
}

/// The fake InternalIP of node `index` (never routed: see [`NODE_ADDRESS_BASE`]).
pub fn node_address(index: usize) -> Result<Ipv4Addr, Error> {
    if index >= MAX_NODES {
        return Err(Error::TooManyNodes {
            count: index + 1,
            available: MAX_NODES,
            why: "fake node addresses in 198.18.0.0/15".into(),
        });
    }
    let offset = u32::try_from(index + 1).map_err(|_| Error::TooManyNodes {
        count: index + 1,
        available: MAX_NODES,
        why: "fake node addresses".into(),
    })?;
    Ok(Ipv4Addr::from(NODE_ADDRESS_BASE + offset))
}

/// The pod addresses of one node: every address of its podCIDR but the network, the first
/// host (the bridge gateway, as host-local reserves it) and the broadcast address.
#[derive(Debug, Clone)]
pub struct IpPool {
    cidr: Ipv4Cidr,
    /// First allocatable address (as an integer).
    first: u32,
    /// Number of allocatable addresses.
    len: u32,
    used: Vec<u64>,
    in_use: u32,
    /// Next offset to try (round-robin).
    cursor: u32,
}

impl IpPool {
    pub fn new(cidr: Ipv4Cidr) -> Self {
        let size = cidr.size();
        // Network, gateway and broadcast are not handed out; a /31 or /32 has nothing left.
        let len = if size >= 4 {
            u32::try_from((size - 3).min(u64::from(MAX_POOL) - 2)).unwrap_or(0)
        } else {
            0
        };
        let first = u32::from(cidr.network).saturating_add(2);
        IpPool {
            cidr,
            first,
            len,
            used: vec![0; (len as usize).div_ceil(64)],
            in_use: 0,
            cursor: 0,
        }
    }

    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// Addresses currently handed out.
    pub fn in_use(&self) -> usize {
        self.in_use as usize
    }

    /// Addresses the pool can hand out in all.
    pub fn capacity(&self) -> usize {
        self.len as usize
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let off = u32::from(ip).checked_sub(self.first)?;
        (off < self.len).then_some(off)
    }

    fn is_set(&self, off: u32) -> bool {
        self.used[(off / 64) as usize] & (1 << (off % 64)) != 0
    }

    fn set(&mut self, off: u32, on: bool) {
        let word = &mut self.used[(off / 64) as usize];
        if on {
            *word |= 1 << (off % 64);
        } else {
            *word &= !(1 << (off % 64));
        }
    }

    /// Hands out the next free address after the last one handed out; `None` when full.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        if self.in_use >= self.len {
            return None;
        }
        for step in 0..self.len {
            let off = (self.cursor + step) % self.len;
            if !self.is_set(off) {
                self.set(off, true);
                self.in_use += 1;
                self.cursor = (off + 1) % self.len;
                return Some(Ipv4Addr::from(self.first + off));
            }
        }
        None
    }

    /// Marks `ip` as in use (a pod found running after a restart). False when `ip` is not in
    /// the pool or already taken.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset(ip) {
            Some(off) if !self.is_set(off) => {
                self.set(off, true);
                self.in_use += 1;
                true
            }
            _ => false,
        }
    }

    /// Returns `ip` to the pool (no-op when it is not from the pool or not in use).
    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(off) = self.offset(ip)
            && self.is_set(off)
        {
            self.set(off, false);
            self.in_use -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_masks() {
        let c = cidr("10.128.7.9/9");
        assert_eq!(c.to_string(), "10.128.0.0/9");
        assert!(c.contains("10.255.255.255".parse().unwrap()));
        assert!(!c.contains("10.0.0.1".parse().unwrap()));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
    }

    #[test]
    fn carves_node_ranges_by_index() {
        let base = cidr("10.128.0.0/9");
        assert_eq!(node_range_count(base), 32768);
        assert_eq!(node_pod_cidr(base, 0).unwrap().to_string(), "10.128.0.0/24");
        assert_eq!(node_pod_cidr(base, 1).unwrap().to_string(), "10.128.1.0/24");
        assert_eq!(
            node_pod_cidr(base, 256).unwrap().to_string(),
            "10.129.0.0/24"
        );
        assert_eq!(
            node_pod_cidr(base, 4999).unwrap().to_string(),
            "10.147.135.0/24"
        );
        assert_eq!(
            node_pod_cidr(base, 32767).unwrap().to_string(),
            "10.255.255.0/24"
        );
        assert!(matches!(
            node_pod_cidr(base, 32768),
            Err(Error::TooManyNodes {
                available: 32768,
                ..
            })
        ));
        let small = cidr("192.168.0.0/23");
        assert_eq!(node_range_count(small), 2);
        assert!(node_pod_cidr(small, 2).is_err());
        assert_eq!(node_range_count(cidr("10.0.0.0/25")), 0);
        assert!(node_pod_cidr(cidr("10.0.0.0/25"), 0).is_err());
    }

    #[test]
    fn node_addresses_are_distinct_and_bounded() {
        assert_eq!(node_address(0).unwrap(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(node_address(255).unwrap(), Ipv4Addr::new(198, 18, 1, 0));
        assert_eq!(
            node_address(MAX_NODES - 1).unwrap(),
            Ipv4Addr::new(198, 19, 255, 254)
        );
        assert!(node_address(MAX_NODES).is_err());
    }

    #[test]
    fn pool_allocates_round_robin_and_reuses_freed() {
        let mut pool = IpPool::new(cidr("10.128.1.0/24"));
        assert_eq!(pool.capacity(), 253);
        let first = pool.allocate().unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 128, 1, 2));
        let second = pool.allocate().unwrap();
        assert_eq!(second, Ipv4Addr::new(10, 128, 1, 3));
        // A freed address is not handed out again at once...
        pool.release(first);
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 128, 1, 4));
        // ...but it is once the pool wraps.
        let mut all = vec![second];
        while let Some(ip) = pool.allocate() {
            all.push(ip);
        }
        assert_eq!(pool.in_use(), 253);
        assert!(all.contains(&first));
        assert!(!all.contains(&Ipv4Addr::new(10, 128, 1, 1)));
        assert!(!all.contains(&Ipv4Addr::new(10, 128, 1, 255)));
        assert!(pool.allocate().is_none());
        pool.release(Ipv4Addr::new(10, 128, 1, 200));
        assert_eq!(pool.in_use(), 252);
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 128, 1, 200));
        // Releasing twice or outside the pool changes nothing.
        pool.release(Ipv4Addr::new(10, 128, 1, 200));
        pool.release(Ipv4Addr::new(10, 128, 1, 200));
        pool.release(Ipv4Addr::new(10, 9, 9, 9));
        assert_eq!(pool.in_use(), 252);
    }

    #[test]
    fn pool_reserves_existing_addresses() {
        let mut pool = IpPool::new(cidr("10.128.2.0/24"));
        assert!(pool.reserve(Ipv4Addr::new(10, 128, 2, 2)));
        assert!(!pool.reserve(Ipv4Addr::new(10, 128, 2, 2)));
        assert!(!pool.reserve(Ipv4Addr::new(10, 128, 2, 1)));
        assert!(!pool.reserve(Ipv4Addr::new(10, 128, 3, 2)));
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 128, 2, 3));
        assert_eq!(pool.in_use(), 2);
    }

    #[test]
    fn tiny_and_huge_ranges() {
        assert_eq!(IpPool::new(cidr("10.0.0.0/31")).capacity(), 0);
        assert!(IpPool::new(cidr("10.0.0.0/32")).allocate().is_none());
        let mut p = IpPool::new(cidr("10.0.0.0/30"));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(p.allocate(), None);
        assert_eq!(IpPool::new(cidr("10.0.0.0/8")).capacity(), 65534);
    }
}
