//! Defaults of networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy) and
//! discovery.k8s.io/v1 (EndpointSlice) kinds.

use super::{Obj, default_ptr, each_obj, empty_list, ensure};
use serde_json::{Value, json};

/// An Ingress always shows an (empty) load balancer status, as Go serializes the struct.
pub(super) fn ingress(root: &mut Obj) {
    if let Some(status) = ensure(root, "status") {
        default_ptr(status, "loadBalancer", json!({}));
    }
}

/// IngressClass parameters are cluster-scoped unless a scope is given.
pub(super) fn ingress_class(root: &mut Obj) {
    if let Some(params) = super::child(root, "spec").and_then(|s| super::child(s, "parameters")) {
        default_ptr(params, "scope", "Cluster");
    }
}

/// NetworkPolicy ports default to TCP; policy types to `Ingress`, plus `Egress` when the
/// policy has egress rules.
pub(super) fn network_policy(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    for direction in ["ingress", "egress"] {
        each_obj(spec, direction, |rule| {
            each_obj(rule, "ports", |p| default_ptr(p, "protocol", "TCP"));
        });
    }
    if empty_list(spec, "policyTypes") {
        let has_egress = spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        let types = if has_egress {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        spec.insert("policyTypes".into(), types);
    }
}

/// EndpointSlice ports default to an empty name and TCP; every endpoint shows its conditions.
pub(super) fn endpoint_slice(root: &mut Obj) {
    each_obj(root, "ports", |p| {
        default_ptr(p, "name", "");
        default_ptr(p, "protocol", "TCP");
    });
    each_obj(root, "endpoints", |e| {
        default_ptr(e, "conditions", json!({}))
    });
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::json;

    #[test]
    fn networking() {
        let cases: Vec<Case> = vec![
            (
                "networking.k8s.io",
                "NetworkPolicy",
                json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80},
                    {"port": 53, "protocol": "UDP"}]}]}}),
                json!({"spec": {"podSelector": {}, "ingress": [{"ports": [
                    {"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}],
                    "policyTypes": ["Ingress"]}}),
            ),
            (
                "networking.k8s.io",
                "NetworkPolicy",
                json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 443}]}]}}),
                json!({"spec": {"podSelector": {}, "egress": [{"ports": [
                    {"port": 443, "protocol": "TCP"}]}], "policyTypes": ["Ingress", "Egress"]}}),
            ),
            (
                "networking.k8s.io",
                "NetworkPolicy",
                json!({"spec": {"policyTypes": ["Egress"], "egress": []}}),
                json!({"spec": {"policyTypes": ["Egress"], "egress": []}}),
            ),
            (
                "networking.k8s.io",
                "Ingress",
                json!({"spec": {"rules": []}}),
                json!({"spec": {"rules": []}, "status": {"loadBalancer": {}}}),
            ),
            (
                "networking.k8s.io",
                "IngressClass",
                json!({"spec": {"controller": "x/y", "parameters": {"kind": "P", "name": "p"}}}),
                json!({"spec": {"controller": "x/y", "parameters": {"kind": "P", "name": "p",
                    "scope": "Cluster"}}}),
            ),
            (
                "networking.k8s.io",
                "IngressClass",
                json!({"spec": {"controller": "x/y"}}),
                json!({"spec": {"controller": "x/y"}}),
            ),
            (
                "discovery.k8s.io",
                "EndpointSlice",
                json!({"addressType": "IPv4", "ports": [{"port": 80}, {"name": "dns",
                    "port": 53, "protocol": "UDP"}], "endpoints": [{"addresses": ["10.0.0.1"]},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": true}}]}),
                json!({"addressType": "IPv4", "ports": [{"port": 80, "name": "",
                    "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}],
                    "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {}},
                    {"addresses": ["10.0.0.2"], "conditions": {"ready": true}}]}),
            ),
        ];
        run(cases);
    }
}
