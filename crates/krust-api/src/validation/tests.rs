//! Table-driven tests of `validate`: valid (defaulted) objects produce no errors, and each rule
//! produces upstream's field path, error type and message. A final sweep replaces every part
//! of every sample object with values of the wrong type and checks nothing panics.

use super::util::{decode_base64, parse_quantity};
use super::validate;
use crate::field_error::{ErrorType, FieldError};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Sample objects, as the server stores them (defaulted).

fn container() -> Value {
    json!({
        "name": "web",
        "image": "nginx:1.27",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent"
    })
}

fn pod_spec() -> Value {
    json!({
        "containers": [container()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "enableServiceLinks": true
    })
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1",
                     "creationTimestamp": "2025-01-01T00:00:00Z", "resourceVersion": "5"},
        "spec": pod_spec()
    })
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": pod_spec()})
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template("web"),
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        }
    })
}

fn replica_set() -> Value {
    json!({
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template("web")}
    })
}

fn stateful_set() -> Value {
    let mut tpl = template("db");
    tpl["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
    json!({
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": tpl,
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"]}}],
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}
        }
    })
}

fn daemon_set() -> Value {
    json!({
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": template("agent"),
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
            "revisionHistoryLimit": 10
        }
    })
}

fn replication_controller() -> Value {
    json!({
        "metadata": {"name": "rc", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"app": "web"}, "template": template("web")}
    })
}

fn job_template() -> Value {
    let mut tpl = template("batch");
    tpl["spec"]["restartPolicy"] = json!("Never");
    tpl
}

fn job() -> Value {
    json!({
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {"backoffLimit": 6, "completions": 1, "parallelism": 1,
                 "completionMode": "NonIndexed", "suspend": false, "template": job_template()}
    })
}

fn cron_job() -> Value {
    json!({
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow",
                 "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                 "jobTemplate": {"spec": {"template": job_template()}}}
    })
}

fn service() -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster"
        }
    })
}

fn node_port_service() -> Value {
    let mut s = service();
    s["spec"]["type"] = json!("NodePort");
    s["spec"]["externalTrafficPolicy"] = json!("Cluster");
    s["spec"]["ports"][0]["nodePort"] = json!(30080);
    s
}

fn config_map() -> Value {
    json!({
        "metadata": {"name": "settings", "namespace": "default"},
        "data": {"app.properties": "a=b", "LOG_LEVEL": "debug"},
        "binaryData": {"blob": "AAEC"}
    })
}

fn secret() -> Value {
    json!({
        "metadata": {"name": "creds", "namespace": "default"},
        "type": "Opaque",
        "data": {"password": "czNjcjN0"}
    })
}

fn namespace() -> Value {
    json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}})
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Returns `v` with the value at a JSON pointer set (objects on the way must exist).
fn with(mut v: Value, ptr: &str, new: Value) -> Value {
    let (parent, last) = ptr.rsplit_once('/').unwrap_or(("", ptr));
    let Some(target) = v.pointer_mut(parent) else {
        panic!("no parent for {ptr}");
    };
    match target {
        Value::Object(m) => {
            m.insert(last.replace("~1", "/").replace("~0", "~"), new);
        }
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => a[i] = new,
            Ok(_) => a.push(new),
            Err(_) => panic!("bad index in {ptr}"),
        },
        _ => panic!("parent of {ptr} is not a container"),
    }
    v
}

/// Returns `v` without the value at a JSON pointer.
fn without(mut v: Value, ptr: &str) -> Value {
    let (parent, last) = ptr.rsplit_once('/').unwrap_or(("", ptr));
    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
        m.remove(last);
    }
    v
}

/// The kind each sample object is validated as.
#[derive(Clone, Copy, Debug)]
enum K {
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Rc,
    Job,
    CronJob,
    Service,
    ConfigMap,
    Secret,
    Namespace,
    ClusterRole,
    Node,
}

impl K {
    fn gkn(self) -> (&'static str, &'static str, bool) {
        match self {
            K::Pod => ("", "Pod", true),
            K::Deployment => ("apps", "Deployment", true),
            K::ReplicaSet => ("apps", "ReplicaSet", true),
            K::StatefulSet => ("apps", "StatefulSet", true),
            K::DaemonSet => ("apps", "DaemonSet", true),
            K::Rc => ("", "ReplicationController", true),
            K::Job => ("batch", "Job", true),
            K::CronJob => ("batch", "CronJob", true),
            K::Service => ("", "Service", true),
            K::ConfigMap => ("", "ConfigMap", true),
            K::Secret => ("", "Secret", true),
            K::Namespace => ("", "Namespace", false),
            K::ClusterRole => ("rbac.authorization.k8s.io", "ClusterRole", false),
            K::Node => ("", "Node", false),
        }
    }
}

fn run(k: K, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let (g, kind, namespaced) = k.gkn();
    validate(g, kind, namespaced, obj, old)
}

/// Whether a rendered error matches an expectation, where `…` stands for any text.
fn matches(rendered: &str, expected: &str) -> bool {
    let parts: Vec<&str> = expected.split('…').collect();
    if parts.len() == 1 {
        return rendered == expected;
    }
    let mut rest = rendered;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A case: the object (and stored object for updates) and the exact list of expected errors.
struct Case {
    name: &'static str,
    kind: K,
    obj: Value,
    old: Option<Value>,
    want: Vec<&'static str>,
}

fn case(name: &'static str, kind: K, obj: Value, want: &[&'static str]) -> Case {
    Case {
        name,
        kind,
        obj,
        old: None,
        want: want.to_vec(),
    }
}

fn update(name: &'static str, kind: K, old: Value, obj: Value, want: &[&'static str]) -> Case {
    Case {
        name,
        kind,
        obj,
        old: Some(old),
        want: want.to_vec(),
    }
}

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let got: Vec<String> = run(c.kind, &c.obj, c.old.as_ref())
            .iter()
            .map(ToString::to_string)
            .collect();
        let ok = got.len() == c.want.len() && got.iter().zip(&c.want).all(|(g, w)| matches(g, w));
        if !ok {
            failures.push(format!(
                "{}:\n  want {:#?}\n  got  {:#?}",
                c.name, c.want, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Valid objects.

#[test]
fn valid_objects_have_no_errors() {
    let headless = with(
        with(
            without(service(), "/spec/ports"),
            "/spec/clusterIP",
            json!("None"),
        ),
        "/spec/clusterIPs",
        json!(["None"]),
    );
    let external = json!({"metadata": {"name": "db", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com.", "sessionAffinity": "None"}});
    let lb = with(
        with(node_port_service(), "/spec/type", json!("LoadBalancer")),
        "/spec/loadBalancerSourceRanges",
        json!(["10.0.0.0/8"]),
    );
    let tls = json!({"metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}});
    let tls_string_data = json!({"metadata": {"name": "tls", "namespace": "default"},
        "type": "kubernetes.io/tls", "stringData": {"tls.crt": "cert", "tls.key": "key"}});
    let docker = json!({"metadata": {"name": "pull", "namespace": "default"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}});
    let sa_token = json!({"metadata": {"name": "tok", "namespace": "default",
        "annotations": {"kubernetes.io/service-account.name": "default"}},
        "type": "kubernetes.io/service-account-token"});
    let rich_pod = with(
        pod(),
        "/spec",
        json!({
            "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420,
                         "items": [{"key": "a", "path": "a.conf"}]}},
                        {"name": "scratch", "emptyDir": {}},
                        {"name": "defaulted"}],
            "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]},
                               {"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                                "readinessProbe": {"tcpSocket": {"port": 9901}}}],
            "containers": [{
                "name": "app", "image": "app:1",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                          {"name": "metrics", "containerPort": 9090, "hostPort": 9090, "protocol": "UDP"}],
                "env": [{"name": "MODE", "value": "prod"},
                        {"name": "my.var-1", "value": "relaxed names are fine"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app", "readOnly": true},
                                 {"name": "scratch", "mountPath": "/tmp", "subPath": "x/y"},
                                 {"name": "defaulted", "mountPath": "/d"}],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi", "example.com/gpu": 1},
                              "limits": {"cpu": 1, "memory": "128Mi", "example.com/gpu": "1"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "imagePullPolicy": "Always"
            }],
            "restartPolicy": "OnFailure",
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["1.1.1.1"]},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300},
                            {"operator": "Exists"}],
            "serviceAccountName": "default",
            "hostname": "web-0",
            "subdomain": "web",
            "activeDeadlineSeconds": 60,
            "terminationGracePeriodSeconds": 0
        }),
    );
    let samples = [
        (K::Pod, pod()),
        (K::Pod, rich_pod),
        (K::Deployment, deployment()),
        (
            K::Deployment,
            with(deployment(), "/spec/strategy", json!({"type": "Recreate"})),
        ),
        (K::Deployment, without(deployment(), "/spec/strategy")),
        (K::ReplicaSet, replica_set()),
        (K::StatefulSet, stateful_set()),
        (K::DaemonSet, daemon_set()),
        (K::Rc, replication_controller()),
        (K::Rc, without(replication_controller(), "/spec/selector")),
        (
            K::Rc,
            with(replication_controller(), "/spec/selector", json!({})),
        ),
        (K::Job, job()),
        (K::CronJob, cron_job()),
        (
            K::CronJob,
            with(cron_job(), "/spec/schedule", json!("@hourly")),
        ),
        (K::Service, service()),
        (K::Service, node_port_service()),
        (K::Service, lb),
        (K::Service, headless),
        (K::Service, external),
        (K::ConfigMap, config_map()),
        (K::Secret, secret()),
        (K::Secret, tls),
        (K::Secret, tls_string_data),
        (K::Secret, docker),
        (K::Secret, sa_token),
        (K::Namespace, namespace()),
        (
            K::ClusterRole,
            json!({"metadata": {"name": "system:aggregate-to-edit"}}),
        ),
        (K::Node, json!({"metadata": {"name": "node-1.example.com"}})),
    ];
    for (k, obj) in samples {
        let errs = run(k, &obj, None);
        assert!(errs.is_empty(), "{k:?} {obj}: {errs:#?}");
        // Re-submitting the stored object unchanged is a valid update too.
        let errs = run(k, &obj, Some(&obj));
        assert!(errs.is_empty(), "{k:?} update {obj}: {errs:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Metadata.

#[test]
fn object_meta() {
    let big = "x".repeat(262_144);
    check(vec![
        case(
            "name required",
            K::ConfigMap,
            without(config_map(), "/metadata/name"),
            &["metadata.name: Required value: name or generateName is required"],
        ),
        case(
            "generateName only",
            K::Pod,
            with(
                without(pod(), "/metadata/name"),
                "/metadata/generateName",
                json!("web-"),
            ),
            &["metadata.name: Required value: name or generateName is required"],
        ),
        case(
            "subdomain names",
            K::ConfigMap,
            with(config_map(), "/metadata/name", json!("Bad_Name")),
            &[
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of …",
            ],
        ),
        case(
            "bad generateName",
            K::ConfigMap,
            with(config_map(), "/metadata/generateName", json!("Web-")),
            &["metadata.generateName: Invalid value: \"Web-\": a lowercase RFC 1123 subdomain …"],
        ),
        case(
            "namespace names are labels",
            K::Namespace,
            with(namespace(), "/metadata/name", json!("team.a")),
            &[
                "metadata.name: Invalid value: \"team.a\": a lowercase RFC 1123 label must consist of …",
            ],
        ),
        case(
            "service names are DNS-1035 labels",
            K::Service,
            with(service(), "/metadata/name", json!("1web")),
            &[
                "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, …",
            ],
        ),
        case(
            "statefulset names are labels",
            K::StatefulSet,
            with(stateful_set(), "/metadata/name", json!("db.v1")),
            &["metadata.name: Invalid value: \"db.v1\": a lowercase RFC 1123 label …"],
        ),
        case(
            "long label",
            K::Namespace,
            with(namespace(), "/metadata/name", json!("a".repeat(64))),
            &["metadata.name: Invalid value: …: must be no more than 63 characters"],
        ),
        case(
            "rbac names are path segments",
            K::ClusterRole,
            json!({"metadata": {"name": "a/b%"}}),
            &[
                "metadata.name: Invalid value: \"a/b%\": may not contain '/'",
                "metadata.name: Invalid value: \"a/b%\": may not contain '%'",
            ],
        ),
        case(
            "namespace required",
            K::Pod,
            without(pod(), "/metadata/namespace"),
            &["metadata.namespace: Required value"],
        ),
        case(
            "namespace forbidden on cluster-scoped kinds",
            K::Namespace,
            with(namespace(), "/metadata/namespace", json!("default")),
            &["metadata.namespace: Forbidden: not allowed on this type"],
        ),
        case(
            "bad label key and value",
            K::ConfigMap,
            with(
                config_map(),
                "/metadata/labels",
                json!({"bad key": "ok", "app": "-x"}),
            ),
            &[
                "metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist of …",
                "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, …",
            ],
        ),
        case(
            "annotation keys",
            K::ConfigMap,
            with(
                config_map(),
                "/metadata/annotations",
                json!({"Example.com/Key": "ok", "a/b/c": "x"}),
            ),
            &["metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist of …"],
        ),
        case(
            "annotation size",
            K::ConfigMap,
            with(config_map(), "/metadata/annotations", json!({"k": big})),
            &["metadata.annotations: Too long: may not be more than 262144 bytes"],
        ),
        case(
            "finalizers",
            K::ConfigMap,
            with(
                config_map(),
                "/metadata/finalizers",
                json!(["example.com/f", "-bad", "orphan", "foregroundDeletion"]),
            ),
            &[
                "metadata.finalizers: Invalid value: \"-bad\": name part must consist of …",
                "metadata.finalizers: Invalid value: []string{\"example.com/f\", \"-bad\", \"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set",
            ],
        ),
        case(
            "owner references",
            K::ConfigMap,
            with(
                config_map(),
                "/metadata/ownerReferences",
                json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true},
                       {"apiVersion": "", "kind": "ReplicaSet", "name": "x", "uid": "2", "controller": true}]),
            ),
            &[
                "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty",
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                "metadata.ownerReferences: Invalid value: …: Only one reference can have Controller set to true. Found \"true\" in references for Deployment/web and ReplicaSet/x",
            ],
        ),
        case(
            "wrong types are reported",
            K::ConfigMap,
            with(
                with(config_map(), "/metadata/labels", json!("app=web")),
                "/data",
                json!(["a"]),
            ),
            &[
                "metadata.labels: Invalid value: \"app=web\": must be of type object",
                "data: Invalid value: []string{\"a\"}: must be of type object",
            ],
        ),
        update(
            "immutable metadata",
            K::ConfigMap,
            with(
                with(config_map(), "/metadata/uid", json!("1")),
                "/metadata/creationTimestamp",
                json!("2025-01-01T00:00:00Z"),
            ),
            with(
                with(
                    with(config_map(), "/metadata/name", json!("other")),
                    "/metadata/uid",
                    json!("2"),
                ),
                "/metadata/creationTimestamp",
                json!("2026-01-01T00:00:00Z"),
            ),
            &[
                "metadata.name: Invalid value: \"other\": field is immutable",
                "metadata.uid: Invalid value: \"2\": field is immutable",
                "metadata.creationTimestamp: Invalid value: \"2026-01-01T00:00:00Z\": field is immutable",
            ],
        ),
        update(
            "namespace immutable, uid may be left out",
            K::Pod,
            pod(),
            without(
                with(pod(), "/metadata/namespace", json!("prod")),
                "/metadata/uid",
            ),
            &["metadata.namespace: Invalid value: \"prod\": field is immutable"],
        ),
        update(
            "no new finalizers while deleting",
            K::ConfigMap,
            with(
                with(
                    config_map(),
                    "/metadata/deletionTimestamp",
                    json!("2025-01-01T00:00:00Z"),
                ),
                "/metadata/finalizers",
                json!(["a.io/x"]),
            ),
            with(
                with(
                    config_map(),
                    "/metadata/deletionTimestamp",
                    json!("2025-01-01T00:00:00Z"),
                ),
                "/metadata/finalizers",
                json!(["a.io/x", "b.io/y"]),
            ),
            &[
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}",
            ],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Pods.

#[test]
fn pod_spec_rules() {
    let c0 = "/spec/containers/0";
    check(vec![
        case(
            "containers required",
            K::Pod,
            with(pod(), "/spec/containers", json!([])),
            &["spec.containers: Required value"],
        ),
        case(
            "container name",
            K::Pod,
            without(pod(), &format!("{c0}/name")),
            &["spec.containers[0].name: Required value"],
        ),
        case(
            "container name syntax",
            K::Pod,
            with(pod(), &format!("{c0}/name"), json!("Web")),
            &[
                "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of …",
            ],
        ),
        case(
            "duplicate container names",
            K::Pod,
            with(pod(), "/spec/containers/1", container()),
            &["spec.containers[1].name: Duplicate value: \"web\""],
        ),
        case(
            "init container names clash with containers",
            K::Pod,
            with(
                pod(),
                "/spec/initContainers",
                json!([{"name": "web", "image": "busybox"}]),
            ),
            &["spec.initContainers[0].name: Duplicate value: \"web\""],
        ),
        case(
            "image required",
            K::Pod,
            without(pod(), &format!("{c0}/image")),
            &["spec.containers[0].image: Required value"],
        ),
        case(
            "container port range",
            K::Pod,
            with(pod(), &format!("{c0}/ports/0/containerPort"), json!(70000)),
            &[
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ],
        ),
        case(
            "container port required",
            K::Pod,
            with(pod(), &format!("{c0}/ports/0"), json!({"protocol": "TCP"})),
            &["spec.containers[0].ports[0].containerPort: Required value"],
        ),
        case(
            "port protocol",
            K::Pod,
            with(pod(), &format!("{c0}/ports/0/protocol"), json!("HTTP")),
            &[
                "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ],
        ),
        case(
            "port names",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/ports"),
                json!([{"name": "http_port", "containerPort": 80},
                       {"name": "web", "containerPort": 81},
                       {"name": "web", "containerPort": 82},
                       {"name": "1234", "containerPort": 83}]),
            ),
            &[
                "spec.containers[0].ports[0].name: Invalid value: \"http_port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.containers[0].ports[2].name: Duplicate value: \"web\"",
                "spec.containers[0].ports[3].name: Invalid value: \"1234\": must contain at least one letter (a-z)",
            ],
        ),
        case(
            "host port conflicts",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/ports"),
                json!([{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"},
                       {"containerPort": 81, "hostPort": 8080, "protocol": "TCP"}]),
            ),
            &["spec.containers[0].ports[1].hostPort: Duplicate value: \"/TCP/8080\""],
        ),
        case(
            "env names",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/env"),
                json!([{"name": "A=B"}, {"value": "x"}]),
            ),
            &[
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].name: Required value",
            ],
        ),
        case(
            "env valueFrom",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/env"),
                json!([{"name": "A", "valueFrom": {}},
                       {"name": "B", "value": "x", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
                       {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s"}}},
                       {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}]),
            ),
            &[
                "spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                "spec.containers[0].env[2].valueFrom.secretKeyRef.key: Required value",
                "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\", …",
            ],
        ),
        case(
            "volume mounts",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/volumeMounts"),
                json!([{"name": "data", "mountPath": "/data"}, {"name": "data", "mountPath": "/data"},
                       {"name": "", "mountPath": ""}]),
            ),
            &[
                "spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
                "spec.containers[0].volumeMounts[1].name: Not found: \"data\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be unique",
                "spec.containers[0].volumeMounts[2].name: Required value",
                "spec.containers[0].volumeMounts[2].name: Not found: \"\"",
                "spec.containers[0].volumeMounts[2].mountPath: Required value",
            ],
        ),
        case(
            "sub paths",
            K::Pod,
            with(
                with(
                    pod(),
                    "/spec/volumes",
                    json!([{"name": "v", "emptyDir": {}}]),
                ),
                &format!("{c0}/volumeMounts"),
                json!([{"name": "v", "mountPath": "/a", "subPath": "/abs"},
                       {"name": "v", "mountPath": "/b", "subPath": "../up"}]),
            ),
            &[
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"/abs\": must be a relative path",
                "spec.containers[0].volumeMounts.subPath: Invalid value: \"../up\": must not contain '..'",
            ],
        ),
        case(
            "volumes",
            K::Pod,
            with(
                pod(),
                "/spec/volumes",
                json!([{"name": "a", "emptyDir": {}, "configMap": {"name": "c"}},
                       {"name": "b", "emptyDir": {}},
                       {"name": "b", "emptyDir": {}},
                       {"name": "Bad", "secret": {}},
                       {"name": "d", "hostPath": {"path": "/x", "type": "Dir"}},
                       {"name": "e", "persistentVolumeClaim": {}}]),
            ),
            &[
                "spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[2].name: Duplicate value: \"b\"",
                "spec.volumes[3].secret.secretName: Required value",
                "spec.volumes[3].name: Invalid value: \"Bad\": a lowercase RFC 1123 label …",
                "spec.volumes[4].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", …",
                "spec.volumes[5].persistentVolumeClaim.claimName: Required value",
            ],
        ),
        case(
            "restart and dns policies",
            K::Pod,
            with(
                with(pod(), "/spec/restartPolicy", json!("Sometimes")),
                "/spec/dnsPolicy",
                json!("Custom"),
            ),
            &[
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Custom\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            ],
        ),
        case(
            "dnsConfig required with dnsPolicy None",
            K::Pod,
            with(pod(), "/spec/dnsPolicy", json!("None")),
            &["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"],
        ),
        case(
            "container enums",
            K::Pod,
            with(
                with(pod(), &format!("{c0}/imagePullPolicy"), json!("Sometimes")),
                &format!("{c0}/terminationMessagePolicy"),
                json!("Log"),
            ),
            &[
                "spec.containers[0].terminationMessagePolicy: Unsupported value: \"Log\": supported values: \"File\", \"FallbackToLogsOnError\"",
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
            ],
        ),
        case(
            "requests above limits",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/resources"),
                json!({"limits": {"cpu": "1", "memory": "1Gi"},
                                                            "requests": {"cpu": "2", "memory": "1024Mi"}}),
            ),
            &[
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            ],
        ),
        case(
            "bad quantities and names",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/resources"),
                json!({"limits": {"cpu": "abc", "memory": "-1", "foo": "1"}}),
            ),
            &[
                "spec.containers[0].resources.limits[cpu]: Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].resources.limits[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.limits[foo]: Invalid value: \"foo\": must be a standard resource for containers",
                "spec.containers[0].resources.limits[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
            ],
        ),
        case(
            "extended resources",
            K::Pod,
            with(
                pod(),
                &format!("{c0}/resources"),
                json!({"limits": {"example.com/gpu": "2"},
                                                            "requests": {"example.com/gpu": "1", "example.com/fpga": "1"}}),
            ),
            &[
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to example.com/fpga limit of …",
                "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to example.com/gpu limit of 2",
            ][1..],
        ),
        case(
            "grace period and deadline",
            K::Pod,
            with(
                with(pod(), "/spec/terminationGracePeriodSeconds", json!(-1)),
                "/spec/activeDeadlineSeconds",
                json!(0),
            ),
            &[
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
                "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        case(
            "probes",
            K::Pod,
            with(
                with(
                    pod(),
                    &format!("{c0}/livenessProbe"),
                    json!({"successThreshold": 2}),
                ),
                &format!("{c0}/readinessProbe"),
                json!({"exec": {"command": ["x"]}, "tcpSocket": {"port": 0}, "terminationGracePeriodSeconds": 5}),
            ),
            &[
                "spec.containers[0].livenessProbe: Required value: must specify a handler type",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Forbidden: must not be set for readinessProbes",
            ],
        ),
        case(
            "init containers without restartPolicy Always",
            K::Pod,
            with(
                pod(),
                "/spec/initContainers",
                json!([{"name": "init", "image": "busybox", "livenessProbe": {"exec": {"command": ["x"]}}},
                       {"name": "side", "image": "busybox", "restartPolicy": "OnFailure"}]),
            ),
            &[
                "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
                "spec.initContainers[1].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
            ],
        ),
        case(
            "restartPolicy on regular containers",
            K::Pod,
            with(pod(), &format!("{c0}/restartPolicy"), json!("Always")),
            &[
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            ],
        ),
        case(
            "tolerations",
            K::Pod,
            with(
                pod(),
                "/spec/tolerations",
                json!([{"operator": "Equal", "value": "x"},
                       {"key": "k", "operator": "Exists", "value": "v"},
                       {"key": "k", "operator": "Maybe", "effect": "Never"},
                       {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}]),
            ),
            &[
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].operator: Invalid value: …: value must be empty when `operator` is 'Exists'",
                "spec.tolerations[2].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\"",
                "spec.tolerations[2].effect: Unsupported value: \"Never\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                "spec.tolerations[3].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
            ],
        ),
        case(
            "ephemeral containers on create",
            K::Pod,
            with(
                pod(),
                "/spec/ephemeralContainers",
                json!([{"name": "debug", "image": "busybox"}]),
            ),
            &["spec.ephemeralContainers: Forbidden: cannot be set on create"],
        ),
    ]);
}

#[test]
fn pod_updates() {
    let c0 = "/spec/containers/0";
    let tol =
        json!([{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]);
    let with_tol = with(pod(), "/spec/tolerations", tol);
    check(vec![
        update(
            "image change",
            K::Pod,
            pod(),
            with(pod(), &format!("{c0}/image"), json!("nginx:1.28")),
            &[],
        ),
        update(
            "activeDeadlineSeconds and labels",
            K::Pod,
            pod(),
            with(
                with(pod(), "/spec/activeDeadlineSeconds", json!(30)),
                "/metadata/labels",
                json!({"a": "b"}),
            ),
            &[],
        ),
        update(
            "add toleration, change its seconds",
            K::Pod,
            with_tol.clone(),
            with(
                with(
                    with_tol.clone(),
                    "/spec/tolerations/0/tolerationSeconds",
                    json!(20),
                ),
                "/spec/tolerations/1",
                json!({"key": "b", "operator": "Exists"}),
            ),
            &[],
        ),
        update(
            "modify toleration",
            K::Pod,
            with_tol.clone(),
            with(with_tol, "/spec/tolerations/0/key", json!("z")),
            &[
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
            ],
        ),
        update(
            "port change",
            K::Pod,
            pod(),
            with(pod(), &format!("{c0}/ports/0/containerPort"), json!(81)),
            &[
                "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n…containers[0].ports[0].containerPort: 80…containers[0].ports[0].containerPort: 81…",
            ],
        ),
        update(
            "add container",
            K::Pod,
            pod(),
            with(
                pod(),
                "/spec/containers/1",
                with(container(), "/name", json!("sidecar")),
            ),
            &["spec.containers: Forbidden: pod updates may not add or remove containers"],
        ),
        update(
            "negative grace period raised to 1",
            K::Pod,
            with(pod(), "/spec/terminationGracePeriodSeconds", json!(-5)),
            with(pod(), "/spec/terminationGracePeriodSeconds", json!(1)),
            &[],
        ),
        update(
            "deadline may only shrink",
            K::Pod,
            with(pod(), "/spec/activeDeadlineSeconds", json!(30)),
            with(pod(), "/spec/activeDeadlineSeconds", json!(60)),
            &[
                "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value",
            ],
        ),
        update(
            "image whitespace",
            K::Pod,
            pod(),
            with(pod(), &format!("{c0}/image"), json!(" nginx")),
            &[
                "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",
            ],
        ),
        update(
            "scheduling gates may only be removed",
            K::Pod,
            with(
                pod(),
                "/spec/schedulingGates",
                json!([{"name": "a"}, {"name": "b"}]),
            ),
            with(
                with(pod(), "/spec/schedulingGates", json!([{"name": "b"}])),
                "/spec/nodeSelector",
                json!({"zone": "a"}),
            ),
            &[],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Workloads.

#[test]
fn deployments() {
    let d = deployment;
    let ru = "/spec/strategy/rollingUpdate";
    check(vec![
        case(
            "replicas",
            K::Deployment,
            with(d(), "/spec/replicas", json!(-1)),
            &["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        ),
        case(
            "selector required",
            K::Deployment,
            without(d(), "/spec/selector"),
            &[
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ],
        ),
        case(
            "empty selector",
            K::Deployment,
            with(d(), "/spec/selector", json!({})),
            &[
                "spec.selector: Invalid value: map[string]string{}: empty selector is invalid for deployment",
            ],
        ),
        case(
            "selector mismatch",
            K::Deployment,
            with(d(), "/spec/template/metadata/labels/app", json!("other")),
            &[
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
            ],
        ),
        case(
            "invalid selector skips the template",
            K::Deployment,
            with(
                with(
                    d(),
                    "/spec/selector",
                    json!({"matchExpressions": [{"key": "app", "operator": "In"}]}),
                ),
                "/spec/template/spec/containers",
                json!([]),
            ),
            &[
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector: Invalid value: …: invalid label selector",
            ],
        ),
        case(
            "template is validated",
            K::Deployment,
            with(
                without(d(), "/spec/template/spec/containers/0/image"),
                "/spec/template/metadata/labels/bad key",
                json!("x"),
            ),
            &[
                "spec.template.labels: Invalid value: \"bad key\": name part must consist of …",
                "spec.template.spec.containers[0].image: Required value",
            ],
        ),
        case(
            "template restartPolicy",
            K::Deployment,
            with(d(), "/spec/template/spec/restartPolicy", json!("Never")),
            &[
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ],
        ),
        case(
            "strategy type",
            K::Deployment,
            with(d(), "/spec/strategy/type", json!("BlueGreen")),
            &[
                "spec.strategy: Unsupported value: …: supported values: \"Recreate\", \"RollingUpdate\"",
            ],
        ),
        case(
            "recreate forbids rollingUpdate",
            K::Deployment,
            with(d(), "/spec/strategy/type", json!("Recreate")),
            &[
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
            ],
        ),
        case(
            "both zero",
            K::Deployment,
            with(
                with(d(), &format!("{ru}/maxSurge"), json!(0)),
                &format!("{ru}/maxUnavailable"),
                json!("0%"),
            ),
            &[
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0",
            ],
        ),
        case(
            "int or percent",
            K::Deployment,
            with(
                with(d(), &format!("{ru}/maxSurge"), json!("abc")),
                &format!("{ru}/maxUnavailable"),
                json!("120%"),
            ),
            &[
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"abc\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%",
            ],
        ),
        case(
            "negative surge",
            K::Deployment,
            with(d(), &format!("{ru}/maxSurge"), json!(-1)),
            &[
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        case(
            "history and deadlines",
            K::Deployment,
            with(
                with(
                    with(d(), "/spec/revisionHistoryLimit", json!(-1)),
                    "/spec/minReadySeconds",
                    json!(10),
                ),
                "/spec/progressDeadlineSeconds",
                json!(5),
            ),
            &[
                "spec.revisionHistoryLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
            ],
        ),
        case(
            "wrong types",
            K::Deployment,
            with(d(), "/spec/replicas", json!("3")),
            &["spec.replicas: Invalid value: \"3\": must be of type integer"],
        ),
        update(
            "selector is immutable",
            K::Deployment,
            d(),
            with(
                with(d(), "/spec/selector/matchLabels/app", json!("api")),
                "/spec/template/metadata/labels/app",
                json!("api"),
            ),
            &["spec.selector: Invalid value: …: field is immutable"],
        ),
        update(
            "scale and new image",
            K::Deployment,
            d(),
            with(
                with(d(), "/spec/replicas", json!(5)),
                "/spec/template/spec/containers/0/image",
                json!("nginx:2"),
            ),
            &[],
        ),
    ]);
}

#[test]
fn other_workloads() {
    check(vec![
        case(
            "replicaset selector",
            K::ReplicaSet,
            without(replica_set(), "/spec/selector"),
            &[
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: …: `selector` does not match template `labels`",
            ],
        ),
        case(
            "replicaset deadline",
            K::ReplicaSet,
            with(
                replica_set(),
                "/spec/template/spec/activeDeadlineSeconds",
                json!(10),
            ),
            &[
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported",
            ],
        ),
        update(
            "replicaset selector immutable",
            K::ReplicaSet,
            replica_set(),
            with(replica_set(), "/spec/selector/matchLabels/tier", json!("x")),
            &[
                "spec.template.metadata.labels: Invalid value: …: `selector` does not match template `labels`",
                "spec.selector: Invalid value: …: field is immutable",
            ],
        ),
        case(
            "statefulset mounts need volumes or claims",
            K::StatefulSet,
            with(
                stateful_set(),
                "/spec/template/spec/containers/0/volumeMounts/0/name",
                json!("logs"),
            ),
            &["spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"logs\""],
        ),
        case(
            "statefulset fields",
            K::StatefulSet,
            with(
                with(stateful_set(), "/spec/podManagementPolicy", json!("Random")),
                "/spec/updateStrategy",
                json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
            ),
            &[
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
                "spec.updateStrategy.rollingUpdate: Invalid value: …: only allowed for updateStrategy 'RollingUpdate'",
            ],
        ),
        case(
            "statefulset selector",
            K::StatefulSet,
            with(stateful_set(), "/spec/selector", json!({})),
            &[
                "spec.selector: Invalid value: map[string]string{}: empty selector is invalid for statefulset",
            ],
        ),
        update(
            "statefulset forbidden updates",
            K::StatefulSet,
            stateful_set(),
            with(
                with(stateful_set(), "/spec/serviceName", json!("db2")),
                "/spec/replicas",
                json!(5),
            ),
            &[
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ],
        ),
        case(
            "daemonset selector mismatch and strategy",
            K::DaemonSet,
            with(
                with(
                    daemon_set(),
                    "/spec/template/metadata/labels/app",
                    json!("x"),
                ),
                "/spec/updateStrategy/rollingUpdate",
                json!({"maxUnavailable": 0, "maxSurge": 0}),
            ),
            &[
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`",
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
            ],
        ),
        update(
            "daemonset selector immutable",
            K::DaemonSet,
            daemon_set(),
            with(
                with(daemon_set(), "/spec/selector/matchLabels/app", json!("x")),
                "/spec/template/metadata/labels/app",
                json!("x"),
            ),
            &["spec.selector: Invalid value: …: field is immutable"],
        ),
        case(
            "replication controller",
            K::Rc,
            with(
                replication_controller(),
                "/spec/selector",
                json!({"app": "other"}),
            ),
            &[
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ],
        ),
        case(
            "job restart policy",
            K::Job,
            with(job(), "/spec/template/spec/restartPolicy", json!("Always")),
            &[
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            ],
        ),
        case(
            "job counts",
            K::Job,
            with(
                with(job(), "/spec/backoffLimit", json!(-1)),
                "/spec/completionMode",
                json!("Sometimes"),
            ),
            &[
                "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
                "spec.completionMode: Unsupported value: \"Sometimes\": supported values: \"NonIndexed\", \"Indexed\"",
            ],
        ),
        case(
            "job manual selector",
            K::Job,
            with(job(), "/spec/manualSelector", json!(true)),
            &["spec.selector: Required value"],
        ),
        update(
            "job template immutable",
            K::Job,
            job(),
            with(
                job(),
                "/spec/template/spec/containers/0/image",
                json!("perl:2"),
            ),
            &["spec.template: Invalid value: …: field is immutable"],
        ),
        update(
            "suspended job scheduling directives",
            K::Job,
            with(job(), "/spec/suspend", json!(true)),
            with(
                with(job(), "/spec/suspend", json!(true)),
                "/spec/template/spec/nodeSelector",
                json!({"zone": "a"}),
            ),
            &[],
        ),
        case(
            "cronjob schedule",
            K::CronJob,
            with(cron_job(), "/spec/schedule", json!("every minute")),
            &[
                "spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]",
            ],
        ),
        case(
            "cronjob fields",
            K::CronJob,
            with(
                with(
                    with(
                        without(cron_job(), "/spec/schedule"),
                        "/spec/concurrencyPolicy",
                        json!("Sometimes"),
                    ),
                    "/metadata/name",
                    json!("n".repeat(53)),
                ),
                "/spec/jobTemplate/spec/template/spec/restartPolicy",
                json!("Always"),
            ),
            &[
                "metadata.name: Invalid value: …: must be no more than 52 characters",
                "spec.schedule: Required value",
                "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
                "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            ],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Services.

#[test]
fn services() {
    let s = service;
    check(vec![
        case(
            "ports required",
            K::Service,
            without(s(), "/spec/ports"),
            &["spec.ports: Required value"],
        ),
        case(
            "port range and protocol",
            K::Service,
            with(
                s(),
                "/spec/ports/0",
                json!({"port": 0, "protocol": "HTTP", "targetPort": 70000}),
            ),
            &[
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ],
        ),
        case(
            "named target ports",
            K::Service,
            with(s(), "/spec/ports/0/targetPort", json!("http_web")),
            &[
                "spec.ports[0].targetPort: Invalid value: \"http_web\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ],
        ),
        case(
            "port names with several ports",
            K::Service,
            with(
                s(),
                "/spec/ports",
                json!([{"port": 80, "protocol": "TCP"}, {"name": "b", "port": 81, "protocol": "TCP"},
                       {"name": "b", "port": 80, "protocol": "TCP"}]),
            ),
            &[
                "spec.ports[0].name: Required value",
                "spec.ports[2].name: Duplicate value: \"b\"",
                "spec.ports[2]: Duplicate value: …",
            ],
        ),
        case(
            "nodePort on ClusterIP",
            K::Service,
            with(s(), "/spec/ports/0/nodePort", json!(30001)),
            &["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
        ),
        case(
            "duplicate nodePorts",
            K::Service,
            with(
                with(
                    node_port_service(),
                    "/spec/ports/1",
                    json!({"name": "b", "port": 81, "protocol": "TCP", "nodePort": 30080}),
                ),
                "/spec/ports/0/name",
                json!("a"),
            ),
            &["spec.ports[1].nodePort: Duplicate value: 30080"],
        ),
        case(
            "type",
            K::Service,
            with(s(), "/spec/type", json!("Internal")),
            &[
                "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ],
        ),
        case(
            "session affinity",
            K::Service,
            with(s(), "/spec/sessionAffinity", json!("Sticky")),
            &[
                "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
            ],
        ),
        case(
            "externalName required",
            K::Service,
            json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"type": "ExternalName", "sessionAffinity": "None"}}),
            &["spec.externalName: Required value"],
        ),
        case(
            "externalName forbids cluster IPs",
            K::Service,
            json!({"metadata": {"name": "x", "namespace": "default"},
                   "spec": {"type": "ExternalName", "externalName": "db.example.com", "clusterIP": "10.0.0.1"}}),
            &["spec.clusterIPs: Forbidden: may not be set for ExternalName services"],
        ),
        case(
            "headless NodePort",
            K::Service,
            with(
                with(node_port_service(), "/spec/clusterIP", json!("None")),
                "/spec/clusterIPs",
                json!(["None"]),
            ),
            &[
                "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services",
            ],
        ),
        case(
            "selector labels",
            K::Service,
            with(s(), "/spec/selector", json!({"app": "no spaces"})),
            &[
                "spec.selector: Invalid value: \"no spaces\": a valid label must be an empty string or consist of …",
            ],
        ),
        case(
            "clusterIPs agree with clusterIP",
            K::Service,
            with(s(), "/spec/clusterIPs", json!(["10.96.0.11"])),
            &[
                "spec.clusterIPs: Invalid value: []string{\"10.96.0.11\"}: first value must match `clusterIP`",
            ],
        ),
        case(
            "bad IPs",
            K::Service,
            with(
                with(
                    with(s(), "/spec/clusterIP", json!("10.96.0.300")),
                    "/spec/clusterIPs",
                    json!(["10.96.0.300"]),
                ),
                "/spec/externalIPs",
                json!(["x"]),
            ),
            &[
                "spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                "spec.externalIPs[0]: Invalid value: \"x\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ],
        ),
        case(
            "traffic policies",
            K::Service,
            with(
                with(s(), "/spec/externalTrafficPolicy", json!("Local")),
                "/spec/internalTrafficPolicy",
                json!("Node"),
            ),
            &[
                "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services",
                "spec.internalTrafficPolicy: Unsupported value: \"Node\": supported values: \"Cluster\", \"Local\"",
            ],
        ),
        case(
            "source ranges",
            K::Service,
            with(
                s(),
                "/spec/loadBalancerSourceRanges",
                json!(["10.0.0.0/33"]),
            ),
            &[
                "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
                "spec.LoadBalancerSourceRanges[0]: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ],
        ),
        update(
            "clusterIP may not change",
            K::Service,
            s(),
            with(
                with(s(), "/spec/clusterIP", json!("10.96.0.11")),
                "/spec/clusterIPs",
                json!(["10.96.0.11"]),
            ),
            &[
                "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set",
            ],
        ),
        update(
            "clusterIP alone may not change",
            K::Service,
            s(),
            with(s(), "/spec/clusterIP", json!("10.96.0.11")),
            &[
                "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set",
            ],
        ),
        update(
            "left-out clusterIP is kept",
            K::Service,
            s(),
            without(without(s(), "/spec/clusterIP"), "/spec/clusterIPs"),
            &[],
        ),
        update(
            "change to ExternalName",
            K::Service,
            s(),
            with(
                with(s(), "/spec/type", json!("ExternalName")),
                "/spec/externalName",
                json!("db.example.com"),
            ),
            &[],
        ),
        update(
            "NodePort back to ClusterIP drops node ports",
            K::Service,
            node_port_service(),
            with(node_port_service(), "/spec/type", json!("ClusterIP")),
            &[],
        ),
        update(
            "new selector and ports",
            K::Service,
            s(),
            with(s(), "/spec/ports/0/port", json!(8080)),
            &[],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps, Secrets, Namespaces.

#[test]
fn config_maps() {
    let cm = config_map;
    let immutable_cm = with(cm(), "/immutable", json!(true));
    check(vec![
        case(
            "keys",
            K::ConfigMap,
            with(cm(), "/data/bad key", json!("x")),
            &[
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ],
        ),
        case(
            "dot keys",
            K::ConfigMap,
            with(cm(), "/data/..x", json!("x")),
            &["data[..x]: Invalid value: \"..x\": must not start with '..'"],
        ),
        case(
            "key in both maps",
            K::ConfigMap,
            with(cm(), "/data/blob", json!("x")),
            &[
                "data[blob]: Invalid value: \"blob\": duplicate of key present in binaryData",
                "binaryData[blob]: Invalid value: \"blob\": duplicate of key present in data",
            ],
        ),
        case(
            "size",
            K::ConfigMap,
            with(cm(), "/data/big", json!("x".repeat(1024 * 1024))),
            &["Too long: may not be more than 1048576 bytes"],
        ),
        case(
            "binary data is base64",
            K::ConfigMap,
            with(cm(), "/binaryData/blob", json!("abc!")),
            &["binaryData[blob]: Invalid value: \"abc!\": illegal base64 data at input byte 3"],
        ),
        update(
            "mutable data",
            K::ConfigMap,
            cm(),
            with(cm(), "/data/LOG_LEVEL", json!("info")),
            &[],
        ),
        update(
            "immutable data",
            K::ConfigMap,
            immutable_cm.clone(),
            with(immutable_cm.clone(), "/data/LOG_LEVEL", json!("info")),
            &["data: Forbidden: field is immutable when `immutable` is set"],
        ),
        update(
            "cannot become mutable",
            K::ConfigMap,
            immutable_cm.clone(),
            with(
                with(immutable_cm.clone(), "/immutable", json!(false)),
                "/binaryData",
                json!({}),
            ),
            &[
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "binaryData: Forbidden: field is immutable when `immutable` is set",
            ],
        ),
        update(
            "immutable metadata may change",
            K::ConfigMap,
            immutable_cm.clone(),
            with(immutable_cm, "/metadata/labels", json!({"a": "b"})),
            &[],
        ),
    ]);
}

#[test]
fn secrets_and_namespaces() {
    let meta = json!({"name": "s", "namespace": "default"});
    let typed = |ty: &str, data: Value| json!({"metadata": meta, "type": ty, "data": data});
    let immutable_secret = with(secret(), "/immutable", json!(true));
    check(vec![
        case(
            "tls keys",
            K::Secret,
            typed("kubernetes.io/tls", json!({})),
            &[
                "data[tls.crt]: Required value",
                "data[tls.key]: Required value",
            ],
        ),
        case(
            "dockerconfigjson key",
            K::Secret,
            typed("kubernetes.io/dockerconfigjson", json!({})),
            &["data[.dockerconfigjson]: Required value"],
        ),
        case(
            "dockerconfigjson content",
            K::Secret,
            typed(
                "kubernetes.io/dockerconfigjson",
                json!({".dockerconfigjson": "bm90IGpzb24="}),
            ),
            &[
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'o' looking for beginning of value",
            ],
        ),
        case(
            "dockerconfigjson must be an object",
            K::Secret,
            typed(
                "kubernetes.io/dockerconfigjson",
                json!({".dockerconfigjson": "W10="}),
            ),
            &[
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": json: cannot unmarshal array into Go value of type map[string]interface {}",
            ],
        ),
        case(
            "service account token annotation",
            K::Secret,
            typed("kubernetes.io/service-account-token", json!({})),
            &["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
        ),
        case(
            "basic auth",
            K::Secret,
            typed("kubernetes.io/basic-auth", json!({})),
            &[
                "data[username]: Required value",
                "data[password]: Required value",
            ],
        ),
        case(
            "keys and base64",
            K::Secret,
            typed("Opaque", json!({"a b": "eA==", "k": "abc!"})),
            &[
                "data[k]: Invalid value: \"<secret contents redacted>\": illegal base64 data at input byte 3",
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of …",
            ],
        ),
        case(
            "size",
            K::Secret,
            json!({"metadata": meta, "stringData": {"big": "x".repeat(1024 * 1024 + 1)}}),
            &["data: Too long: may not be more than 1048576 bytes"],
        ),
        update(
            "type is immutable",
            K::Secret,
            secret(),
            with(
                with(secret(), "/type", json!("kubernetes.io/tls")),
                "/data",
                json!({"tls.crt": "", "tls.key": ""}),
            ),
            &["type: Invalid value: \"kubernetes.io/tls\": field is immutable"],
        ),
        update(
            "immutable secret data",
            K::Secret,
            immutable_secret.clone(),
            with(
                immutable_secret.clone(),
                "/stringData",
                json!({"password": "new"}),
            ),
            &["data: Forbidden: field is immutable when `immutable` is set"],
        ),
        update(
            "immutable secret stays immutable",
            K::Secret,
            immutable_secret.clone(),
            without(immutable_secret, "/immutable"),
            &["immutable: Forbidden: field is immutable when `immutable` is set"],
        ),
        case(
            "namespace finalizers",
            K::Namespace,
            with(
                namespace(),
                "/spec/finalizers",
                json!(["kubernetes", "custom", "example.com/x", "a/b/c"]),
            ),
            &[
                "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified",
                "spec.finalizers: Invalid value: \"a/b/c\": a qualified name must consist of …",
            ],
        ),
        update(
            "namespace finalize",
            K::Namespace,
            namespace(),
            with(namespace(), "/spec/finalizers", json!(["-x"])),
            &[
                "spec.finalizers: Invalid value: \"-x\": name part must consist of …",
                "spec.finalizers: Invalid value: \"-x\": name is neither a standard finalizer name nor is it fully qualified",
            ],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Error shape and helpers.

#[test]
fn error_types_and_rendering() {
    let errs = run(
        K::Deployment,
        &with(deployment(), "/spec/replicas", json!(-1)),
        None,
    );
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, ErrorType::Invalid);
    assert_eq!(errs[0].field, "spec.replicas");
    assert_eq!(
        errs[0].to_string(),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );

    let errs = run(
        K::Pod,
        &with(
            pod(),
            "/spec/containers/0/volumeMounts",
            json!([{"name": "x", "mountPath": "/x"}]),
        ),
        None,
    );
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, ErrorType::NotFound);
    assert_eq!(errs[0].kind.reason(), "FieldValueNotFound");

    let errs = run(
        K::ConfigMap,
        &with(
            config_map(),
            "/metadata/annotations",
            json!({"k": "x".repeat(300_000)}),
        ),
        None,
    );
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].kind, ErrorType::TooLong);
    assert_eq!(errs[0].value, None);
}

#[test]
fn quantities_and_base64() {
    let q = |s: &str| parse_quantity(&json!(s)).map(|q| q.value);
    assert_eq!(q("100m"), Ok(0.1));
    assert_eq!(q("1Gi"), Ok(1_073_741_824.0));
    assert_eq!(q("1.5k"), Ok(1500.0));
    assert_eq!(q("2e3"), Ok(2000.0));
    assert_eq!(q("-1"), Ok(-1.0));
    assert_eq!(parse_quantity(&json!(0.5)).map(|q| q.value), Ok(0.5));
    assert!(q("").is_err());
    assert!(q("abc").is_err());
    assert!(q("1.2.3").is_err());
    assert!(q("1 Gi").is_err());
    assert!(q("1mm").is_err());
    assert!(parse_quantity(&json!(true)).is_err());

    assert_eq!(decode_base64("aGVsbG8="), Ok(b"hello".to_vec()));
    assert_eq!(decode_base64("aGVs\nbG8h"), Ok(b"hello!".to_vec()));
    assert_eq!(decode_base64(""), Ok(Vec::new()));
    assert_eq!(
        decode_base64("aGVsbG8"),
        Err("illegal base64 data at input byte 7".to_string())
    );
    assert_eq!(
        decode_base64("a=bc"),
        Err("illegal base64 data at input byte 1".to_string())
    );
    assert!(decode_base64("aGVsbG8=aGVs").is_err());
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input makes validation panic.

/// Every JSON pointer into `v` (including the root).
fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{prefix}/{key}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn never_panics_on_wrong_types() {
    let junk = [
        Value::Null,
        json!(0),
        json!(-7),
        json!(1.5),
        json!(u64::MAX),
        json!(true),
        json!(""),
        json!("junk/VALUE=%"),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"a": [1]}),
    ];
    let samples = [
        (K::Pod, pod()),
        (K::Deployment, deployment()),
        (K::ReplicaSet, replica_set()),
        (K::StatefulSet, stateful_set()),
        (K::DaemonSet, daemon_set()),
        (K::Rc, replication_controller()),
        (K::Job, job()),
        (K::CronJob, cron_job()),
        (K::Service, node_port_service()),
        (K::ConfigMap, config_map()),
        (K::Secret, secret()),
        (K::Namespace, namespace()),
    ];
    for (k, sample) in samples {
        let mut ptrs = Vec::new();
        pointers(&sample, String::new(), &mut ptrs);
        for ptr in &ptrs {
            for j in &junk {
                let obj = if ptr.is_empty() {
                    j.clone()
                } else {
                    with(sample.clone(), ptr, j.clone())
                };
                let _ = run(k, &obj, None);
                let _ = run(k, &obj, Some(&sample));
                let _ = run(k, &sample, Some(&obj));
            }
        }
    }
}

#[test]
fn pod_sysctls_are_named_as_upstream_requires() {
    let pod = |sysctls: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d"},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always",
                "terminationMessagePolicy": "File"}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "securityContext": {"sysctls": sysctls}}})
    };
    let errs = crate::validation::validate(
        "",
        "Pod",
        true,
        &pod(json!([
            {"name": "kernel.shm_rmid_forced", "value": "0"},
            {"name": "net/ipv4/ip_forward", "value": "1"},
            {"name": "Bad_Name!", "value": "1"},
            {"name": "kernel.shm_rmid_forced", "value": "1"},
            {"name": "", "value": "1"}
        ])),
        None,
    );
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(text[0].starts_with("spec.securityContext.sysctls[2].name: Invalid value: \"Bad_Name!\": must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*"), "{text:?}");
    assert!(
        text[1].starts_with("spec.securityContext.sysctls[3].name: Duplicate value"),
        "{text:?}"
    );
    assert!(
        text[2].starts_with("spec.securityContext.sysctls[4].name: Required value"),
        "{text:?}"
    );
}

#[test]
fn ephemeral_container_updates() {
    let ec = |extra: Value| {
        let mut c = json!({"name": "dbg", "image": "busybox", "targetContainerName": "web"});
        if let (Some(m), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        c
    };
    let with_dbg = with(pod(), "/spec/ephemeralContainers", json!([ec(json!({}))]));
    check(vec![
        update("add one", K::Pod, pod(), with_dbg.clone(), &[]),
        update(
            "empty resources are unset",
            K::Pod,
            pod(),
            with(
                pod(),
                "/spec/ephemeralContainers",
                json!([ec(json!({"resources": {}}))]),
            ),
            &[],
        ),
        update(
            "ports and probes are not allowed",
            K::Pod,
            pod(),
            with(
                pod(),
                "/spec/ephemeralContainers",
                json!([ec(
                    json!({"ports": [{"containerPort": 80}], "readinessProbe": {"tcpSocket": {"port": 80}}})
                )]),
            ),
            &[
                "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[0].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
            ],
        ),
        update(
            "unknown target",
            K::Pod,
            pod(),
            with(
                pod(),
                "/spec/ephemeralContainers",
                json!([ec(json!({"targetContainerName": "nope"}))]),
            ),
            &["spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\""],
        ),
        update(
            "a name taken by a container",
            K::Pod,
            pod(),
            with(
                pod(),
                "/spec/ephemeralContainers",
                json!([ec(json!({"name": "web"}))]),
            ),
            &["spec.ephemeralContainers[0].name: Duplicate value: \"web\""],
        ),
        update(
            "existing ones may not change",
            K::Pod,
            with_dbg.clone(),
            with(
                with_dbg.clone(),
                "/spec/ephemeralContainers/0/image",
                json!("other"),
            ),
            &[
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be changed\n",
            ],
        ),
        update(
            "or be removed",
            K::Pod,
            with_dbg,
            pod(),
            &[
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed\n",
            ],
        ),
    ]);
}
