//! Table columns and rows for `kubectl get` (`meta.k8s.io/v1` Table), per built-in kind, as
//! upstream's printers define them (Kubernetes v1.33, `pkg/printers/internalversion`).
//!
//! Upstream's API server always renders tables with the wide option on and lets `kubectl`
//! hide the columns of priority > 0, so [`cells`] always returns one cell per column of
//! [`columns`], wide columns included.
//!
//! Objects arrive as `serde_json::Value` in their storage version. Every field may be absent or
//! of the wrong type: the printers fall back to upstream's zero values and never panic.
//!
//! Kinds upstream prints with the default table convertor (Role, ClusterRole, LimitRange,
//! CustomResourceDefinition, and every kind not listed here) get the generic Name and
//! Created At columns.

mod admin;
mod apps;
mod batch;
mod cluster;
mod corev1;
mod event;
mod networking;
mod pod;

use crate::meta::get_path;
use crate::selector::{LabelSelector, Op};
use serde_json::{Map, Value};

/// One column definition of a Table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// `name` for the Name column, else usually empty.
    pub format: String,
    pub description: String,
    /// 0 = always shown, >0 = only with `-o wide`.
    pub priority: i32,
}

/// The columns for a kind (generic fallback: Name, Created At).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    let defs = match printer(group, kind) {
        Some(p) => p.columns,
        None => GENERIC_COLUMNS,
    };
    defs.iter().copied().map(Col::to_column).collect()
}

/// The cells of one row, in the order of [`columns`].
pub fn cells(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
    match printer(group, kind) {
        Some(p) => (p.cells)(obj),
        None => vec![
            Value::String(crate::meta::name(obj).to_string()),
            get_path(obj, &["metadata", "creationTimestamp"])
                .cloned()
                .unwrap_or(Value::Null),
        ],
    }
}

/// A kind's column definitions and row function.
struct Printer {
    columns: &'static [Col],
    cells: fn(&Value) -> Vec<Value>,
}

/// The printer of a built-in kind, if upstream registers one.
fn printer(group: &str, kind: &str) -> Option<Printer> {
    Some(match (group, kind) {
        ("", "Pod") => pod::POD,
        ("", "Service") => corev1::SERVICE,
        ("", "Endpoints") => corev1::ENDPOINTS,
        ("", "Node") => corev1::NODE,
        ("", "Namespace") => corev1::NAMESPACE,
        ("", "ConfigMap") => corev1::CONFIG_MAP,
        ("", "Secret") => corev1::SECRET,
        ("", "ServiceAccount") => corev1::SERVICE_ACCOUNT,
        ("", "PersistentVolume") => corev1::PERSISTENT_VOLUME,
        ("", "PersistentVolumeClaim") => corev1::PERSISTENT_VOLUME_CLAIM,
        ("", "ResourceQuota") => corev1::RESOURCE_QUOTA,
        ("", "ReplicationController") => apps::REPLICATION_CONTROLLER,
        ("", "PodTemplate") => apps::POD_TEMPLATE,
        ("", "Event") => event::CORE_EVENT,
        ("events.k8s.io", "Event") => event::EVENTS_EVENT,
        ("apps", "Deployment") => apps::DEPLOYMENT,
        ("apps", "ReplicaSet") => apps::REPLICA_SET,
        ("apps", "StatefulSet") => apps::STATEFUL_SET,
        ("apps", "DaemonSet") => apps::DAEMON_SET,
        ("apps", "ControllerRevision") => apps::CONTROLLER_REVISION,
        ("batch", "Job") => batch::JOB,
        ("batch", "CronJob") => batch::CRON_JOB,
        ("autoscaling", "HorizontalPodAutoscaler") => cluster::HPA,
        ("networking.k8s.io", "Ingress") => networking::INGRESS,
        ("networking.k8s.io", "IngressClass") => networking::INGRESS_CLASS,
        ("networking.k8s.io", "NetworkPolicy") => networking::NETWORK_POLICY,
        ("discovery.k8s.io", "EndpointSlice") => networking::ENDPOINT_SLICE,
        ("coordination.k8s.io", "Lease") => cluster::LEASE,
        ("storage.k8s.io", "StorageClass") => cluster::STORAGE_CLASS,
        ("rbac.authorization.k8s.io", "RoleBinding") => cluster::ROLE_BINDING,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => cluster::CLUSTER_ROLE_BINDING,
        ("policy", "PodDisruptionBudget") => cluster::POD_DISRUPTION_BUDGET,
        ("scheduling.k8s.io", "PriorityClass") => cluster::PRIORITY_CLASS,
        ("certificates.k8s.io", "CertificateSigningRequest") => cluster::CSR,
        ("node.k8s.io", "RuntimeClass") => admin::RUNTIME_CLASS,
        ("storage.k8s.io", "CSIDriver") => admin::CSI_DRIVER,
        ("storage.k8s.io", "CSINode") => admin::CSI_NODE,
        ("storage.k8s.io", "CSIStorageCapacity") => admin::CSI_STORAGE_CAPACITY,
        ("storage.k8s.io", "VolumeAttachment") => admin::VOLUME_ATTACHMENT,
        ("storage.k8s.io", "VolumeAttributesClass") => admin::VOLUME_ATTRIBUTES_CLASS,
        ("networking.k8s.io", "ServiceCIDR") => admin::SERVICE_CIDR,
        ("networking.k8s.io", "IPAddress") => admin::IP_ADDRESS,
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => admin::WEBHOOK_CONFIGURATION,
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            admin::VALIDATING_ADMISSION_POLICY
        }
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => {
            admin::MUTATING_ADMISSION_POLICY
        }
        (
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding" | "MutatingAdmissionPolicyBinding",
        ) => admin::ADMISSION_POLICY_BINDING,
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => admin::FLOW_SCHEMA,
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => admin::PRIORITY_LEVEL,
        ("apiregistration.k8s.io", "APIService") => admin::API_SERVICE,
        _ => return None,
    })
}

/// A column definition as a constant.
#[derive(Clone, Copy, Debug)]
struct Col {
    name: &'static str,
    type_: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Col {
    fn to_column(self) -> Column {
        Column {
            name: self.name.to_string(),
            type_: self.type_.to_string(),
            format: self.format.to_string(),
            description: self.description.to_string(),
            priority: self.priority,
        }
    }
}

/// A column shown always.
const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Col {
    Col {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown only with `-o wide`.
const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Col {
    Col {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace.";
const AGE_DESC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

/// The Name column every printer (but Event's) starts with.
const NAME: Col = Col {
    name: "Name",
    type_: "string",
    format: "name",
    description: NAME_DESC,
    priority: 0,
};
/// The Age column: time since creation, as a string.
const AGE: Col = col("Age", "string", AGE_DESC);
/// The wide Containers column of workload kinds.
const CONTAINERS: Col = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
/// The wide Images column of workload kinds.
const IMAGES: Col = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

const GENERIC_COLUMNS: &[Col] = &[NAME, col("Created At", "date", AGE_DESC)];

// ---- accessors ------------------------------------------------------------------------------

/// The string at a path, or `""` (also for null or non-strings).
fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    crate::meta::get_str(obj, path).unwrap_or("")
}

/// The integer at a path, or 0.
fn int_at(obj: &Value, path: &[&str]) -> i64 {
    get_path(obj, path).and_then(as_int).unwrap_or(0)
}

/// The integer at a path, if present and an integer.
fn opt_int_at(obj: &Value, path: &[&str]) -> Option<i64> {
    get_path(obj, path).and_then(as_int)
}

/// An integer value (also a float with no fraction, as JSON decoders may produce).
fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// The boolean at a path, if present and a boolean.
fn bool_at(obj: &Value, path: &[&str]) -> Option<bool> {
    get_path(obj, path)?.as_bool()
}

/// The array at a path, or an empty slice.
fn arr_at<'a>(obj: &'a Value, path: &[&str]) -> &'a [Value] {
    get_path(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The object at a path, if present and an object (null counts as absent, like a nil pointer).
fn obj_at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get_path(obj, path)?.as_object()
}

/// The strings of the array at a path (non-strings skipped).
fn strs_at<'a>(obj: &'a Value, path: &[&str]) -> Vec<&'a str> {
    arr_at(obj, path).iter().filter_map(Value::as_str).collect()
}

// ---- cells ----------------------------------------------------------------------------------

/// A string cell.
fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// An integer cell.
fn n(v: i64) -> Value {
    Value::from(v)
}

/// The Name cell.
fn name_cell(obj: &Value) -> Value {
    s(crate::meta::name(obj))
}

/// The Age cell: time since `metadata.creationTimestamp`.
fn age_cell(obj: &Value) -> Value {
    s(since(str_at(obj, &["metadata", "creationTimestamp"])))
}

/// upstream's `translateTimestampSince`: `<unknown>` for a missing timestamp.
fn since(ts: &str) -> String {
    if ts.is_empty() {
        return "<unknown>".into();
    }
    crate::time::age(Some(ts))
}

/// `value`, or `default` when empty.
fn or(value: &str, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value.to_string()
    }
}

/// upstream's `printBool`.
fn print_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// upstream's `printBoolPtr`: `<unset>` when absent.
fn print_bool_ptr(b: Option<bool>) -> String {
    b.map(print_bool).unwrap_or("<unset>").to_string()
}

/// Names and images of containers, comma-joined (upstream's `layoutContainerCells`).
fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// A label map as `a=b,c=d`, sorted by key, or `<none>` (upstream's `labels.FormatLabels`).
fn format_labels(v: Option<&Value>) -> String {
    let mut pairs: Vec<(&str, String)> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str(), scalar_string(v)))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        return "<none>".into();
    }
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A scalar as text (strings unquoted).
fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A structured label selector in its string form (values of set operators sorted, as
/// upstream's `Requirement.String` prints them). Missing and empty selectors give `""`.
fn selector_string(v: Option<&Value>) -> Result<String, crate::selector::SelectorError> {
    let mut sel = LabelSelector::from_structured(v)?;
    for r in &mut sel.requirements {
        if matches!(r.op, Op::In | Op::NotIn) {
            r.values.sort();
        }
    }
    Ok(sel.to_string())
}

/// upstream's `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
fn format_label_selector(v: Option<&Value>) -> String {
    match selector_string(v) {
        Ok(s) if s.is_empty() => "<none>".into(),
        Ok(s) => s,
        Err(_) => "<error>".into(),
    }
}

/// A resource quantity as text (a string, or a bare JSON number).
fn quantity(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(num) => Some(num.to_string()),
        _ => None,
    }
}

/// An int-or-string as text.
fn int_or_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(num) => Some(as_int(&Value::Number(num.clone()))?.to_string()),
        _ => None,
    }
}

/// Up to `max` items joined with `,`, then ` + N more...` (upstream's `listWithMoreString`
/// without the `<unset>` default).
fn join_with_more(list: &[String], total: usize, max: usize) -> String {
    let shown: Vec<&str> = list.iter().take(max).map(String::as_str).collect();
    let ret = shown.join(",");
    if total > max {
        format!("{ret} + {} more...", total - max)
    } else {
        ret
    }
}

/// Load-balancer ingress points (IP, else hostname), deduplicated, sorted and comma-joined.
fn load_balancer_ingress(obj: &Value, path: &[&str]) -> String {
    let mut set: Vec<&str> = arr_at(obj, path)
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.sort_unstable();
    set.dedup();
    set.join(",")
}

/// A parsed RFC 3339 timestamp; `None` when empty or unparsable.
fn parse_ts(ts: &str) -> Option<jiff::Timestamp> {
    if ts.is_empty() {
        return None;
    }
    crate::time::parse(ts)
}

/// upstream's `duration.HumanDuration` of the time since a parsed timestamp.
fn human_since(t: jiff::Timestamp) -> String {
    crate::time::human_duration(jiff::Timestamp::now().as_second() - t.as_second())
}

#[cfg(test)]
mod test_util {
    use serde_json::Value;

    /// A timestamp `secs` seconds ago.
    pub fn ago(secs: i64) -> String {
        crate::time::rfc3339_after(-secs)
    }

    /// The cells as text (strings unquoted) for compact assertions.
    pub fn texts(cells: &[Value]) -> Vec<String> {
        cells.iter().map(super::scalar_string).collect()
    }

    /// The cells of an object, as text.
    pub fn row(group: &str, kind: &str, obj: &Value) -> Vec<String> {
        texts(&super::cells(group, kind, obj))
    }

    /// The column names of a kind.
    pub fn names(group: &str, kind: &str) -> Vec<String> {
        super::columns(group, kind)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use serde_json::json;

    /// Every kind with a printer (and a few without).
    const KINDS: &[(&str, &str)] = &[
        ("", "Pod"),
        ("", "Service"),
        ("", "Endpoints"),
        ("", "Node"),
        ("", "Namespace"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "ServiceAccount"),
        ("", "Event"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "ResourceQuota"),
        ("", "LimitRange"),
        ("", "ReplicationController"),
        ("", "PodTemplate"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("events.k8s.io", "Event"),
        ("coordination.k8s.io", "Lease"),
        ("storage.k8s.io", "StorageClass"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("policy", "PodDisruptionBudget"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("example.com", "Widget"),
    ];

    #[test]
    fn every_kind_has_one_name_column_and_matching_cells() {
        let garbage = [
            json!({}),
            json!(null),
            json!("text"),
            json!([1, 2]),
            json!({"metadata": 5, "spec": "x", "status": [1], "data": 3}),
            json!({"spec": {"containers": "x", "ports": [1, "a", null], "selector": 7,
                "template": {"spec": {"containers": [5]}}, "rules": [null], "metrics": [{}]},
                "status": {"containerStatuses": [{"state": 3}], "initContainerStatuses": [7],
                "conditions": "x", "hard": {"cpu": 1}, "loadBalancer": {"ingress": [1]}},
                "subsets": [{"addresses": [1], "ports": [{}]}], "endpoints": [{"addresses": 3}],
                "involvedObject": 4, "series": 1, "subjects": [3], "roleRef": []}),
        ];
        for (group, kind) in KINDS {
            let cols = columns(group, kind);
            let names: Vec<&Column> = cols.iter().filter(|c| c.format == "name").collect();
            assert_eq!(names.len(), 1, "{group}/{kind}");
            assert_eq!(names[0].name, "Name", "{group}/{kind}");
            if *kind != "Event" {
                assert_eq!(cols[0].name, "Name", "{group}/{kind}");
                assert_eq!(cols[0].priority, 0, "{group}/{kind}");
            }
            for c in &cols {
                assert!(
                    ["string", "integer", "number", "boolean", "date"].contains(&c.type_.as_str()),
                    "{group}/{kind} {}",
                    c.name
                );
                assert!(!c.description.is_empty(), "{group}/{kind} {}", c.name);
            }
            for obj in &garbage {
                assert_eq!(
                    cells(group, kind, obj).len(),
                    cols.len(),
                    "{group}/{kind} {obj}"
                );
            }
        }
    }

    #[test]
    fn generic_fallback() {
        for (g, k) in [
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("", "LimitRange"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Widget"),
        ] {
            assert_eq!(names(g, k), ["Name", "Created At"]);
            let obj =
                json!({"metadata": {"name": "x", "creationTimestamp": "2024-01-02T03:04:05Z"}});
            assert_eq!(
                cells(g, k, &obj),
                [json!("x"), json!("2024-01-02T03:04:05Z")]
            );
            assert_eq!(columns(g, k)[1].type_, "date");
        }
    }

    #[test]
    fn column_counts_and_wide_columns() {
        let cases: &[(&str, &str, usize, &[&str])] = &[
            (
                "",
                "Pod",
                9,
                &["IP", "Node", "Nominated Node", "Readiness Gates"],
            ),
            ("", "Service", 7, &["Selector"]),
            ("", "Endpoints", 3, &[]),
            (
                "",
                "Node",
                10,
                &[
                    "Internal-IP",
                    "External-IP",
                    "OS-Image",
                    "Kernel-Version",
                    "Container-Runtime",
                ],
            ),
            ("", "Namespace", 3, &[]),
            ("", "ConfigMap", 3, &[]),
            ("", "Secret", 4, &[]),
            ("", "ServiceAccount", 3, &[]),
            (
                "",
                "Event",
                10,
                &["Subobject", "Source", "First Seen", "Count", "Name"],
            ),
            (
                "events.k8s.io",
                "Event",
                10,
                &["Subobject", "Source", "First Seen", "Count", "Name"],
            ),
            ("", "PersistentVolume", 11, &["VolumeMode"]),
            ("", "PersistentVolumeClaim", 9, &["VolumeMode"]),
            ("", "ResourceQuota", 4, &[]),
            (
                "",
                "ReplicationController",
                8,
                &["Containers", "Images", "Selector"],
            ),
            ("", "PodTemplate", 4, &[]),
            (
                "apps",
                "Deployment",
                8,
                &["Containers", "Images", "Selector"],
            ),
            (
                "apps",
                "ReplicaSet",
                8,
                &["Containers", "Images", "Selector"],
            ),
            ("apps", "StatefulSet", 5, &["Containers", "Images"]),
            (
                "apps",
                "DaemonSet",
                11,
                &["Containers", "Images", "Selector"],
            ),
            ("apps", "ControllerRevision", 4, &[]),
            ("batch", "Job", 8, &["Containers", "Images", "Selector"]),
            (
                "batch",
                "CronJob",
                10,
                &["Containers", "Images", "Selector"],
            ),
            ("autoscaling", "HorizontalPodAutoscaler", 7, &[]),
            ("networking.k8s.io", "Ingress", 6, &[]),
            ("networking.k8s.io", "IngressClass", 4, &[]),
            ("networking.k8s.io", "NetworkPolicy", 3, &[]),
            ("discovery.k8s.io", "EndpointSlice", 5, &[]),
            ("coordination.k8s.io", "Lease", 3, &[]),
            ("storage.k8s.io", "StorageClass", 6, &[]),
            (
                "rbac.authorization.k8s.io",
                "RoleBinding",
                6,
                &["Users", "Groups", "ServiceAccounts"],
            ),
            (
                "rbac.authorization.k8s.io",
                "ClusterRoleBinding",
                6,
                &["Users", "Groups", "ServiceAccounts"],
            ),
            ("policy", "PodDisruptionBudget", 5, &[]),
            ("scheduling.k8s.io", "PriorityClass", 5, &[]),
            ("certificates.k8s.io", "CertificateSigningRequest", 6, &[]),
        ];
        for (g, k, count, wide_cols) in cases {
            let cols = columns(g, k);
            assert_eq!(cols.len(), *count, "{g}/{k}");
            let wide: Vec<&str> = cols
                .iter()
                .filter(|c| c.priority > 0)
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(&wide, wide_cols, "{g}/{k}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]},
                                     {"key": "env", "operator": "Exists"}]}))),
            "app=web,env,tier in (a,b)"
        );
        assert_eq!(
            format_label_selector(Some(
                &json!({"matchExpressions": [{"key": "x", "operator": "Bad"}]})
            )),
            "<error>"
        );
        assert_eq!(since(""), "<unknown>");
        assert_eq!(since("garbage"), "<unknown>");
        assert_eq!(since(&ago(3 * 3600)), "3h");
        assert_eq!(quantity(Some(&json!("1Gi"))).as_deref(), Some("1Gi"));
        assert_eq!(quantity(Some(&json!(2))).as_deref(), Some("2"));
        assert_eq!(int_or_string(Some(&json!("50%"))).as_deref(), Some("50%"));
        assert_eq!(int_or_string(Some(&json!(3))).as_deref(), Some("3"));
        assert_eq!(int_or_string(Some(&json!(null))), None);
        let list: Vec<String> = ["a", "b", "c", "d"].iter().map(|x| x.to_string()).collect();
        assert_eq!(join_with_more(&list, 5, 3), "a,b,c + 2 more...");
        assert_eq!(join_with_more(&list[..2], 2, 3), "a,b");
    }
}
