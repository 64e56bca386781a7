//! The pod network of one node: the CNI configuration containerd's CRI plugin reads (the
//! `bridge` plugin with host-local IPAM on the node's podCIDR (its `ipMasq` off: the service
//! proxy's nftables table masquerades traffic leaving the cluster), `portmap` for hostPorts; containerd brings up `lo` itself with the `loopback`
//! plugin), and kernel `unreachable` routes for the cluster and Service CIDRs, so traffic to an
//! unassigned pod or Service IP dies on this machine instead of following the default route
//! (a node's own podCIDR is more specific and wins).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the CNI network.
pub const NETWORK_NAME: &str = "krust";
/// File name of the configuration list.
pub const CONFLIST: &str = "10-krust.conflist";

/// Why the network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("{0:?} is not an IPv4 CIDR")]
    Cidr(String),
}

/// The CNI configuration list for a node whose podCIDR is `pod_cidr`.
pub fn cni_config(bridge: &str, pod_cidr: &str, ipam_data_dir: &Path) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                // Pod egress is masqueraded by the service proxy's table (removed with it),
                // not by the plugin's iptables chains, which outlive a killed agent.
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_data_dir.display().to_string(),
                }
            },
            {
                "type": "portmap",
                "capabilities": {"portMappings": true}
            }
        ]
    })
}

/// Writes the configuration list into `conf_dir` (atomically: containerd watches the
/// directory). Returns whether the file changed.
pub fn write_cni_config(conf_dir: &Path, config: &Value) -> Result<bool, NetworkError> {
    let path = conf_dir.join(CONFLIST);
    let text = serde_json::to_string_pretty(config).unwrap_or_default();
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(conf_dir)?;
        let tmp = conf_dir.join(format!(".{CONFLIST}.tmp"));
        std::fs::write(&tmp, &text)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| NetworkError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(true)
}

/// Checks that `cidr` is an IPv4 CIDR (`a.b.c.d/n`).
pub fn check_cidr(cidr: &str) -> Result<(), NetworkError> {
    let bad = || NetworkError::Cidr(cidr.to_string());
    let (ip, bits) = cidr.split_once('/').ok_or_else(bad)?;
    ip.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    if bits > 32 {
        return Err(bad());
    }
    Ok(())
}

fn run(args: &[&str]) -> Result<(), NetworkError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| NetworkError::Command {
            command: format!("ip {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetworkError::Command {
            command: format!("ip {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Adds (or replaces) an `unreachable` route for `cidr`.
pub fn add_unreachable_route(cidr: &str) -> Result<(), NetworkError> {
    check_cidr(cidr)?;
    run(&["route", "replace", "unreachable", cidr])
}

/// Removes the `unreachable` route for `cidr` (absent counts as removed).
pub fn remove_unreachable_route(cidr: &str) {
    if check_cidr(cidr).is_ok() {
        let _ = run(&["route", "del", "unreachable", cidr]);
    }
}

/// The gateway (first) address of the podCIDR `cidr` and its prefix length: the bridge's
/// address, where pods route through and the node's cluster DNS listens.
pub fn gateway(cidr: &str) -> Result<(std::net::Ipv4Addr, u8), NetworkError> {
    check_cidr(cidr)?;
    let bad = || NetworkError::Cidr(cidr.to_string());
    let (ip, bits) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    if bits >= 31 {
        return Err(bad());
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    Ok((std::net::Ipv4Addr::from((u32::from(ip) & mask) + 1), bits))
}

/// Creates the bridge `name` with the gateway address of `cidr` and sets it up, unless it
/// is there (the CNI bridge plugin takes an existing bridge as it is), so the node's own
/// services can listen at the gateway before the first pod starts.
pub fn ensure_bridge(name: &str, cidr: &str) -> Result<(), NetworkError> {
    let (gw, bits) = gateway(cidr)?;
    if run(&["link", "show", "dev", name]).is_err()
        && let Err(e) = run(&["link", "add", "name", name, "type", "bridge"])
        && run(&["link", "show", "dev", name]).is_err()
    {
        return Err(e);
    }
    run(&["addr", "replace", &format!("{gw}/{bits}"), "dev", name])?;
    run(&["link", "set", "dev", name, "up"])
}

/// Deletes the bridge `name` (absent counts as deleted).
pub fn delete_bridge(name: &str) {
    if !name.is_empty() {
        let _ = run(&["link", "del", name]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_list_shape() {
        let c = cni_config("kr1", "10.42.3.0/24", Path::new("/x/cni"));
        assert_eq!(c["cniVersion"], "1.0.0");
        let bridge = &c["plugins"][0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], "kr1");
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.42.3.0/24");
        assert_eq!(bridge["ipam"]["routes"][0]["dst"], "0.0.0.0/0");
        assert_eq!(c["plugins"][1]["type"], "portmap");
        assert_eq!(c["plugins"][1]["capabilities"]["portMappings"], true);
    }

    #[test]
    fn writes_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = cni_config("kr1", "10.42.3.0/24", Path::new("/x"));
        assert!(write_cni_config(dir.path(), &c).unwrap());
        assert!(!write_cni_config(dir.path(), &c).unwrap());
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(CONFLIST)).unwrap())
                .unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn gateways() {
        assert_eq!(
            gateway("10.42.3.0/24").unwrap(),
            ("10.42.3.1".parse().unwrap(), 24)
        );
        assert_eq!(
            gateway("10.42.3.77/24").unwrap(),
            ("10.42.3.1".parse().unwrap(), 24)
        );
        assert_eq!(
            gateway("10.0.0.0/8").unwrap(),
            ("10.0.0.1".parse().unwrap(), 8)
        );
        assert!(gateway("10.42.3.0/32").is_err());
        assert!(gateway("bogus").is_err());
    }

    #[test]
    fn cidrs() {
        assert!(check_cidr("10.42.0.0/16").is_ok());
        for bad in [
            "10.42.0.0",
            "10.42.0/16",
            "10.42.0.0/33",
            "x/8",
            "; rm -rf /",
        ] {
            assert!(check_cidr(bad).is_err(), "{bad}");
        }
    }
}
