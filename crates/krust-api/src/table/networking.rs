//! Rows of networking.k8s.io/v1 (Ingress, IngressClass, NetworkPolicy) and
//! discovery.k8s.io/v1 (EndpointSlice) kinds.

use super::{
    AGE, NAME, Printer, age_cell, arr_at, col, format_label_selector, join_with_more,
    load_balancer_ingress, name_cell, obj_at, s, str_at,
};
use crate::meta::get_path;
use serde_json::Value;

pub(super) const INGRESS: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Class",
            "string",
            "The IngressClass that handles this ingress.",
        ),
        col(
            "Hosts",
            "string",
            "The hosts incoming requests are matched against.",
        ),
        col(
            "Address",
            "string",
            "The ingress points of the load balancer.",
        ),
        col("Ports", "string", "The ports the ingress serves."),
        AGE,
    ],
    cells: ingress_cells,
};

pub(super) const INGRESS_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Controller",
            "string",
            "The controller that implements this class.",
        ),
        col(
            "Parameters",
            "string",
            "The resource holding additional parameters for the class.",
        ),
        AGE,
    ],
    cells: ingress_class_cells,
};

pub(super) const NETWORK_POLICY: Printer = Printer {
    columns: &[
        NAME,
        col("Pod-Selector", "string", "The pods the policy applies to."),
        AGE,
    ],
    cells: network_policy_cells,
};

pub(super) const ENDPOINT_SLICE: Printer = Printer {
    columns: &[
        NAME,
        col(
            "AddressType",
            "string",
            "The type of the addresses in the slice.",
        ),
        col("Ports", "string", "The ports of the endpoints."),
        col("Endpoints", "string", "The addresses of the endpoints."),
        AGE,
    ],
    cells: endpoint_slice_cells,
};

/// The Hosts cell: up to three hosts, `*` when none.
fn ingress_hosts(ing: &Value) -> String {
    const MAX: usize = 3;
    let rules = arr_at(ing, &["spec", "rules"]);
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host.to_string());
        }
    }
    if list.is_empty() {
        return "*".into();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len().saturating_sub(MAX))
    } else {
        ret
    }
}

fn ingress_cells(ing: &Value) -> Vec<Value> {
    let class = get_path(ing, &["spec", "ingressClassName"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ports = if arr_at(ing, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name_cell(ing),
        s(class),
        s(ingress_hosts(ing)),
        s(load_balancer_ingress(
            ing,
            &["status", "loadBalancer", "ingress"],
        )),
        s(ports),
        age_cell(ing),
    ]
}

fn ingress_class_cells(ic: &Value) -> Vec<Value> {
    let parameters = if obj_at(ic, &["spec", "parameters"]).is_some() {
        let kind = str_at(ic, &["spec", "parameters", "kind"]);
        let name = str_at(ic, &["spec", "parameters", "name"]);
        match get_path(ic, &["spec", "parameters", "apiGroup"]).and_then(Value::as_str) {
            Some(group) => format!("{kind}.{group}/{name}"),
            None => format!("{kind}/{name}"),
        }
    } else {
        "<none>".to_string()
    };
    vec![
        name_cell(ic),
        s(str_at(ic, &["spec", "controller"])),
        s(parameters),
        age_cell(ic),
    ]
}

fn network_policy_cells(np: &Value) -> Vec<Value> {
    // `podSelector` is not a pointer upstream: a missing one is the empty selector.
    let selector = get_path(np, &["spec", "podSelector"])
        .filter(|v| !v.is_null())
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    vec![
        name_cell(np),
        s(format_label_selector(Some(&selector))),
        age_cell(np),
    ]
}

/// Up to three items and a count of more, or `<unset>` (upstream's `listWithMoreString`).
fn list_or_unset(list: &[String], total: usize) -> String {
    let ret = join_with_more(list, total, 3);
    if ret.is_empty() {
        "<unset>".into()
    } else {
        ret
    }
}

fn endpoint_slice_cells(es: &Value) -> Vec<Value> {
    let ports = arr_at(es, &["ports"]);
    let port_list: Vec<String> = ports
        .iter()
        .map(|p| match get_path(p, &["port"]).and_then(Value::as_i64) {
            Some(port) => port.to_string(),
            None => get_path(p, &["name"])
                .and_then(Value::as_str)
                .unwrap_or("*")
                .to_string(),
        })
        .collect();
    let addresses: Vec<String> = arr_at(es, &["endpoints"])
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]).iter())
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    vec![
        name_cell(es),
        s(str_at(es, &["addressType"])),
        s(list_or_unset(&port_list, port_list.len())),
        s(list_or_unset(&addresses, addresses.len())),
        age_cell(es),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ago, row};
    use serde_json::{Value, json};

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": ago(600)})
    }

    #[test]
    fn ingresses() {
        let cases: Vec<(Value, [&str; 6])> = vec![
            (
                json!({"metadata": meta("web"), "spec": {"ingressClassName": "nginx",
                    "rules": [{"host": "a.example.com"}, {"http": {}}, {"host": "b.example.com"}],
                    "tls": [{"hosts": ["a.example.com"]}]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}}),
                [
                    "web",
                    "nginx",
                    "a.example.com,b.example.com",
                    "10.0.0.5",
                    "80, 443",
                    "10m",
                ],
            ),
            (
                json!({"metadata": meta("any"), "spec": {"defaultBackend": {}}}),
                ["any", "<none>", "*", "", "80", "10m"],
            ),
            (
                json!({"metadata": meta("many"), "spec": {"rules": [{"host": "a"}, {"host": "b"},
                    {"host": "c"}, {"host": "d"}, {"host": "e"}]}}),
                ["many", "<none>", "a,b,c + 2 more...", "", "80", "10m"],
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(row("networking.k8s.io", "Ingress", &obj), want);
        }
    }

    #[test]
    fn ingress_classes_and_policies() {
        let ic = json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(
            row("networking.k8s.io", "IngressClass", &ic),
            [
                "nginx",
                "k8s.io/ingress-nginx",
                "IngressParameters.k8s.example.com/p",
                "10m"
            ]
        );
        let core = json!({"metadata": meta("c"), "spec": {"controller": "x",
            "parameters": {"kind": "ConfigMap", "name": "cfg"}}});
        assert_eq!(
            row("networking.k8s.io", "IngressClass", &core)[2],
            "ConfigMap/cfg"
        );
        let bare = json!({"metadata": meta("b"), "spec": {"controller": "x"}});
        assert_eq!(row("networking.k8s.io", "IngressClass", &bare)[2], "<none>");

        let np = json!({"metadata": meta("deny"), "spec": {"podSelector": {}}});
        assert_eq!(
            row("networking.k8s.io", "NetworkPolicy", &np),
            ["deny", "<none>", "10m"]
        );
        let np = json!({"metadata": meta("web"), "spec": {"podSelector": {"matchLabels": {"app": "web"}}}});
        assert_eq!(row("networking.k8s.io", "NetworkPolicy", &np)[1], "app=web");
    }

    #[test]
    fn endpoint_slices() {
        let es = json!({"metadata": meta("web-abc"), "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}, {"name": "metrics"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]},
                          {"addresses": ["10.0.0.4"]}]});
        assert_eq!(
            row("discovery.k8s.io", "EndpointSlice", &es),
            [
                "web-abc",
                "IPv4",
                "80,metrics,*",
                "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
                "10m"
            ]
        );
        let empty = json!({"metadata": meta("e"), "addressType": "IPv6"});
        assert_eq!(
            row("discovery.k8s.io", "EndpointSlice", &empty),
            ["e", "IPv6", "<unset>", "<unset>", "10m"]
        );
    }
}
