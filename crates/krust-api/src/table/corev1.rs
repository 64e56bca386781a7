//! Rows of core/v1 kinds other than Pod, Event and the pod controllers: Service, Endpoints,
//! Node, Namespace, ConfigMap, Secret, ServiceAccount, PersistentVolume(Claim), ResourceQuota.

use super::{
    AGE, NAME, Printer, age_cell, arr_at, bool_at, col, format_labels, int_at,
    load_balancer_ingress, n, name_cell, obj_at, or, quantity, s, str_at, strs_at, wide,
};
use crate::meta::get_path;
use serde_json::Value;

pub(super) const SERVICE: Printer = Printer {
    columns: &[
        NAME,
        col("Type", "string", "How the service is exposed."),
        col(
            "Cluster-IP",
            "string",
            "The IP address of the service inside the cluster.",
        ),
        col(
            "External-IP",
            "string",
            "The addresses the service is reachable at from outside the cluster.",
        ),
        col("Port(s)", "string", "The ports the service exposes."),
        AGE,
        wide(
            "Selector",
            "string",
            "The labels of the pods traffic is routed to.",
        ),
    ],
    cells: service_cells,
};

pub(super) const ENDPOINTS: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Endpoints",
            "string",
            "The addresses and ports of the endpoints.",
        ),
        AGE,
    ],
    cells: endpoints_cells,
};

pub(super) const NODE: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        AGE,
        col("Version", "string", "The kubelet version of the node."),
        wide("Internal-IP", "string", "The internal address of the node."),
        wide("External-IP", "string", "The external address of the node."),
        wide("OS-Image", "string", "The OS image reported by the node."),
        wide(
            "Kernel-Version",
            "string",
            "The kernel version reported by the node.",
        ),
        wide(
            "Container-Runtime",
            "string",
            "The container runtime version reported by the node.",
        ),
    ],
    cells: node_cells,
};

pub(super) const NAMESPACE: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "The status of the namespace"),
        AGE,
    ],
    cells: namespace_cells,
};

pub(super) const CONFIG_MAP: Printer = Printer {
    columns: &[
        NAME,
        col("Data", "string", "The number of entries in the config map."),
        AGE,
    ],
    cells: config_map_cells,
};

pub(super) const SECRET: Printer = Printer {
    columns: &[
        NAME,
        col("Type", "string", "The type of the secret."),
        col("Data", "string", "The number of entries in the secret."),
        AGE,
    ],
    cells: secret_cells,
};

pub(super) const SERVICE_ACCOUNT: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Secrets",
            "string",
            "The number of secrets the service account references.",
        ),
        AGE,
    ],
    cells: service_account_cells,
};

pub(super) const PERSISTENT_VOLUME: Printer = Printer {
    columns: &[
        NAME,
        col("Capacity", "string", "The storage capacity of the volume."),
        col(
            "Access Modes",
            "string",
            "The ways the volume can be mounted.",
        ),
        col(
            "Reclaim Policy",
            "string",
            "What happens to the volume when its claim is released.",
        ),
        col("Status", "string", "The phase of the volume."),
        col("Claim", "string", "The claim bound to the volume."),
        col("StorageClass", "string", "StorageClass of the pv"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        col("Reason", "string", "Why the volume is in its phase."),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "Whether the volume is a filesystem or a raw block device.",
        ),
    ],
    cells: persistent_volume_cells,
};

pub(super) const PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "The phase of the claim."),
        col("Volume", "string", "The volume bound to the claim."),
        col("Capacity", "string", "The capacity of the bound volume."),
        col(
            "Access Modes",
            "string",
            "The access modes of the bound volume.",
        ),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "Whether the claimed volume is a filesystem or a raw block device.",
        ),
    ],
    cells: persistent_volume_claim_cells,
};

pub(super) const RESOURCE_QUOTA: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Request",
            "string",
            "Used and hard amounts of the quota's request resources.",
        ),
        col(
            "Limit",
            "string",
            "Used and hard amounts of the quota's limit resources.",
        ),
        AGE,
    ],
    cells: resource_quota_cells,
};

// ---- Service --------------------------------------------------------------------------------

/// The External-IP cell (upstream's `getServiceExternalIP`, wide).
fn service_external_ip(svc: &Value, type_: &str) -> String {
    let external: Vec<&str> = strs_at(svc, &["spec", "externalIPs"]);
    match type_ {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc, &["status", "loadBalancer", "ingress"]);
            if !external.is_empty() {
                let mut all: Vec<&str> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(','));
                }
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".into()
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".into(),
    }
}

/// The Port(s) cell: `80/TCP`, `80:30080/TCP`, comma-joined, or `<none>`.
fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let protocol = or(str_at(p, &["protocol"]), "TCP");
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn service_cells(svc: &Value) -> Vec<Value> {
    let type_ = or(str_at(svc, &["spec", "type"]), "ClusterIP");
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(svc, &["spec", "clusterIP"]));
    vec![
        name_cell(svc),
        s(type_.as_str()),
        s(or(cluster_ip, "<none>")),
        s(service_external_ip(svc, &type_)),
        s(service_ports(svc)),
        age_cell(svc),
        s(format_labels(get_path(svc, &["spec", "selector"]))),
    ]
}

// ---- Endpoints ------------------------------------------------------------------------------

/// `ip:port`, bracketing IPv6 addresses (Go's `net.JoinHostPort`).
fn join_host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// upstream's `formatEndpoints` for all ports: the first three endpoints and a count of more.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr_at(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(p, &["port"])));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count.saturating_sub(MAX))
    } else {
        ret
    }
}

fn endpoints_cells(ep: &Value) -> Vec<Value> {
    vec![name_cell(ep), s(format_endpoints(ep)), age_cell(ep)]
}

// ---- Node -----------------------------------------------------------------------------------

/// The node's roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels.
fn node_roles(node: &Value) -> Vec<String> {
    let mut roles: Vec<String> = crate::meta::labels(node)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        (!role.is_empty()).then(|| role.to_string())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().filter(|v| !v.is_empty()).map(str::to_string)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    roles
}

/// The first address of a type, or `<none>`.
fn node_address(node: &Value, type_: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".into())
}

fn node_cells(node: &Value) -> Vec<Value> {
    // The last Ready condition wins, as upstream indexes conditions by type.
    let mut status: Vec<String> = Vec::new();
    if let Some(c) = arr_at(node, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready")
    {
        status.push(if str_at(c, &["status"]) == "True" {
            "Ready".into()
        } else {
            "NotReady".into()
        });
    }
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if bool_at(node, &["spec", "unschedulable"]) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let roles = node_roles(node);
    let info = |field: &str| or(str_at(node, &["status", "nodeInfo", field]), "<unknown>");
    vec![
        name_cell(node),
        s(status.join(",")),
        s(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        age_cell(node),
        s(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

// ---- Namespace, ConfigMap, Secret, ServiceAccount -------------------------------------------

fn namespace_cells(ns: &Value) -> Vec<Value> {
    vec![
        name_cell(ns),
        s(str_at(ns, &["status", "phase"])),
        age_cell(ns),
    ]
}

/// The number of keys of the object at `key`.
fn key_count(obj: &Value, key: &str) -> usize {
    obj_at(obj, &[key]).map_or(0, |m| m.len())
}

fn config_map_cells(cm: &Value) -> Vec<Value> {
    let count = key_count(cm, "data") + key_count(cm, "binaryData");
    vec![name_cell(cm), n(count as i64), age_cell(cm)]
}

fn secret_cells(secret: &Value) -> Vec<Value> {
    // `stringData` is write-only upstream (merged into `data`); count its keys too in case an
    // object still carries it.
    let mut keys: Vec<&String> = obj_at(secret, &["data"])
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    if let Some(sd) = obj_at(secret, &["stringData"]) {
        keys.extend(sd.keys());
    }
    keys.sort();
    keys.dedup();
    vec![
        name_cell(secret),
        s(or(str_at(secret, &["type"]), "Opaque")),
        n(keys.len() as i64),
        age_cell(secret),
    ]
}

fn service_account_cells(sa: &Value) -> Vec<Value> {
    vec![
        name_cell(sa),
        n(arr_at(sa, &["secrets"]).len() as i64),
        age_cell(sa),
    ]
}

// ---- PersistentVolume(Claim) ----------------------------------------------------------------

/// upstream's `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, deduplicated.
fn access_modes(obj: &Value, path: &[&str]) -> String {
    let modes = strs_at(obj, path);
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class of a PV or PVC: the beta annotation, else `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    if let Some(class) = crate::meta::get_path(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .and_then(Value::as_str)
    {
        return class.to_string();
    }
    str_at(obj, &["spec", "storageClassName"]).to_string()
}

/// The phase, or `Terminating` while deleting.
fn phase_or_terminating(obj: &Value) -> String {
    if crate::meta::is_deleting(obj) {
        "Terminating".into()
    } else {
        str_at(obj, &["status", "phase"]).to_string()
    }
}

/// An optional string spec field, or `<unset>`.
fn unset_or(obj: &Value, path: &[&str]) -> String {
    get_path(obj, path)
        .and_then(Value::as_str)
        .unwrap_or("<unset>")
        .to_string()
}

fn persistent_volume_cells(pv: &Value) -> Vec<Value> {
    let claim = if obj_at(pv, &["spec", "claimRef"]).is_some() {
        format!(
            "{}/{}",
            str_at(pv, &["spec", "claimRef", "namespace"]),
            str_at(pv, &["spec", "claimRef", "name"])
        )
    } else {
        String::new()
    };
    vec![
        name_cell(pv),
        s(quantity(get_path(pv, &["spec", "capacity", "storage"])).unwrap_or_else(|| "0".into())),
        s(access_modes(pv, &["spec", "accessModes"])),
        s(str_at(pv, &["spec", "persistentVolumeReclaimPolicy"])),
        s(phase_or_terminating(pv)),
        s(claim),
        s(storage_class(pv)),
        s(unset_or(pv, &["spec", "volumeAttributesClassName"])),
        s(str_at(pv, &["status", "reason"])),
        age_cell(pv),
        s(unset_or(pv, &["spec", "volumeMode"])),
    ]
}

fn persistent_volume_claim_cells(pvc: &Value) -> Vec<Value> {
    let volume = str_at(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(get_path(pvc, &["status", "capacity", "storage"]))
                .unwrap_or_else(|| "0".into()),
            access_modes(pvc, &["status", "accessModes"]),
        )
    };
    vec![
        name_cell(pvc),
        s(phase_or_terminating(pvc)),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class(pvc)),
        s(unset_or(pvc, &["spec", "volumeAttributesClassName"])),
        age_cell(pvc),
        s(unset_or(pvc, &["spec", "volumeMode"])),
    ]
}

// ---- ResourceQuota --------------------------------------------------------------------------

fn resource_quota_cells(rq: &Value) -> Vec<Value> {
    let mut resources: Vec<&String> = obj_at(rq, &["status", "hard"])
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    for r in resources {
        let used = quantity(get_path(rq, &["status", "used", r])).unwrap_or_else(|| "0".into());
        let hard = quantity(get_path(rq, &["status", "hard", r])).unwrap_or_else(|| "0".into());
        let entry = format!("{r}: {used}/{hard}");
        let mut pieces = r.split('.');
        if pieces.next() == Some("limits") && pieces.next().is_some() {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        name_cell(rq),
        s(requests.join(", ")),
        s(limits.join(", ")),
        age_cell(rq),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ago, row};
    use serde_json::{Value, json};

    fn meta(name: &str) -> Value {
        json!({"name": name, "namespace": "default", "creationTimestamp": ago(600)})
    }

    #[test]
    fn services() {
        let cases: Vec<(Value, [&str; 7])> = vec![
            (
                json!({"metadata": meta("web"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                    "clusterIPs": ["10.96.0.10"], "selector": {"app": "web", "tier": "fe"},
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 53, "protocol": "UDP"}]}}),
                [
                    "web",
                    "ClusterIP",
                    "10.96.0.10",
                    "<none>",
                    "80/TCP,53/UDP",
                    "10m",
                    "app=web,tier=fe",
                ],
            ),
            (
                json!({"metadata": meta("np"), "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.11"],
                    "externalIPs": ["1.2.3.4", "5.6.7.8"],
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}),
                [
                    "np",
                    "NodePort",
                    "10.96.0.11",
                    "1.2.3.4,5.6.7.8",
                    "80:30080/TCP",
                    "10m",
                    "<none>",
                ],
            ),
            (
                json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"],
                    "ports": [{"port": 443, "nodePort": 31443}]}}),
                [
                    "lb",
                    "LoadBalancer",
                    "10.96.0.12",
                    "<pending>",
                    "443:31443/TCP",
                    "10m",
                    "<none>",
                ],
            ),
            (
                json!({"metadata": meta("lb2"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.13"],
                    "externalIPs": ["9.9.9.9"], "ports": [{"port": 80, "protocol": "TCP"}]},
                    "status": {"loadBalancer": {"ingress": [{"ip": "3.3.3.3"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}]}}}),
                [
                    "lb2",
                    "LoadBalancer",
                    "10.96.0.13",
                    "1.1.1.1,3.3.3.3,lb.example.com,9.9.9.9",
                    "80/TCP",
                    "10m",
                    "<none>",
                ],
            ),
            (
                json!({"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
                [
                    "ext",
                    "ExternalName",
                    "<none>",
                    "db.example.com",
                    "<none>",
                    "10m",
                    "<none>",
                ],
            ),
            (
                json!({"metadata": meta("headless"), "spec": {"clusterIP": "None", "clusterIPs": ["None"],
                    "selector": {"app": "db"}}}),
                [
                    "headless",
                    "ClusterIP",
                    "None",
                    "<none>",
                    "<none>",
                    "10m",
                    "app=db",
                ],
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(row("", "Service", &obj), want);
        }
    }

    #[test]
    fn endpoints() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"metadata": meta("e")}), "<none>"),
            (
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                                    "ports": [{"port": 80}]}]}),
                "10.0.0.1:80,10.0.0.2:80",
            ),
            (
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                                    "ports": [{"port": 80}, {"port": 443}]}]}),
                "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
            ),
            (
                json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]},
                                   {"addresses": [{"ip": "10.0.0.3"}]}]}),
                "[fd00::1]:80,10.0.0.3",
            ),
            (
                json!({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]}),
                "",
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(row("", "Endpoints", &obj)[1], want, "{obj}");
        }
    }

    #[test]
    fn nodes() {
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": ago(600), "labels": {
                "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "",
                "kubernetes.io/role": "edge", "node-role.kubernetes.io/": "x"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.5"},
                              {"type": "Hostname", "address": "n1"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian", "kernelVersion": "6.1",
                             "containerRuntimeVersion": "containerd://2.0"}}});
        assert_eq!(
            row("", "Node", &node),
            [
                "n1",
                "Ready,SchedulingDisabled",
                "control-plane,edge,worker",
                "10m",
                "v1.33.0",
                "192.168.1.5",
                "<none>",
                "Debian",
                "6.1",
                "containerd://2.0"
            ]
        );
        let not_ready = json!({"metadata": {"name": "n2"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(
            row("", "Node", &not_ready),
            [
                "n2",
                "NotReady",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ]
        );
        assert_eq!(row("", "Node", &json!({}))[1], "Unknown");
    }

    #[test]
    fn simple_kinds() {
        let cases: Vec<(&str, Value, Vec<Value>)> = vec![
            (
                "Namespace",
                json!({"metadata": meta("dev"), "status": {"phase": "Active"}}),
                vec![json!("dev"), json!("Active"), json!("10m")],
            ),
            (
                "Namespace",
                json!({"metadata": meta("old"), "status": {"phase": "Terminating"}}),
                vec![json!("old"), json!("Terminating"), json!("10m")],
            ),
            (
                "ConfigMap",
                json!({"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
                vec![json!("cm"), json!(3), json!("10m")],
            ),
            (
                "ConfigMap",
                json!({"metadata": meta("empty")}),
                vec![json!("empty"), json!(0), json!("10m")],
            ),
            (
                "Secret",
                json!({"metadata": meta("tls"), "type": "kubernetes.io/tls",
                       "data": {"tls.crt": "", "tls.key": ""}}),
                vec![
                    json!("tls"),
                    json!("kubernetes.io/tls"),
                    json!(2),
                    json!("10m"),
                ],
            ),
            (
                "Secret",
                json!({"metadata": meta("s"), "data": {"a": ""}, "stringData": {"a": "x", "b": "y"}}),
                vec![json!("s"), json!("Opaque"), json!(2), json!("10m")],
            ),
            (
                "ServiceAccount",
                json!({"metadata": meta("default"), "secrets": [{"name": "tok"}]}),
                vec![json!("default"), json!(1), json!("10m")],
            ),
            (
                "ServiceAccount",
                json!({"metadata": meta("bare")}),
                vec![json!("bare"), json!(0), json!("10m")],
            ),
        ];
        for (kind, obj, want) in cases {
            assert_eq!(super::super::cells("", kind, &obj), want, "{kind} {obj}");
        }
    }

    #[test]
    fn persistent_volumes() {
        let pv = json!({"metadata": meta("pv1"), "spec": {"capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}});
        assert_eq!(
            row("", "PersistentVolume", &pv),
            [
                "pv1",
                "10Gi",
                "RWO,RWX",
                "Retain",
                "Bound",
                "default/data",
                "fast",
                "<unset>",
                "",
                "10m",
                "Filesystem"
            ]
        );
        let mut deleting = json!({"metadata": meta("pv2"), "spec": {"capacity": {"storage": "1Gi"}},
            "status": {"phase": "Released", "reason": "gone"}});
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        deleting["metadata"]["annotations"] =
            json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
        assert_eq!(
            row("", "PersistentVolume", &deleting),
            [
                "pv2",
                "1Gi",
                "",
                "",
                "Terminating",
                "",
                "legacy",
                "<unset>",
                "gone",
                "10m",
                "<unset>"
            ]
        );

        let bound = json!({"metadata": meta("data"), "spec": {"volumeName": "pv1", "storageClassName": "fast",
                "resources": {"requests": {"storage": "5Gi"}}, "volumeMode": "Filesystem",
                "volumeAttributesClassName": "gold"},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}});
        assert_eq!(
            row("", "PersistentVolumeClaim", &bound),
            [
                "data",
                "Bound",
                "pv1",
                "10Gi",
                "RWOP",
                "fast",
                "gold",
                "10m",
                "Filesystem"
            ]
        );
        let pending = json!({"metadata": meta("p"), "spec": {"resources": {"requests": {"storage": "5Gi"}}},
            "status": {"phase": "Pending"}});
        assert_eq!(
            row("", "PersistentVolumeClaim", &pending),
            ["p", "Pending", "", "", "", "", "<unset>", "10m", "<unset>"]
        );
    }

    #[test]
    fn resource_quotas() {
        let rq = json!({"metadata": meta("q"), "status": {
            "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2", "limits": "9"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}});
        assert_eq!(
            row("", "ResourceQuota", &rq),
            [
                "q",
                "limits: 0/9, pods: 3/10, requests.cpu: 500m/1",
                "limits.cpu: 1/2, limits.memory: 0/2Gi",
                "10m"
            ]
        );
        assert_eq!(
            row("", "ResourceQuota", &json!({"metadata": meta("e")}))[1..3],
            ["", ""]
        );
    }
}
