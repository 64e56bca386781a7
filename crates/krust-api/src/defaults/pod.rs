//! Pod defaults: the pod spec, containers, probes and volume sources defaulted inside every pod
//! template (`SetDefaults_PodSpec`, `SetDefaults_Container`, `SetDefaults_Probe`, the volume
//! source defaulters and the declarative defaults of core/v1), and the ones only a Pod gets
//! (`SetDefaults_Pod`, plus the pure parts of the `Priority` and `DefaultTolerationSeconds`
//! admission plugins).

use super::image::default_pull_policy;
use super::{
    Obj, child, default_int, default_ptr, default_str, each_obj, empty_str, ensure, unset,
};
use serde_json::{Value, json};

/// Default grace period of a pod, in seconds.
const TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Default mode of secret, configMap, downwardAPI and projected volume files (0644).
const VOLUME_DEFAULT_MODE: i64 = 0o644;
/// Default lifetime of a projected service account token, in seconds.
const TOKEN_EXPIRATION_SECONDS: i64 = 3600;

/// Every source field of a `Volume`: a volume with none of them gets an `emptyDir`.
const VOLUME_SOURCES: [&str; 30] = [
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// Defaults a Pod object.
pub(super) fn pod(root: &mut Obj) {
    let Some(spec) = ensure(root, "spec") else {
        return;
    };
    pod_only(spec);
    pod_spec(spec);
}

/// Defaults a pod template (`PodTemplateSpec`): its pod spec, not the Pod-only fields.
pub(super) fn template(template: &mut Obj) {
    if let Some(spec) = ensure(template, "spec") {
        pod_spec(spec);
    }
}

/// Defaults a pod spec, wherever it is.
fn pod_spec(spec: &mut Obj) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_ptr(spec, "securityContext", json!({}));
    default_ptr(
        spec,
        "terminationGracePeriodSeconds",
        TERMINATION_GRACE_PERIOD_SECONDS,
    );
    default_str(spec, "schedulerName", "default-scheduler");
    each_obj(spec, "volumes", volume);
    for key in ["initContainers", "containers", "ephemeralContainers"] {
        each_obj(spec, key, container);
    }
}

/// `SetDefaults_Pod` and the admission defaults, which only Pods get.
fn pod_only(spec: &mut Obj) {
    for key in ["containers", "initContainers"] {
        each_obj(spec, key, requests_from_limits);
    }
    default_ptr(spec, "enableServiceLinks", true);
    if spec.get("hostNetwork") == Some(&Value::Bool(true)) {
        for key in ["containers", "initContainers"] {
            each_obj(spec, key, |c| {
                each_obj(c, "ports", host_port_from_container_port)
            });
        }
    }
}

/// Requests default to the limits for every resource that has a limit and no request.
fn requests_from_limits(c: &mut Obj) {
    let Some(resources) = child(c, "resources") else {
        return;
    };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if limits.is_empty() {
        return;
    }
    if let Some(requests) = ensure(resources, "requests") {
        for (name, quantity) in limits {
            requests.entry(name).or_insert(quantity);
        }
    }
}

/// With host networking, a port's host port defaults to its container port.
fn host_port_from_container_port(port: &mut Obj) {
    let Some(container_port) = port.get("containerPort").filter(|p| p.is_i64()).cloned() else {
        return;
    };
    let zero = match port.get("hostPort") {
        None | Some(Value::Null) => true,
        Some(v) => v.as_f64() == Some(0.0),
    };
    if zero {
        port.insert("hostPort".into(), container_port);
    }
}

/// Defaults a container (also init and ephemeral containers).
fn container(c: &mut Obj) {
    if empty_str(c, "imagePullPolicy") {
        let image = match c.get("image") {
            None | Some(Value::Null) => Some(""),
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => None,
        };
        if let Some(image) = image {
            let policy = default_pull_policy(image);
            c.insert("imagePullPolicy".into(), Value::from(policy));
        }
    }
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    default_ptr(c, "resources", json!({}));
    each_obj(c, "ports", |p| default_str(p, "protocol", "TCP"));
    each_obj(c, "env", |e| {
        if let Some(field_ref) = child(e, "valueFrom").and_then(|v| child(v, "fieldRef")) {
            default_str(field_ref, "apiVersion", "v1");
        }
    });
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = child(c, key) {
            probe(p);
        }
    }
    if let Some(lifecycle) = child(c, "lifecycle") {
        for key in ["postStart", "preStop"] {
            if let Some(get) = child(lifecycle, key).and_then(|h| child(h, "httpGet")) {
                http_get(get);
            }
        }
    }
}

fn probe(p: &mut Obj) {
    default_int(p, "timeoutSeconds", 1);
    default_int(p, "periodSeconds", 10);
    default_int(p, "successThreshold", 1);
    default_int(p, "failureThreshold", 3);
    if let Some(get) = child(p, "httpGet") {
        http_get(get);
    }
    if let Some(grpc) = child(p, "grpc") {
        default_ptr(grpc, "service", "");
    }
}

fn http_get(get: &mut Obj) {
    default_str(get, "path", "/");
    default_str(get, "scheme", "HTTP");
}

/// Defaults a volume of a pod spec.
fn volume(v: &mut Obj) {
    if VOLUME_SOURCES.iter().all(|s| unset(v, s)) {
        v.insert("emptyDir".into(), json!({}));
    }
    for key in ["secret", "configMap"] {
        if let Some(source) = child(v, key) {
            default_ptr(source, "defaultMode", VOLUME_DEFAULT_MODE);
        }
    }
    if let Some(d) = child(v, "downwardAPI") {
        default_ptr(d, "defaultMode", VOLUME_DEFAULT_MODE);
        downward_api_items(d);
    }
    if let Some(p) = child(v, "projected") {
        default_ptr(p, "defaultMode", VOLUME_DEFAULT_MODE);
        each_obj(p, "sources", |s| {
            if let Some(d) = child(s, "downwardAPI") {
                downward_api_items(d);
            }
            if let Some(t) = child(s, "serviceAccountToken") {
                default_ptr(t, "expirationSeconds", TOKEN_EXPIRATION_SECONDS);
            }
        });
    }
    if let Some(template) = child(v, "ephemeral").and_then(|e| child(e, "volumeClaimTemplate"))
        && let Some(spec) = ensure(template, "spec")
    {
        claim_spec(spec);
    }
    volume_source(v);
}

fn downward_api_items(d: &mut Obj) {
    each_obj(d, "items", |item| {
        if let Some(field_ref) = child(item, "fieldRef") {
            default_str(field_ref, "apiVersion", "v1");
        }
    });
}

/// Defaults of the sources a pod volume and a PersistentVolume share: hostPath, iSCSI, RBD,
/// Azure disk and ScaleIO.
pub(super) fn volume_source(v: &mut Obj) {
    if let Some(h) = child(v, "hostPath") {
        default_ptr(h, "type", "");
    }
    if let Some(i) = child(v, "iscsi") {
        default_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = child(v, "rbd") {
        default_str(r, "pool", "rbd");
        default_str(r, "user", "admin");
        default_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = child(v, "azureDisk") {
        default_ptr(a, "cachingMode", "ReadWrite");
        default_ptr(a, "fsType", "ext4");
        default_ptr(a, "readOnly", false);
        default_ptr(a, "kind", "Shared");
    }
    if let Some(s) = child(v, "scaleIO") {
        default_str(s, "storageMode", "ThinProvisioned");
        default_str(s, "fsType", "xfs");
    }
}

/// Defaults a PersistentVolumeClaim spec (claims, claim templates, ephemeral volumes).
pub(super) fn claim_spec(spec: &mut Obj) {
    default_ptr(spec, "volumeMode", "Filesystem");
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Case, run};
    use serde_json::json;

    #[test]
    fn pods() {
        let cases: Vec<Case> = vec![
            (
                "",
                "Pod",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {
                    "containers": [{"name": "c", "image": "busybox",
                        "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30, "enableServiceLinks": true
                }}),
            ),
            // Requests from limits, host ports with host networking, probes, env, lifecycle,
            // a user toleration of every taint, a system priority class, explicit values kept.
            (
                "",
                "Pod",
                json!({"spec": {
                    "hostNetwork": true,
                    "priorityClassName": "system-node-critical",
                    "restartPolicy": "OnFailure",
                    "dnsPolicy": "",
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [{"name": "i", "image": "x:latest",
                        "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}}],
                    "containers": [{
                        "name": "c", "image": "nginx:1.25", "imagePullPolicy": "Never",
                        "ports": [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP",
                            "hostPort": 5353}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "V", "value": "x"}],
                        "livenessProbe": {"httpGet": {"port": 80}},
                        "readinessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5,
                            "timeoutSeconds": 0},
                        "startupProbe": {"exec": {"command": ["true"]}},
                        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}},
                                      "postStart": {"exec": {"command": ["x"]}}}
                    }]
                }}),
                json!({"spec": {
                    "hostNetwork": true,
                    "priorityClassName": "system-node-critical",
                    "restartPolicy": "OnFailure",
                    "dnsPolicy": "ClusterFirst",
                    "tolerations": [{"operator": "Exists"}],
                    "enableServiceLinks": true, "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30,
                    "initContainers": [{"name": "i", "image": "x:latest",
                        "imagePullPolicy": "Always",
                        "resources": {"limits": {"cpu": "1"},
                            "requests": {"memory": "1Gi", "cpu": "1"}},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
                    "containers": [{
                        "name": "c", "image": "nginx:1.25", "imagePullPolicy": "Never",
                        "ports": [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"},
                                  {"containerPort": 53, "protocol": "UDP", "hostPort": 5353}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                            "requests": {"cpu": "500m", "memory": "128Mi"}},
                        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name",
                                    "apiVersion": "v1"}}},
                                {"name": "V", "value": "x"}],
                        "livenessProbe": {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                            "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                            "failureThreshold": 3},
                        "readinessProbe": {"grpc": {"port": 9090, "service": ""},
                            "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1,
                            "failureThreshold": 3},
                        "startupProbe": {"exec": {"command": ["true"]}, "timeoutSeconds": 1,
                            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                        "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop",
                                          "scheme": "HTTP"}},
                                      "postStart": {"exec": {"command": ["x"]}}},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }]
                }}),
            ),
            // Tolerations and priority classes are the admission plugins' (not defaults).
            (
                "",
                "Pod",
                json!({"spec": {"priorityClassName": "high",
                    "tolerations": [{"key": "node.kubernetes.io/unreachable",
                        "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]}}),
                json!({"spec": {"priorityClassName": "high",
                    "tolerations": [{"key": "node.kubernetes.io/unreachable",
                        "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30, "enableServiceLinks": true}}),
            ),
            // Volumes.
            (
                "",
                "Pod",
                json!({"spec": {"priority": 5, "tolerations": [{}], "volumes": [
                    {"name": "empty"},
                    {"name": "nullsrc", "secret": null},
                    {"name": "host", "hostPath": {"path": "/data"}},
                    {"name": "sec", "secret": {"secretName": "s"}},
                    {"name": "cm", "configMap": {"name": "c", "defaultMode": 256}},
                    {"name": "dapi", "downwardAPI": {"items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                    {"name": "proj", "projected": {"sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {"downwardAPI": {"items": [{"path": "n",
                            "fieldRef": {"fieldPath": "metadata.name"}}]}},
                        {"configMap": {"name": "x"}}]}},
                    {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {
                        "accessModes": ["ReadWriteOnce"]}}}},
                    {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}},
                    {"name": "rbd", "rbd": {"monitors": ["m"], "image": "i"}},
                    {"name": "iscsi", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0}},
                    {"name": "az", "azureDisk": {"diskName": "d", "diskURI": "u"}},
                    {"name": "sio", "scaleIO": {"gateway": "g", "system": "s",
                        "secretRef": {"name": "x"}}}
                ]}}),
                json!({"spec": {"priority": 5,
                    "tolerations": [{}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30, "enableServiceLinks": true,
                    "volumes": [
                    {"name": "empty", "emptyDir": {}},
                    {"name": "nullsrc", "secret": null, "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": "/data", "type": ""}},
                    {"name": "sec", "secret": {"secretName": "s", "defaultMode": 420}},
                    {"name": "cm", "configMap": {"name": "c", "defaultMode": 256}},
                    {"name": "dapi", "downwardAPI": {"defaultMode": 420, "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels",
                            "apiVersion": "v1"}}]}},
                    {"name": "proj", "projected": {"defaultMode": 420, "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                        {"downwardAPI": {"items": [{"path": "n",
                            "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}]}},
                        {"configMap": {"name": "x"}}]}},
                    {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {
                        "accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}}}},
                    {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}},
                    {"name": "rbd", "rbd": {"monitors": ["m"], "image": "i", "pool": "rbd",
                        "user": "admin", "keyring": "/etc/ceph/keyring"}},
                    {"name": "iscsi", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0,
                        "iscsiInterface": "default"}},
                    {"name": "az", "azureDisk": {"diskName": "d", "diskURI": "u",
                        "cachingMode": "ReadWrite", "fsType": "ext4", "readOnly": false,
                        "kind": "Shared"}},
                    {"name": "sio", "scaleIO": {"gateway": "g", "system": "s",
                        "secretRef": {"name": "x"}, "storageMode": "ThinProvisioned",
                        "fsType": "xfs"}}
                ]}}),
            ),
            // Ephemeral containers get container defaults; a pod template gets no Pod-only ones.
            (
                "",
                "PodTemplate",
                json!({"template": {"spec": {"hostNetwork": true,
                    "containers": [{"name": "c", "image": "a:1", "ports": [{"containerPort": 1}],
                        "resources": {"limits": {"cpu": "1"}}}],
                    "ephemeralContainers": [{"name": "e", "image": "dbg"}]}}}),
                json!({"template": {"spec": {"hostNetwork": true,
                    "containers": [{"name": "c", "image": "a:1", "imagePullPolicy": "IfNotPresent",
                        "ports": [{"containerPort": 1, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "1"}},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
                    "ephemeralContainers": [{"name": "e", "image": "dbg",
                        "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30}}}),
            ),
            // Wrong types are left for validation.
            (
                "",
                "Pod",
                json!({"spec": {"containers": [1, null, {"name": "c", "image": 5,
                    "ports": "x", "resources": [], "livenessProbe": "p"}],
                    "volumes": {"a": 1}, "tolerations": "x", "securityContext": 3,
                    "terminationGracePeriodSeconds": "30"}}),
                json!({"spec": {"containers": [1, null, {"name": "c", "image": 5,
                    "ports": "x", "resources": [], "livenessProbe": "p",
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File"}],
                    "volumes": {"a": 1}, "tolerations": "x", "securityContext": 3,
                    "terminationGracePeriodSeconds": "30",
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "enableServiceLinks": true}}),
            ),
            ("", "Pod", json!({"spec": "x"}), json!({"spec": "x"})),
            (
                "",
                "PodTemplate",
                json!({"template": []}),
                json!({"template": []}),
            ),
        ];
        run(cases);
    }
}
