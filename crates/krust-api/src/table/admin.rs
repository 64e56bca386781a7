//! Rows of the cluster-administration kinds: RuntimeClass, the CSI storage kinds
//! (CSIDriver, CSINode, CSIStorageCapacity, VolumeAttachment, VolumeAttributesClass), the
//! Service IP kinds (ServiceCIDR, IPAddress), admission configuration (webhook
//! configurations, admission policies and bindings), API priority and fairness (FlowSchema,
//! PriorityLevelConfiguration) and APIService, with upstream's columns and cells.

use super::{
    AGE, NAME, Printer, age_cell, arr_at, bool_at, col, n, name_cell, or, print_bool, s, str_at,
};
use crate::meta::get_path;
use serde_json::Value;

pub(super) const RUNTIME_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Handler",
            "string",
            "The name of the underlying runtime and configuration.",
        ),
        AGE,
    ],
    cells: |o| vec![name_cell(o), s(str_at(o, &["handler"])), age_cell(o)],
};

pub(super) const CSI_DRIVER: Printer = Printer {
    columns: &[
        NAME,
        col(
            "AttachRequired",
            "boolean",
            "Whether the driver needs an attach operation.",
        ),
        col(
            "PodInfoOnMount",
            "boolean",
            "Whether the driver gets pod information on mount.",
        ),
        col(
            "StorageCapacity",
            "boolean",
            "Whether the driver reports storage capacity.",
        ),
        col(
            "TokenRequests",
            "string",
            "Audiences of the tokens the driver gets.",
        ),
        col(
            "RequiresRepublish",
            "boolean",
            "Whether the driver wants NodePublishVolume periodically.",
        ),
        col(
            "Modes",
            "string",
            "The volume lifecycle modes the driver supports.",
        ),
        AGE,
    ],
    cells: csi_driver_cells,
};

fn csi_driver_cells(o: &Value) -> Vec<Value> {
    let audiences: Vec<&str> = arr_at(o, &["spec", "tokenRequests"])
        .iter()
        .map(|t| str_at(t, &["audience"]))
        .collect();
    let modes: Vec<&str> = arr_at(o, &["spec", "volumeLifecycleModes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![
        name_cell(o),
        Value::Bool(bool_at(o, &["spec", "attachRequired"]).unwrap_or(true)),
        Value::Bool(bool_at(o, &["spec", "podInfoOnMount"]).unwrap_or(false)),
        Value::Bool(bool_at(o, &["spec", "storageCapacity"]).unwrap_or(false)),
        s(if audiences.is_empty() {
            "<unset>".to_string()
        } else {
            audiences.join(",")
        }),
        Value::Bool(bool_at(o, &["spec", "requiresRepublish"]).unwrap_or(false)),
        s(if modes.is_empty() {
            "Persistent".to_string()
        } else {
            modes.join(",")
        }),
        age_cell(o),
    ]
}

pub(super) const CSI_NODE: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Drivers",
            "integer",
            "The number of CSI drivers on the node.",
        ),
        AGE,
    ],
    cells: |o| {
        vec![
            name_cell(o),
            n(arr_at(o, &["spec", "drivers"]).len() as i64),
            age_cell(o),
        ]
    },
};

pub(super) const CSI_STORAGE_CAPACITY: Printer = Printer {
    columns: &[
        NAME,
        col(
            "StorageClassName",
            "string",
            "The StorageClass the capacity is for.",
        ),
        col("Capacity", "string", "The capacity reported."),
    ],
    cells: |o| {
        vec![
            name_cell(o),
            s(str_at(o, &["storageClassName"])),
            s(or(str_at(o, &["capacity"]), "<unset>")),
        ]
    },
};

pub(super) const VOLUME_ATTACHMENT: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Attacher",
            "string",
            "The volume driver attaching the volume.",
        ),
        col("PV", "string", "The PersistentVolume attached."),
        col("Node", "string", "The node the volume is attached to."),
        col("Attached", "boolean", "Whether the volume is attached."),
        AGE,
    ],
    cells: |o| {
        vec![
            name_cell(o),
            s(str_at(o, &["spec", "attacher"])),
            s(str_at(o, &["spec", "source", "persistentVolumeName"])),
            s(str_at(o, &["spec", "nodeName"])),
            Value::Bool(bool_at(o, &["status", "attached"]).unwrap_or(false)),
            age_cell(o),
        ]
    },
};

pub(super) const VOLUME_ATTRIBUTES_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("DriverName", "string", "The CSI driver the class is for."),
        AGE,
    ],
    cells: |o| vec![name_cell(o), s(str_at(o, &["driverName"])), age_cell(o)],
};

pub(super) const SERVICE_CIDR: Printer = Printer {
    columns: &[
        NAME,
        col(
            "CIDRs",
            "string",
            "The IP ranges Services get their cluster IPs from.",
        ),
        AGE,
    ],
    cells: |o| {
        let cidrs: Vec<&str> = arr_at(o, &["spec", "cidrs"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        vec![name_cell(o), s(cidrs.join(",")), age_cell(o)]
    },
};

pub(super) const IP_ADDRESS: Printer = Printer {
    columns: &[
        NAME,
        col(
            "ParentRef",
            "string",
            "The object this IP address belongs to.",
        ),
    ],
    cells: |o| {
        let parent = match get_path(o, &["spec", "parentRef"]).filter(|p| p.is_object()) {
            None => "<none>".to_string(),
            Some(p) => {
                let (group, resource) = (str_at(p, &["group"]), str_at(p, &["resource"]));
                let mut out = if group.is_empty() {
                    resource.to_lowercase()
                } else {
                    format!("{resource}.{group}").to_lowercase()
                };
                let ns = str_at(p, &["namespace"]);
                if !ns.is_empty() {
                    out.push('/');
                    out.push_str(ns);
                }
                out.push('/');
                out.push_str(str_at(p, &["name"]));
                out
            }
        };
        vec![name_cell(o), s(parent)]
    },
};

pub(super) const WEBHOOK_CONFIGURATION: Printer = Printer {
    columns: &[
        NAME,
        col("Webhooks", "integer", "The number of webhooks."),
        AGE,
    ],
    cells: |o| {
        vec![
            name_cell(o),
            n(arr_at(o, &["webhooks"]).len() as i64),
            age_cell(o),
        ]
    },
};

/// `apiVersion/kind` of a policy's `paramKind`, or `<unset>`.
fn param_kind(o: &Value) -> String {
    match get_path(o, &["spec", "paramKind"]).filter(|p| p.is_object()) {
        Some(p) => format!("{}/{}", str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
        None => "<unset>".into(),
    }
}

pub(super) const VALIDATING_ADMISSION_POLICY: Printer = Printer {
    columns: &[
        NAME,
        col("Validations", "integer", "The number of validations."),
        col(
            "ParamKind",
            "string",
            "The kind of the policy's parameters.",
        ),
        AGE,
    ],
    cells: |o| {
        vec![
            name_cell(o),
            n(arr_at(o, &["spec", "validations"]).len() as i64),
            s(param_kind(o)),
            age_cell(o),
        ]
    },
};

pub(super) const MUTATING_ADMISSION_POLICY: Printer = Printer {
    columns: &[
        NAME,
        col("Mutations", "integer", "The number of mutations."),
        col(
            "ParamKind",
            "string",
            "The kind of the policy's parameters.",
        ),
        AGE,
    ],
    cells: |o| {
        vec![
            name_cell(o),
            n(arr_at(o, &["spec", "mutations"]).len() as i64),
            s(param_kind(o)),
            age_cell(o),
        ]
    },
};

pub(super) const ADMISSION_POLICY_BINDING: Printer = Printer {
    columns: &[
        NAME,
        col("PolicyName", "string", "The policy bound."),
        col("ParamRef", "string", "The parameters of the binding."),
        AGE,
    ],
    cells: |o| {
        let param = match get_path(o, &["spec", "paramRef"]).filter(|p| p.is_object()) {
            None => "<unset>".to_string(),
            Some(p) => {
                let (ns, name) = (str_at(p, &["namespace"]), str_at(p, &["name"]));
                let name = if name.is_empty() { "*" } else { name };
                if ns.is_empty() {
                    name.to_string()
                } else {
                    format!("{ns}/{name}")
                }
            }
        };
        vec![
            name_cell(o),
            s(str_at(o, &["spec", "policyName"])),
            s(param),
            age_cell(o),
        ]
    },
};

pub(super) const FLOW_SCHEMA: Printer = Printer {
    columns: &[
        NAME,
        col(
            "PriorityLevel",
            "string",
            "The priority level this schema's requests get.",
        ),
        col("MatchingPrecedence", "string", "Lower values match first."),
        col(
            "DistinguisherMethod",
            "string",
            "How requests are split into flows.",
        ),
        AGE,
        col(
            "MissingPL",
            "string",
            "Whether the priority level is missing.",
        ),
    ],
    cells: flow_schema_cells,
};

fn flow_schema_cells(o: &Value) -> Vec<Value> {
    let method = or(
        str_at(o, &["spec", "distinguisherMethod", "type"]),
        "<none>",
    );
    let missing = arr_at(o, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Dangling")
        .map(|c| str_at(c, &["status"]).to_string())
        .unwrap_or_else(|| "?".into());
    vec![
        name_cell(o),
        s(str_at(o, &["spec", "priorityLevelConfiguration", "name"])),
        s(get_path(o, &["spec", "matchingPrecedence"])
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string()),
        s(method),
        age_cell(o),
        s(missing),
    ]
}

pub(super) const PRIORITY_LEVEL: Printer = Printer {
    columns: &[
        NAME,
        col("Type", "string", "Exempt or Limited."),
        col(
            "NominalConcurrencyShares",
            "string",
            "The share of the server's concurrency.",
        ),
        col("Queues", "string", "The number of queues."),
        col(
            "HandSize",
            "string",
            "The number of queues a flow is shuffle-sharded to.",
        ),
        col("QueueLengthLimit", "string", "The longest a queue may get."),
        AGE,
    ],
    cells: priority_level_cells,
};

fn priority_level_cells(o: &Value) -> Vec<Value> {
    let kind = str_at(o, &["spec", "type"]);
    let none = || s("<none>");
    let int = |path: &[&str]| {
        s(get_path(o, path)
            .and_then(Value::as_i64)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "<none>".into()))
    };
    let mut cells = vec![name_cell(o), s(kind)];
    if kind == "Limited" {
        cells.push(int(&["spec", "limited", "nominalConcurrencyShares"]));
        if str_at(o, &["spec", "limited", "limitResponse", "type"]) == "Queue" {
            let q = ["spec", "limited", "limitResponse", "queuing"];
            cells.push(int(&[q[0], q[1], q[2], q[3], "queues"]));
            cells.push(int(&[q[0], q[1], q[2], q[3], "handSize"]));
            cells.push(int(&[q[0], q[1], q[2], q[3], "queueLengthLimit"]));
        } else {
            cells.extend([none(), none(), none()]);
        }
    } else {
        cells.extend([none(), none(), none(), none()]);
    }
    cells.push(age_cell(o));
    cells
}

pub(super) const API_SERVICE: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Service",
            "string",
            "The service that serves this API, or Local.",
        ),
        col("Available", "string", "Whether this service is available."),
        AGE,
    ],
    cells: |o| {
        let service = match get_path(o, &["spec", "service"]).filter(|v| v.is_object()) {
            Some(svc) => format!("{}/{}", str_at(svc, &["namespace"]), str_at(svc, &["name"])),
            None => "Local".into(),
        };
        let available = arr_at(o, &["status", "conditions"])
            .iter()
            .find(|c| str_at(c, &["type"]) == "Available")
            .map(|c| {
                let status = str_at(c, &["status"]);
                if status == "True" {
                    print_bool(true).to_string()
                } else {
                    format!("{status} ({})", str_at(c, &["reason"]))
                }
            })
            .unwrap_or_else(|| "Unknown".into());
        vec![name_cell(o), s(service), s(available), age_cell(o)]
    },
};

#[cfg(test)]
mod tests {
    use super::super::test_util::row;
    use serde_json::json;

    #[test]
    fn rows() {
        let fs = json!({"metadata": {"name": "exempt"}, "spec": {"matchingPrecedence": 1,
            "priorityLevelConfiguration": {"name": "exempt"}},
            "status": {"conditions": [{"type": "Dangling", "status": "False"}]}});
        let r = row("flowcontrol.apiserver.k8s.io", "FlowSchema", &fs);
        assert_eq!(
            [&r[..4], &r[5..]].concat(),
            ["exempt", "exempt", "1", "<none>", "False"]
        );
        let plc = json!({"metadata": {"name": "system"}, "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": 30, "limitResponse": {"type": "Queue",
            "queuing": {"queues": 64, "handSize": 6, "queueLengthLimit": 50}}}}});
        let r = row(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            &plc,
        );
        assert_eq!(r[..6], ["system", "Limited", "30", "64", "6", "50"]);
        let exempt = json!({"metadata": {"name": "exempt"}, "spec": {"type": "Exempt"}});
        let r = row(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            &exempt,
        );
        assert_eq!(r[2..6], ["<none>", "<none>", "<none>", "<none>"]);
        let api = json!({"metadata": {"name": "v1.apps"}, "spec": {"group": "apps"},
            "status": {"conditions": [{"type": "Available", "status": "True"}]}});
        assert_eq!(
            row("apiregistration.k8s.io", "APIService", &api)[1..3],
            ["Local", "True"]
        );
        let ip = json!({"metadata": {"name": "10.43.0.1"}, "spec": {"parentRef": {"group": "",
            "resource": "services", "namespace": "default", "name": "kubernetes"}}});
        assert_eq!(
            row("networking.k8s.io", "IPAddress", &ip),
            ["10.43.0.1", "services/default/kubernetes"]
        );
    }
}
