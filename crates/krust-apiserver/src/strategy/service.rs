//! Services: the allocations (cluster IPs and node ports) taken on create and update, given
//! back when a write fails, when an update drops them and when the Service is deleted.

use super::Strategy;
use crate::allocator::{AllocError, ServiceAllocator, cluster_ips, node_ports};
use krust_api::FieldError;
use serde_json::{Value, json};
use std::net::Ipv4Addr;

/// What a write newly took from the allocator (given back if the write fails).
#[derive(Debug, Default)]
pub(crate) struct Allocation {
    ips: Vec<String>,
    ports: Vec<u16>,
}

impl Allocation {
    pub fn release(self, alloc: &ServiceAllocator) {
        for ip in &self.ips {
            alloc.release_ip(ip);
        }
        for p in self.ports {
            alloc.release_node_port(p);
        }
    }
}

fn service_type(svc: &Value) -> &str {
    svc["spec"]["type"].as_str().unwrap_or("ClusterIP")
}

fn needs_node_ports(svc: &Value) -> bool {
    matches!(service_type(svc), "NodePort" | "LoadBalancer")
}

/// Assigns cluster IPs and node ports to a Service being created (`old` = None) or updated,
/// reusing what the stored Service holds.
fn allocate_service(
    alloc: &ServiceAllocator,
    svc: &mut Value,
    old: Option<&Value>,
) -> Result<Allocation, Vec<FieldError>> {
    let mut taken = Allocation::default();
    let mut errors = Vec::new();
    let is_external = service_type(svc) == "ExternalName";
    let old_ips = old.map(cluster_ips).unwrap_or_default();
    if !is_external {
        let mut wanted = svc["spec"]["clusterIP"].as_str().unwrap_or("").to_string();
        if wanted.is_empty() {
            wanted = svc["spec"]["clusterIPs"][0]
                .as_str()
                .unwrap_or("")
                .to_string();
        }
        if wanted.is_empty()
            && let Some(ip) = old_ips.first()
        {
            wanted = ip.clone();
        }
        let ip = if wanted == "None" {
            Some("None".to_string())
        } else if !wanted.is_empty() && old_ips.contains(&wanted) {
            Some(wanted)
        } else {
            let requested = if wanted.is_empty() {
                None
            } else {
                match wanted.parse::<Ipv4Addr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        errors.push(FieldError::invalid(
                            "spec.clusterIPs[0]",
                            json!(wanted),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        ));
                        return Err(errors);
                    }
                }
            };
            match alloc.allocate_ip(requested) {
                Ok(ip) => {
                    taken.ips.push(ip.to_string());
                    Some(ip.to_string())
                }
                Err(e) => {
                    let detail = match (&e, requested) {
                        (AllocError::Full, _) => {
                            "failed to allocate a serviceIP: range is full".to_string()
                        }
                        (_, Some(r)) => format!("failed to allocate IP {r}: {e}"),
                        _ => e.to_string(),
                    };
                    errors.push(FieldError::invalid(
                        "spec.clusterIPs",
                        json!([wanted]),
                        detail,
                    ));
                    None
                }
            }
        };
        if let (Some(ip), Some(spec)) = (ip, svc["spec"].as_object_mut()) {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    } else if let Some(spec) = svc["spec"].as_object_mut() {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    if needs_node_ports(svc) {
        let old_ports: Vec<Value> = old
            .filter(|o| needs_node_ports(o))
            .and_then(|o| o["spec"]["ports"].as_array().cloned())
            .unwrap_or_default();
        let old_node_ports = old.map(node_ports).unwrap_or_default();
        if let Some(ports) = svc["spec"]["ports"].as_array_mut() {
            for (i, p) in ports.iter_mut().enumerate() {
                let explicit = p["nodePort"].as_u64().filter(|n| *n != 0);
                let reuse = match explicit {
                    Some(n) => u16::try_from(n).ok().filter(|n| old_node_ports.contains(n)),
                    None => old_ports
                        .iter()
                        .find(|op| op["port"] == p["port"] && op["protocol"] == p["protocol"])
                        .and_then(|op| op["nodePort"].as_u64())
                        .and_then(|n| u16::try_from(n).ok()),
                };
                let result = match (reuse, explicit) {
                    (Some(n), _) => Ok(n),
                    (None, Some(n)) => match u16::try_from(n) {
                        Ok(n) => alloc
                            .allocate_node_port(Some(n))
                            .inspect(|n| taken.ports.push(*n)),
                        Err(_) => Err(AllocError::PortOutOfRange(0, 0)),
                    },
                    (None, None) => alloc
                        .allocate_node_port(None)
                        .inspect(|n| taken.ports.push(*n)),
                };
                match result {
                    Ok(n) => {
                        if let Some(m) = p.as_object_mut() {
                            m.insert("nodePort".into(), json!(n));
                        }
                    }
                    Err(e) => errors.push(FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        p["nodePort"].clone(),
                        e.to_string(),
                    )),
                }
            }
        }
    } else if let Some(ports) = svc["spec"]["ports"].as_array_mut() {
        for p in ports.iter_mut() {
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
        }
    }
    if errors.is_empty() {
        Ok(taken)
    } else {
        taken.release(alloc);
        Err(errors)
    }
}

/// After a committed update, gives back what the old Service held and the new one does not.
fn release_dropped(alloc: &ServiceAllocator, old: &Value, new: &Value) {
    let new_ips = cluster_ips(new);
    for ip in cluster_ips(old) {
        if !new_ips.contains(&ip) {
            alloc.release_ip(&ip);
        }
    }
    let new_ports = node_ports(new);
    for p in node_ports(old) {
        if !new_ports.contains(&p) {
            alloc.release_node_port(p);
        }
    }
}

pub(super) struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn allocate(
        &self,
        alloc: &ServiceAllocator,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<Allocation, Vec<FieldError>> {
        allocate_service(alloc, obj, old)
    }

    fn release_dropped(&self, alloc: &ServiceAllocator, old: &Value, new: &Value) {
        release_dropped(alloc, old, new);
    }

    fn release(&self, alloc: &ServiceAllocator, obj: &Value) {
        alloc.release_service(obj);
    }

    fn delete_returns_object(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::Ipv4Net;

    #[test]
    fn service_allocation() {
        let a = ServiceAllocator::new(Ipv4Net::parse("10.43.0.0/24").unwrap(), (30000, 30010));
        let mut svc =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let got = allocate_service(&a, &mut svc, None).unwrap();
        assert_eq!(got.ips.len(), 1);
        assert!(svc["spec"]["ports"][0]["nodePort"].as_u64().is_some());
        // An update without clusterIP or nodePort keeps the old ones.
        let mut upd =
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let got2 = allocate_service(&a, &mut upd, Some(&svc)).unwrap();
        assert!(got2.ips.is_empty() && got2.ports.is_empty());
        assert_eq!(upd["spec"]["clusterIP"], svc["spec"]["clusterIP"]);
        assert_eq!(
            upd["spec"]["ports"][0]["nodePort"],
            svc["spec"]["ports"][0]["nodePort"]
        );
        // A taken IP is refused with a field error.
        let mut dup = json!({"spec": {"clusterIP": svc["spec"]["clusterIP"].clone(), "ports": []}});
        let errs = allocate_service(&a, &mut dup, None).unwrap_err();
        assert_eq!(errs[0].field, "spec.clusterIPs");
        // Switching to ClusterIP drops node ports.
        let mut cip = json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30001}]}});
        allocate_service(&a, &mut cip, Some(&svc)).unwrap();
        assert!(cip["spec"]["ports"][0].get("nodePort").is_none());
        release_dropped(&a, &svc, &cip);
    }
}
