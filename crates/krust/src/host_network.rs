//! Start-up checks of the ranges krust routes for itself: a pod, Service or simulated-node
//! range that overlaps one of this host's addresses, routes or DNS servers would hide real
//! destinations behind the cluster's `unreachable` routes (or send cluster traffic to a real
//! network), so it is refused, naming the overlap and the flag to change. krust's own routes
//! (`unreachable` ones and those of the pod network's bridge) do not count.

use anyhow::{Context, bail};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::Command;

/// An IPv4 prefix as `(network, prefix length)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix(u32, u8);

impl Prefix {
    fn parse(s: &str) -> Option<Prefix> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, b.parse::<u8>().ok()?),
            None => (s, 32),
        };
        let ip: Ipv4Addr = addr.parse().ok()?;
        (bits <= 32).then(|| Prefix(u32::from(ip) & mask(bits), bits))
    }

    fn overlaps(self, other: Prefix) -> bool {
        let m = mask(self.1.min(other.1));
        self.0 & m == other.0 & m
    }
}

fn mask(bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(bits))
    }
}

fn ip_json(args: &[&str]) -> Vec<Value> {
    Command::new("ip")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<Vec<Value>>(&o.stdout).ok())
        .unwrap_or_default()
}

/// What of this host `range` overlaps, if anything: an interface address, a route (not the
/// default route, not krust's own), or a DNS server of `/etc/resolv.conf`.
fn host_overlap(range: Prefix, own_devices: &[&str]) -> Option<String> {
    for link in ip_json(&["-j", "-4", "addr", "show"]) {
        let dev = link.get("ifname").and_then(Value::as_str).unwrap_or("");
        if own_devices.contains(&dev) {
            continue;
        }
        for a in link
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(local) = a.get("local").and_then(Value::as_str) else {
                continue;
            };
            if Prefix::parse(local).is_some_and(|p| range.overlaps(p)) {
                return Some(format!("the address {local} of {dev}"));
            }
        }
    }
    for r in ip_json(&["-j", "-4", "route", "show", "table", "main"]) {
        let dst = r.get("dst").and_then(Value::as_str).unwrap_or("default");
        let dev = r.get("dev").and_then(Value::as_str).unwrap_or("");
        let kind = r.get("type").and_then(Value::as_str).unwrap_or("unicast");
        if dst == "default" || kind != "unicast" || own_devices.contains(&dev) {
            continue;
        }
        if Prefix::parse(dst).is_some_and(|p| range.overlaps(p)) {
            return Some(format!("the route to {dst} via {dev}"));
        }
    }
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for line in resolv.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver")
            && let Some(server) = words.next()
            && Prefix::parse(server).is_some_and(|p| range.overlaps(p))
        {
            return Some(format!("the DNS server {server} (/etc/resolv.conf)"));
        }
    }
    None
}

/// Fails when `cidr` (given with `flag`) overlaps this host's addresses, routes or DNS
/// servers; `own_devices` are krust's own interfaces (the pod network's bridge).
pub fn refuse_host_overlap(flag: &str, cidr: &str, own_devices: &[&str]) -> anyhow::Result<()> {
    let range =
        Prefix::parse(cidr).with_context(|| format!("{flag} {cidr:?} is not an IPv4 CIDR"))?;
    if let Some(what) = host_overlap(range, own_devices) {
        bail!(
            "{flag} {cidr} overlaps {what} on this host: pick a range this host does not use with {flag}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_as_ranges_do() {
        let p = |s| Prefix::parse(s).unwrap_or(Prefix(0, 0));
        assert!(p("10.128.0.0/9").overlaps(p("10.255.255.53")));
        assert!(!p("10.64.0.0/11").overlaps(p("10.255.255.53")));
        assert!(p("10.42.0.0/16").overlaps(p("10.0.0.0/8")));
        assert!(!p("10.42.0.0/16").overlaps(p("10.43.0.0/16")));
        assert_eq!(Prefix::parse("10.1.2.3/33"), None);
    }

    #[test]
    fn this_hosts_own_address_is_an_overlap() {
        // Whatever this host's first non-loopback address is, a /32 on it overlaps.
        let addr = ip_json(&["-j", "-4", "addr", "show"])
            .iter()
            .flat_map(|l| {
                l.get("addr_info")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|a| a.get("local").and_then(Value::as_str).map(str::to_string))
            .find(|a| !a.starts_with("127."));
        let Some(addr) = addr else {
            panic!("this host has no IPv4 address besides loopback");
        };
        let err = refuse_host_overlap("--x", &format!("{addr}/32"), &[]);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_string().contains(&addr) && e.to_string().contains("--x")),
            "{err:?}"
        );
    }
}
