//! Services: upstream's `ValidateService` (ports, types, session affinity, cluster IPs, IP
//! families, traffic policies, source ranges) and `ValidateServiceUpdate`'s rule that allocated
//! cluster IPs do not change. The node port range is the allocator's (it knows the configured
//! `--service-node-port-range`), which runs before validation.

use super::meta::validate_labels;
use super::util::{
    Errs, NULL, get, get_arr, get_int, get_str, get_str_list, invalid_each, port_num_or_name,
    str_or_empty, type_error,
};
use crate::field_error::{FieldError, Path};
use crate::validation_names as names;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::net::IpAddr;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
/// The kubelet's port, which a LoadBalancer may not expose.
const KUBELET_PORT: i64 = 10250;

/// The parts of a Service spec the checks look at, after the normalisation the registry does
/// before validating (clusterIPs follow clusterIP; fields the type no longer uses are dropped
/// on update when unchanged).
struct Svc<'a> {
    spec: &'a Value,
    ty: &'a str,
    cluster_ip: &'a str,
    /// `clusterIPs` as given (empty when absent).
    raw_ips: Vec<&'a str>,
    /// The effective cluster IPs.
    ips: Vec<&'a str>,
    families: Vec<&'a str>,
    family_policy: Option<&'a str>,
    /// Node ports to ignore (dropped by the registry when the type stops using them).
    drop_node_ports: bool,
    drop_external_traffic_policy: bool,
}

impl<'a> Svc<'a> {
    fn read(errs: &mut Errs, obj: &'a Value) -> Self {
        let path = Path::new("spec");
        let spec = match get(obj, "spec") {
            Some(s @ Value::Object(_)) => s,
            Some(other) => {
                errs.push(type_error(&path, other, "object"));
                &NULL
            }
            None => &NULL,
        };
        let ty = get_str(errs, spec, "type", &path)
            .filter(|t| !t.is_empty())
            .unwrap_or("ClusterIP");
        let cluster_ip = str_or_empty(errs, spec, "clusterIP", &path);
        let raw_ips = get_str_list(errs, spec, "clusterIPs", &path);
        let ips = if raw_ips.is_empty() && !cluster_ip.is_empty() {
            vec![cluster_ip]
        } else {
            raw_ips.clone()
        };
        let families = get_str_list(errs, spec, "ipFamilies", &path);
        let family_policy = get_str(errs, spec, "ipFamilyPolicy", &path);
        Svc {
            spec,
            ty,
            cluster_ip,
            raw_ips,
            ips,
            families,
            family_policy,
            drop_node_ports: false,
            drop_external_traffic_policy: false,
        }
    }

    fn headless(&self) -> bool {
        self.ips == ["None"]
    }

    fn needs_node_ports(&self) -> bool {
        self.ty == "NodePort" || self.ty == "LoadBalancer"
    }

    fn externally_accessible(&self) -> bool {
        self.needs_node_ports()
            || (self.ty == "ClusterIP"
                && get(self.spec, "externalIPs")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty()))
    }

    fn ports(&self) -> &'a [Value] {
        get(self.spec, "ports")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
    }

    fn node_port(&self, port: &Value) -> i64 {
        if self.drop_node_ports {
            0
        } else {
            get(port, "nodePort").and_then(Value::as_i64).unwrap_or(0)
        }
    }

    /// Applies the registry's update normalisation against the stored Service.
    fn normalize_for_update(&mut self, old: &Svc<'a>) {
        // A changed clusterIP with untouched clusterIPs means clusterIPs follow clusterIP.
        if self.cluster_ip != old.cluster_ip && self.raw_ips == old.raw_ips {
            self.ips = if self.cluster_ip.is_empty() {
                Vec::new()
            } else {
                vec![self.cluster_ip]
            };
            self.raw_ips = self.ips.clone();
        }
        // Left-out allocated values are kept from the stored object.
        if self.ty != "ExternalName" && self.ips.is_empty() {
            self.ips = old.ips.clone();
            self.raw_ips = old.raw_ips.clone();
            self.cluster_ip = old.cluster_ip;
        }
        if self.ty == "ExternalName" && old.ty != "ExternalName" {
            if self.ips == old.ips {
                self.ips.clear();
                self.raw_ips.clear();
                self.cluster_ip = "";
            }
            if self.families == old.families {
                self.families.clear();
            }
            if self.family_policy == old.family_policy {
                self.family_policy = None;
            }
        }
        if old.needs_node_ports() && !self.needs_node_ports() {
            let new_ports: Vec<i64> = self.ports().iter().map(|p| self.node_port(p)).collect();
            let old_ports: Vec<i64> = old.ports().iter().map(|p| old.node_port(p)).collect();
            self.drop_node_ports = new_ports.iter().all(|p| *p == 0 || old_ports.contains(p));
        }
        if old.externally_accessible() && !self.externally_accessible() {
            self.drop_external_traffic_policy =
                get(self.spec, "externalTrafficPolicy") == get(old.spec, "externalTrafficPolicy");
        }
    }
}

/// Validates a Service on create (`old` = None) or update.
pub(crate) fn validate_service(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let mut svc = Svc::read(errs, obj);
    if let Some(old) = old {
        let old_svc = Svc::read(&mut Vec::new(), old);
        svc.normalize_for_update(&old_svc);
        upgrade_downgrade_cluster_ips(errs, &svc, &old_svc);
    }
    validate_spec(errs, &svc);
}

/// Upstream's `validateUpgradeDowngradeClusterIPs`.
fn upgrade_downgrade_cluster_ips(errs: &mut Errs, new: &Svc<'_>, old: &Svc<'_>) {
    if new.ty == "ExternalName" || old.ty == "ExternalName" || (new.headless() && old.headless()) {
        return;
    }
    let path = Path::new("spec").child("clusterIPs");
    let value = Value::from(new.ips.clone());
    if new.ips.len() == old.ips.len() {
        for (i, ip) in old.ips.iter().enumerate() {
            if new.ips.get(i) != Some(ip) {
                errs.push(FieldError::invalid(
                    path.index(i),
                    value.clone(),
                    "may not change once set",
                ));
            }
        }
    } else if new.ips.len() < old.ips.len() {
        match new.ips.first() {
            None => errs.push(FieldError::invalid(
                path.index(0),
                value.clone(),
                "primary clusterIP can not be unset",
            )),
            Some(first) if old.ips.first() != Some(first) => {
                errs.push(FieldError::invalid(
                    path.index(0),
                    value.clone(),
                    "may not change once set",
                ));
            }
            Some(_) => {}
        }
        if new.ips.len() == 1 && new.family_policy != Some("SingleStack") {
            errs.push(FieldError::invalid(
                path.index(0),
                value,
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if let (Some(o), Some(n)) = (old.ips.first(), new.ips.first())
        && o != n
    {
        errs.push(FieldError::invalid(
            path.index(0),
            value,
            "may not change once set",
        ));
    }
}

/// Upstream's `ValidateService` (its spec part).
fn validate_spec(errs: &mut Errs, svc: &Svc<'_>) {
    let path = Path::new("spec");
    let spec = svc.spec;
    let ports_path = path.child("ports");
    let ports = get_arr(errs, spec, "ports", &path);

    if ports.is_empty() && !svc.headless() && svc.ty != "ExternalName" {
        errs.push(FieldError::required(&ports_path, ""));
    }
    match svc.ty {
        "LoadBalancer" | "NodePort" => {
            if svc.headless() {
                errs.push(FieldError::invalid(
                    path.child("clusterIPs").index(0),
                    Value::from("None"),
                    format!("may not be set to 'None' for {} services", svc.ty),
                ));
            }
            if svc.ty == "LoadBalancer" {
                for (i, p) in ports.iter().enumerate() {
                    if get(p, "port").and_then(Value::as_i64) == Some(KUBELET_PORT) {
                        errs.push(FieldError::invalid(
                            ports_path.index(i),
                            Value::from(KUBELET_PORT),
                            format!("may not expose port {KUBELET_PORT} externally since it is used by kubelet"),
                        ));
                    }
                }
            }
        }
        "ExternalName" => {
            if !svc.ips.is_empty() {
                errs.push(FieldError::forbidden(
                    path.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if !svc.families.is_empty() {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if svc.family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let external = str_or_empty(errs, spec, "externalName", &path);
            let cname = external.strip_suffix('.').unwrap_or(external);
            if cname.is_empty() {
                errs.push(FieldError::required(path.child("externalName"), ""));
            } else {
                invalid_each(
                    errs,
                    &path.child("externalName"),
                    cname,
                    names::dns1123_subdomain(cname),
                );
            }
        }
        _ => {}
    }

    let mut port_names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        validate_service_port(
            errs,
            p,
            ports.len() > 1,
            &mut port_names,
            &ports_path.index(i),
        );
    }

    if let Some(sel) = get(spec, "selector") {
        validate_labels(errs, Some(sel), &path.child("selector"));
    }

    let affinity = get_str(errs, spec, "sessionAffinity", &path).unwrap_or("None");
    let config = get(spec, "sessionAffinityConfig");
    match affinity {
        "" | "None" => {
            if config.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            let cp = path.child("sessionAffinityConfig").child("clientIP");
            let client = get(config.unwrap_or(&NULL), "clientIP").unwrap_or(&NULL);
            if let Some(t) = get_int(errs, client, "timeoutSeconds", &cp)
                && !(1..=86400).contains(&t)
            {
                errs.push(FieldError::invalid(
                    cp.child("timeoutSeconds"),
                    Value::from(t),
                    "must be greater than 0 and less than 86400",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            path.child("sessionAffinity"),
            Value::from(other),
            &["ClientIP", "None"],
        )),
    }

    validate_cluster_ips(errs, svc, &path);

    for (i, ip) in get_str_list(errs, spec, "externalIPs", &path)
        .iter()
        .enumerate()
    {
        if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                path.child("externalIPs").index(i),
                Value::from(*ip),
                IP_MSG,
            ));
        }
    }

    if !SERVICE_TYPES.contains(&svc.ty) {
        errs.push(FieldError::not_supported(
            path.child("type"),
            Value::from(svc.ty),
            SERVICE_TYPES,
        ));
    }
    if svc.ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if svc.node_port(p) != 0 {
                errs.push(FieldError::forbidden(
                    ports_path.index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }

    // Duplicate node ports and ports, per protocol.
    let mut node_ports = HashSet::new();
    let mut port_keys = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = get(p, "protocol").and_then(Value::as_str).unwrap_or("TCP");
        let np = svc.node_port(p);
        if np != 0 && !node_ports.insert((proto, np)) {
            errs.push(FieldError::duplicate(
                ports_path.index(i).child("nodePort"),
                Value::from(np),
            ));
        }
    }
    for (i, p) in ports.iter().enumerate() {
        let proto = get(p, "protocol").and_then(Value::as_str).unwrap_or("TCP");
        let port = get(p, "port").and_then(Value::as_i64).unwrap_or(0);
        if !port_keys.insert((proto, port)) {
            errs.push(FieldError::duplicate(
                ports_path.index(i),
                json!({"port": port, "protocol": proto}),
            ));
        }
    }

    let ranges = get_str_list(errs, spec, "loadBalancerSourceRanges", &path);
    if !ranges.is_empty() {
        let rp = path.child("LoadBalancerSourceRanges");
        if svc.ty != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &rp,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            if !is_cidr(r.trim()) {
                errs.push(FieldError::invalid(
                    rp.index(i),
                    Value::from(*r),
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }

    let etp = get_str(errs, spec, "externalTrafficPolicy", &path).unwrap_or("");
    if !etp.is_empty() && !svc.drop_external_traffic_policy {
        if !svc.externally_accessible() {
            errs.push(FieldError::invalid(
                path.child("externalTrafficPolicy"),
                Value::from(etp),
                "may only be set for externally-accessible services",
            ));
        } else if etp != "Cluster" && etp != "Local" {
            errs.push(FieldError::not_supported(
                path.child("externalTrafficPolicy"),
                Value::from(etp),
                &["Cluster", "Local"],
            ));
        }
    }
    let itp = get_str(errs, spec, "internalTrafficPolicy", &path).unwrap_or("");
    if !itp.is_empty() && itp != "Cluster" && itp != "Local" {
        errs.push(FieldError::not_supported(
            path.child("internalTrafficPolicy"),
            Value::from(itp),
            &["Cluster", "Local"],
        ));
    }
}

/// Upstream's `validateServicePort`.
fn validate_service_port<'a>(
    errs: &mut Errs,
    p: &'a Value,
    require_name: bool,
    seen: &mut HashSet<&'a str>,
    path: &Path,
) {
    if !p.is_object() {
        errs.push(type_error(path, p, "object"));
        return;
    }
    let name = str_or_empty(errs, p, "name", path);
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        invalid_each(errs, &path.child("name"), name, names::dns1123_label(name));
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(path.child("name"), Value::from(name)));
        }
    }
    let port = get_int(errs, p, "port", path).unwrap_or(0);
    for msg in names::port_number(port) {
        errs.push(FieldError::invalid(
            path.child("port"),
            Value::from(port),
            msg,
        ));
    }
    if let Some(proto) = get_str(errs, p, "protocol", path)
        && !proto.is_empty()
        && !PROTOCOLS.contains(&proto)
    {
        errs.push(FieldError::not_supported(
            path.child("protocol"),
            Value::from(proto),
            PROTOCOLS,
        ));
    }
    if let Some(tp) = get(p, "targetPort") {
        port_num_or_name(errs, tp, &path.child("targetPort"));
    }
    if let Some(ap) = get_str(errs, p, "appProtocol", path) {
        invalid_each(
            errs,
            &path.child("appProtocol"),
            ap,
            names::qualified_name(ap),
        );
    }
}

/// Upstream's `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips(errs: &mut Errs, svc: &Svc<'_>, path: &Path) {
    if svc.ty == "ExternalName" {
        return;
    }
    let ips_path = path.child("clusterIPs");
    if !svc.cluster_ip.is_empty() {
        if svc
            .raw_ips
            .first()
            .is_some_and(|first| *first != svc.cluster_ip)
        {
            errs.push(FieldError::invalid(
                &ips_path,
                Value::from(svc.raw_ips.clone()),
                "first value must match `clusterIP`",
            ));
        }
    } else if !svc.raw_ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            Value::from(svc.raw_ips.clone()),
            "must be empty when `clusterIP` is not specified",
        ));
    }

    let families_path = path.child("ipFamilies");
    let mut seen = HashSet::new();
    for (i, f) in svc.families.iter().enumerate() {
        if *f != "IPv4" && *f != "IPv6" {
            errs.push(FieldError::not_supported(
                families_path.index(i),
                Value::from(*f),
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(*f) {
            errs.push(FieldError::duplicate(
                families_path.index(i),
                Value::from(*f),
            ));
        }
    }
    if let Some(p) = svc.family_policy {
        let valid = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !valid.contains(&p) {
            errs.push(FieldError::not_supported(
                path.child("ipFamilyPolicy"),
                Value::from(p),
                &valid,
            ));
        }
    }

    let mut families = Vec::new();
    for (i, ip) in svc.ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if svc.ips.len() > 1 {
                errs.push(FieldError::invalid(
                    &ips_path,
                    Value::from(svc.ips.clone()),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        match ip.parse::<IpAddr>() {
            Ok(addr) => families.push(addr.is_ipv4()),
            Err(_) => errs.push(FieldError::invalid(
                ips_path.index(i),
                Value::from(*ip),
                IP_MSG,
            )),
        }
    }
    if svc.ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            Value::from(svc.ips.clone()),
            "may only hold up to 2 values",
        ));
    } else if families.len() == 2 && families[0] == families[1] {
        errs.push(FieldError::invalid(
            &ips_path,
            Value::from(svc.ips.clone()),
            "may specify no more than one IP for each IP family",
        ));
    }
}

/// Whether a string is an IP network in CIDR notation.
fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max)
}
