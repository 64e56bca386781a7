//! Server-side defaulting of built-in kinds, on storage-version objects held as JSON.
//!
//! This follows what an upstream Kubernetes v1.33 API server does to an object between decoding
//! it and storing it: the `SetDefaults_*` functions of `pkg/apis/<group>/<version>/defaults.go`,
//! the declarative `+default` markers of `k8s.io/api`, a few defaults that registry strategies
//! and allocators apply (Service IP families, the `apiVersion`/`kind` of StatefulSet claim
//! templates), the pure parts of the `Priority` and `DefaultTolerationSeconds` admission plugins,
//! and the empty structs that Go always serializes where `kubectl get -o yaml` shows them
//! (`resources: {}`, `securityContext: {}`, `status.loadBalancer: {}`).
//!
//! Objects come from users: any field may be missing, null or of the wrong type. A default is
//! only written where its parent is an object (or missing, where upstream's parent is a struct
//! that always exists); a field of the wrong type is left for validation to report. Defaults
//! only fill what is unset (as upstream, the namespace name label is always set and a `None`
//! session affinity drops its config), so applying them twice is the same as once.
//!
//! Left to other parts of the server: anything that needs other objects or a clock (the
//! ServiceAccount admission, a PriorityClass lookup for other class names, the default
//! StorageClass, clusterIP and nodePort allocation, Job selectors and labels, status resets on
//! create), and canonicalization of resource quantities.

mod apps;
mod autoscaling;
mod batch;
mod cluster;
mod core_v1;
mod image;
mod networking;
mod pod;

use crate::meta::set_default;
use serde_json::{Map, Value};

/// A JSON object.
type Obj = Map<String, Value>;

/// Applies upstream's defaults for a kind to a storage-version object. Unknown kinds (custom
/// resources among them) are left as they are; `<Kind>List` objects get their items defaulted.
pub fn apply_defaults(group: &str, kind: &str, obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    if let Some(item_kind) = kind.strip_suffix("List")
        && let Some(items) = root.get_mut("items").and_then(Value::as_array_mut)
    {
        for item in items {
            apply_defaults(group, item_kind, item);
        }
        return;
    }
    match (group, kind) {
        ("", "Pod") => pod::pod(root),
        ("", "PodTemplate") => {
            if let Some(t) = ensure(root, "template") {
                pod::template(t);
            }
        }
        ("", "ReplicationController") => core_v1::replication_controller(root),
        ("", "Service") => core_v1::service(root),
        ("", "Endpoints") => core_v1::endpoints(root),
        ("", "Secret") => core_v1::secret(root),
        ("", "Namespace") => core_v1::namespace(root),
        ("", "Node") => core_v1::node(root),
        ("", "PersistentVolume") => core_v1::persistent_volume(root),
        ("", "PersistentVolumeClaim") => core_v1::persistent_volume_claim(root),
        ("", "LimitRange") => core_v1::limit_range(root),
        ("apps", "Deployment") => apps::deployment(root),
        ("apps", "ReplicaSet") => apps::replica_set(root),
        ("apps", "StatefulSet") => apps::stateful_set(root),
        ("apps", "DaemonSet") => apps::daemon_set(root),
        ("batch", "Job") => batch::job(root),
        ("batch", "CronJob") => batch::cron_job(root),
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaling::horizontal_pod_autoscaler(root),
        ("networking.k8s.io", "Ingress") => networking::ingress(root),
        ("networking.k8s.io", "IngressClass") => networking::ingress_class(root),
        ("networking.k8s.io", "NetworkPolicy") => networking::network_policy(root),
        ("discovery.k8s.io", "EndpointSlice") => networking::endpoint_slice(root),
        ("storage.k8s.io", "StorageClass") => cluster::storage_class(root),
        ("scheduling.k8s.io", "PriorityClass") => cluster::priority_class(root),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            cluster::role_binding(root)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            cluster::custom_resource_definition(root)
        }
        _ => {}
    }
}

/// The existing object at `key`; `None` when it is missing, null or not an object.
fn child<'a>(map: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `key`, created when missing or null (upstream's parent is a struct that always
/// exists); `None` when it has another type.
fn ensure<'a>(map: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    let entry = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// Calls `f` on every object element of the array at `key` (other elements are skipped).
fn each_obj(map: &mut Obj, key: &str, mut f: impl FnMut(&mut Obj)) {
    if let Some(items) = map.get_mut(key).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

/// Whether `key` is missing or null (an unset pointer in Go).
fn unset(map: &Obj, key: &str) -> bool {
    map.get(key).is_none_or(Value::is_null)
}

/// Whether `key` holds the zero value of a Go string: missing, null or `""`.
fn empty_str(map: &Obj, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// Whether `key` holds an empty Go slice or map: missing, null, `[]` or `{}`.
fn empty_collection(map: &Obj, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// Whether `key` holds an empty Go slice: missing, null or `[]`.
fn empty_list(map: &Obj, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// The string at `key`, `""` when missing or not a string.
fn str_of<'a>(map: &'a Obj, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Defaults a Go string field (unset when `""`).
fn default_str(map: &mut Obj, key: &str, value: &str) {
    if empty_str(map, key) {
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Defaults a Go integer field that is not a pointer (unset when 0).
fn default_int(map: &mut Obj, key: &str, value: i64) {
    let is_zero = match map.get(key) {
        None | Some(Value::Null) => true,
        Some(v) => v.as_f64() == Some(0.0),
    };
    if is_zero {
        map.insert(key.to_string(), Value::from(value));
    }
}

/// Defaults a pointer field (unset when missing or null).
fn default_ptr(map: &mut Obj, key: &str, value: impl Into<Value>) {
    set_default(map, key, value.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The article's Deployment, as `kubectl create -f` sends it.
    fn article_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [
                        {"name": "nginx", "image": "nginx:1.7.9", "ports": [{"containerPort": 80}]}
                    ]}
                }
            }
        })
    }

    /// The defaulted pod spec of a template with one container, `nginx:1.7.9` on port 80.
    fn defaulted_nginx_template_spec() -> Value {
        json!({
            "containers": [{
                "name": "nginx", "image": "nginx:1.7.9", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"
            }],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30
        })
    }

    #[test]
    fn article_deployment_gets_upstream_defaults() {
        let mut d = article_deployment();
        apply_defaults("apps", "Deployment", &mut d);
        let want = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": defaulted_nginx_template_spec()
                }
            }
        });
        assert_eq!(d, want);
    }

    #[test]
    fn unknown_kinds_and_non_objects_are_left_alone() {
        let mut cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}});
        let before = cr.clone();
        apply_defaults("example.com", "Widget", &mut cr);
        assert_eq!(cr, before);
        for mut v in [json!(null), json!(1), json!("x"), json!([1, 2])] {
            let before = v.clone();
            apply_defaults("apps", "Deployment", &mut v);
            assert_eq!(v, before);
        }
    }

    #[test]
    fn lists_default_their_items() {
        let mut list = json!({"kind": "DeploymentList", "items": [article_deployment(), 5]});
        apply_defaults("apps", "DeploymentList", &mut list);
        assert_eq!(list["items"][0]["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(list["items"][1], 5);
    }

    #[test]
    fn helpers_treat_go_zero_values_as_unset() {
        let mut v = json!({"s": "", "n": 0, "w": 5, "t": true, "l": [], "x": "y"});
        let Value::Object(m) = &mut v else {
            unreachable!("an object literal")
        };
        default_str(m, "s", "a");
        default_str(m, "t", "a");
        default_str(m, "x", "a");
        default_int(m, "n", 7);
        default_int(m, "w", 7);
        default_int(m, "t", 7);
        default_ptr(m, "p", 1);
        assert_eq!(
            Value::Object(m.clone()),
            json!({"s": "a", "n": 7, "w": 5, "t": true, "l": [], "x": "y", "p": 1})
        );
        assert!(empty_collection(m, "l"));
        assert!(empty_collection(m, "missing"));
        assert!(!empty_collection(m, "x"));
        assert!(child(m, "s").is_none());
        assert!(ensure(m, "s").is_none());
        assert!(ensure(m, "new").is_some());
    }
}

/// Shared test support: the table runner and a mutation "fuzzer" that replaces every value of an
/// input, at every path, with values of other types.
#[cfg(test)]
pub(crate) mod testing {
    use super::apply_defaults;
    use serde_json::{Value, json};

    /// One table row: `(group, kind, input, expected output)`.
    pub type Case = (&'static str, &'static str, Value, Value);

    /// Checks each case's output, that a second application changes nothing, and that
    /// wrong-typed variants of the input neither panic nor break idempotence.
    pub fn run(cases: Vec<Case>) {
        for (group, kind, input, want) in cases {
            let mut got = input.clone();
            apply_defaults(group, kind, &mut got);
            assert_eq!(got, want, "{group}/{kind} from {input}");
            let mut again = got.clone();
            apply_defaults(group, kind, &mut again);
            assert_eq!(again, got, "{group}/{kind}: not idempotent");
            mutate_everywhere(group, kind, &input);
        }
    }

    /// Replaces the value at every path of `input` with each of a few wrongly typed values and
    /// applies the defaults twice, checking idempotence.
    pub fn mutate_everywhere(group: &str, kind: &str, input: &Value) {
        let mut paths = Vec::new();
        collect_paths(input, &mut Vec::new(), &mut paths);
        let replacements = [
            json!(null),
            json!(0),
            json!(-1),
            json!(1.5),
            json!(""),
            json!("x"),
            json!(true),
            json!([]),
            json!([null, 1, "x"]),
            json!({}),
        ];
        for path in &paths {
            for r in &replacements {
                let mut v = input.clone();
                if let Some(slot) = v.pointer_mut(path) {
                    *slot = r.clone();
                }
                apply_defaults(group, kind, &mut v);
                let mut again = v.clone();
                apply_defaults(group, kind, &mut again);
                assert_eq!(again, v, "{group}/{kind} with {path} = {r}: not idempotent");
            }
        }
    }

    fn collect_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<String>) {
        out.push(prefix.iter().map(|p| format!("/{p}")).collect());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    prefix.push(k.replace('~', "~0").replace('/', "~1"));
                    collect_paths(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    prefix.push(i.to_string());
                    collect_paths(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
}
