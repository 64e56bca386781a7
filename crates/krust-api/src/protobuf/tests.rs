#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

/// A tiny protobuf encoder: `Enc::new().str(1, "x").msg(2, Enc::new().int(1, 5))`.
#[derive(Clone, Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn new() -> Self {
        Self::default()
    }
    fn raw_varint(mut self, mut v: u64) -> Self {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    fn key(self, tag: u32, wire: u8) -> Self {
        self.raw_varint(u64::from(tag) << 3 | u64::from(wire))
    }
    /// A varint field; negative values are 10-byte two's complement, as Go writes them.
    fn int(self, tag: u32, v: i64) -> Self {
        self.key(tag, 0).raw_varint(v as u64)
    }
    fn bool(self, tag: u32, v: bool) -> Self {
        self.int(tag, i64::from(v))
    }
    fn bytes(self, tag: u32, b: &[u8]) -> Self {
        let mut e = self.key(tag, 2).raw_varint(b.len() as u64);
        e.0.extend_from_slice(b);
        e
    }
    fn str(self, tag: u32, s: &str) -> Self {
        self.bytes(tag, s.as_bytes())
    }
    fn msg(self, tag: u32, m: Enc) -> Self {
        self.bytes(tag, &m.0)
    }
    fn double(self, tag: u32, f: f64) -> Self {
        let mut e = self.key(tag, 1);
        e.0.extend_from_slice(&f.to_le_bytes());
        e
    }
    /// A map entry with a string key and a string value.
    fn entry(self, tag: u32, k: &str, v: &str) -> Self {
        self.msg(tag, Enc::new().str(1, k).str(2, v))
    }
    /// A map entry with a string key and a message value.
    fn entry_msg(self, tag: u32, k: &str, v: Enc) -> Self {
        self.msg(tag, Enc::new().str(1, k).msg(2, v))
    }
    fn packed(self, tag: u32, values: &[i64]) -> Self {
        let inner = values
            .iter()
            .fold(Enc::new(), |e, v| e.raw_varint(*v as u64));
        self.bytes(tag, &inner.0)
    }
}

/// `k8s\0` + runtime.Unknown{typeMeta{apiVersion, kind}, raw}.
fn body(api_version: &str, kind: &str, raw: &Enc) -> Vec<u8> {
    let unknown = Enc::new()
        .msg(1, Enc::new().str(1, api_version).str(2, kind))
        .bytes(2, &raw.0);
    [b"k8s\0".as_slice(), &unknown.0].concat()
}

fn decode(api_version: &str, kind: &str, raw: Enc) -> Value {
    decode_object(&body(api_version, kind, &raw)).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn meta(name: &str, namespace: &str) -> Enc {
    Enc::new().str(1, name).str(3, namespace)
}

#[test]
fn content_type() {
    assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
    assert!(is_protobuf(
        "application/vnd.kubernetes.protobuf; charset=utf-8"
    ));
    assert!(is_protobuf(
        "Application/Vnd.Kubernetes.Protobuf;stream=watch"
    ));
    assert!(!is_protobuf("application/json"));
    assert!(!is_protobuf("application/vnd.kubernetes.protobuf+json"));
    assert!(!is_protobuf(""));
}

#[test]
fn schema_parses_and_resolves_kinds() {
    let s = schema().unwrap();
    assert!(s.messages.len() > 1000);
    let name = |api_version: &str, kind: &str| {
        let i = s
            .find_kind(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version} {kind}"));
        s.message(i).unwrap().name.clone()
    };
    assert_eq!(name("v1", "ConfigMap"), "api.core.v1.ConfigMap");
    assert_eq!(name("apps/v1", "Deployment"), "api.apps.v1.Deployment");
    assert_eq!(
        name("apps/v1", "DeploymentList"),
        "api.apps.v1.DeploymentList"
    );
    assert_eq!(
        name("networking.k8s.io/v1", "Ingress"),
        "api.networking.v1.Ingress"
    );
    assert_eq!(
        name("rbac.authorization.k8s.io/v1", "ClusterRole"),
        "api.rbac.v1.ClusterRole"
    );
    assert_eq!(
        name("storage.k8s.io/v1", "CSIDriver"),
        "api.storage.v1.CSIDriver"
    );
    assert_eq!(name("autoscaling/v1", "Scale"), "api.autoscaling.v1.Scale");
    assert_eq!(
        name("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        "apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    );
    assert_eq!(
        name("apiregistration.k8s.io/v1", "APIService"),
        "kube_aggregator.pkg.apis.apiregistration.v1.APIService"
    );
    for api_version in [
        "v1",
        "apps/v1",
        "meta.k8s.io/v1",
        "batch/v1",
        "example.com/v1",
    ] {
        assert_eq!(
            name(api_version, "DeleteOptions"),
            "apimachinery.pkg.apis.meta.v1.DeleteOptions"
        );
    }
    assert!(s.find_kind("v1", "NoSuchKind").is_none());
    assert!(s.find_kind("example.com/v1", "Widget").is_none());
}

#[test]
fn configmap() {
    let raw = Enc::new()
        .msg(
            1,
            meta("demo", "default")
                .str(2, "") // generateName: a zero Go value field, dropped
                .int(7, 0) // generation: likewise
                .entry(11, "app", "web")
                .entry(11, "tier", ""),
        )
        .entry(2, "a", "1")
        .entry(2, "empty", "")
        .msg(2, Enc::new().str(1, "nokey-value-missing"))
        .bool(4, false); // immutable is a *bool: false is kept
    assert_eq!(
        decode("v1", "ConfigMap", raw),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "demo", "namespace": "default", "labels": {"app": "web", "tier": ""}},
            "data": {"a": "1", "empty": "", "nokey-value-missing": ""},
            "immutable": false,
        })
    );
}

#[test]
fn secret_bytes_are_base64() {
    let raw = Enc::new()
        .msg(1, meta("s1", "default"))
        .msg(2, Enc::new().str(1, "k").bytes(2, b"v"))
        .msg(2, Enc::new().str(1, "bin").bytes(2, &[0, 0xff, 0x10, 0x20]))
        .msg(2, Enc::new().str(1, "two").bytes(2, b"ab"))
        .msg(2, Enc::new().str(1, "empty").bytes(2, b""))
        .str(3, "Opaque");
    assert_eq!(
        decode("v1", "Secret", raw),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s1", "namespace": "default"},
            "data": {"k": "dg==", "bin": "AP8QIA==", "two": "YWI=", "empty": ""},
            "type": "Opaque",
        })
    );
    assert_eq!(wire::base64(b"hello world"), "aGVsbG8gd29ybGQ=");
    assert_eq!(wire::base64(b""), "");
}

fn int_or_string_int(v: i64) -> Enc {
    Enc::new().int(1, 0).int(2, v).str(3, "")
}

fn int_or_string_str(s: &str) -> Enc {
    Enc::new().int(1, 1).int(2, 0).str(3, s)
}

#[test]
fn deployment() {
    let labels = Enc::new().entry(11, "app", "web");
    let container = Enc::new()
        .str(1, "nginx")
        .str(2, "nginx:1.25")
        .msg(6, Enc::new().str(1, "").int(2, 0).int(3, 80).str(4, "TCP"))
        .msg(
            8,
            Enc::new()
                .entry_msg(1, "cpu", Enc::new().str(1, "500m"))
                .entry_msg(1, "memory", Enc::new().str(1, "128Mi"))
                .entry_msg(2, "cpu", Enc::new()), // an empty Quantity is "0"
        )
        .bool(16, false); // stdin: zero Go value field, dropped
    let spec = Enc::new()
        .int(1, 0) // replicas is a *int32: 0 is kept
        .msg(2, Enc::new().entry(1, "app", "web"))
        .msg(
            3,
            Enc::new()
                .msg(1, labels.clone())
                .msg(2, Enc::new().msg(2, container)),
        )
        .msg(
            4,
            Enc::new().str(1, "RollingUpdate").msg(
                2,
                Enc::new()
                    .msg(1, int_or_string_int(1))
                    .msg(2, int_or_string_str("25%")),
            ),
        )
        .int(5, 0); // minReadySeconds: zero Go value field, dropped
    let status = Enc::new().int(1, 0).int(2, 0);
    let raw = Enc::new()
        .msg(1, meta("web", "default"))
        .msg(2, spec)
        .msg(3, status);
    assert_eq!(
        decode("apps/v1", "Deployment", raw),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx:1.25",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "0"}},
                    }]},
                },
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            },
            "status": {},
        })
    );
}

#[test]
fn namespace() {
    let raw = Enc::new()
        .msg(1, meta("ns1", ""))
        .msg(2, Enc::new().str(1, "kubernetes"))
        .msg(3, Enc::new().str(1, "Active"));
    assert_eq!(
        decode("v1", "Namespace", raw),
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "ns1"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })
    );
}

#[test]
fn delete_options_in_any_group_version() {
    let raw = Enc::new()
        .int(1, 0) // gracePeriodSeconds is a *int64: 0 (delete now) is kept
        .msg(2, Enc::new().str(1, "uid-1").str(2, "42"))
        .str(4, "Foreground")
        .str(5, "All");
    for api_version in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        assert_eq!(
            decode(api_version, "DeleteOptions", raw.clone()),
            json!({
                "apiVersion": api_version, "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
                "propagationPolicy": "Foreground",
                "dryRun": ["All"],
            })
        );
    }
    let orphan = Enc::new().int(1, 30).bool(3, true);
    assert_eq!(
        decode("v1", "DeleteOptions", orphan),
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 30, "orphanDependents": true})
    );
}

#[test]
fn times_and_negative_ints() {
    let ts = 1_767_323_045; // 2026-01-02T03:04:05Z
    let raw = Enc::new().msg(
        1,
        meta("x", "default")
            .msg(8, Enc::new().int(1, ts).int(2, 999)) // Go drops Time's nanos
            .msg(9, Enc::new()) // an empty Time is Go's zero time: null
            .int(10, -1), // int64 -1: ten-byte varint
    );
    assert_eq!(
        decode("v1", "ConfigMap", raw),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "x", "namespace": "default",
                "creationTimestamp": "2026-01-02T03:04:05Z",
                "deletionTimestamp": null,
                "deletionGracePeriodSeconds": -1,
            },
        })
    );
    // int32 -5 (PriorityClass.value), MicroTime with microseconds (Lease).
    let pc = Enc::new().msg(1, meta("low", "")).int(2, -5).bool(3, false);
    assert_eq!(
        decode("scheduling.k8s.io/v1", "PriorityClass", pc),
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "low"}, "value": -5})
    );
    let lease = Enc::new().msg(1, meta("l", "kube-system")).msg(
        2,
        Enc::new()
            .str(1, "node-1")
            .int(2, 40)
            .msg(4, Enc::new().int(1, ts).int(2, 123_456_789))
            .msg(3, Enc::new().int(1, ts)),
    );
    assert_eq!(
        decode("coordination.k8s.io/v1", "Lease", lease),
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "l", "namespace": "kube-system"},
            "spec": {
                "holderIdentity": "node-1", "leaseDurationSeconds": 40,
                "renewTime": "2026-01-02T03:04:05.123456Z",
                "acquireTime": "2026-01-02T03:04:05.000000Z",
            },
        })
    );
}

#[test]
fn durations() {
    let metrics = Enc::new()
        .msg(1, meta("node-1", ""))
        .msg(3, Enc::new().int(1, 3_600_000_000_000))
        .entry_msg(4, "cpu", Enc::new().str(1, "250m"));
    assert_eq!(
        decode("metrics.k8s.io/v1beta1", "NodeMetrics", metrics),
        json!({
            "apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
            "metadata": {"name": "node-1"}, "window": "1h0m0s", "usage": {"cpu": "250m"},
        })
    );
    for (nanos, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_001, "1h2m3.000000001s"),
        (-30_000_000_000, "-30s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(special::go_duration(nanos), want, "{nanos}");
    }
}

#[test]
fn repeated_scalars_packed_or_not_and_inline_fields() {
    let probe = Enc::new()
        .msg(
            1,
            Enc::new().msg(
                2,
                Enc::new()
                    .str(1, "/healthz")
                    .msg(2, int_or_string_str("http")),
            ),
        )
        .int(2, 5);
    let container = Enc::new()
        .str(1, "app")
        .msg(
            7,
            Enc::new().str(1, "MODE").msg(
                3,
                Enc::new().msg(
                    3,
                    Enc::new().msg(1, Enc::new().str(1, "cfg")).str(2, "mode"),
                ),
            ),
        )
        .msg(10, probe);
    let spec = Enc::new()
        .msg(
            1,
            Enc::new().str(1, "config").msg(
                2,
                Enc::new().msg(19, Enc::new().msg(1, Enc::new().str(1, "cfg")).int(3, 420)),
            ),
        )
        .msg(2, container)
        .msg(
            14,
            Enc::new().packed(4, &[1000, 2000]).int(4, 3000).int(2, 0),
        );
    let pod = Enc::new().msg(1, meta("p", "default")).msg(2, spec);
    assert_eq!(
        decode("v1", "Pod", pod),
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "volumes": [{"name": "config", "configMap": {"name": "cfg", "defaultMode": 420}}],
                "containers": [{
                    "name": "app",
                    "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 5},
                }],
                "securityContext": {"supplementalGroups": [1000, 2000, 3000], "runAsUser": 0},
            },
        })
    );
}

#[test]
fn raw_extensions_extra_values_and_schemas() {
    let rev = Enc::new()
        .msg(1, meta("r1", "default"))
        .msg(2, Enc::new().bytes(1, br#"{"spec":{"a":[1,true]}}"#))
        .int(3, 2);
    assert_eq!(
        decode("apps/v1", "ControllerRevision", rev),
        json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "r1", "namespace": "default"},
            "data": {"spec": {"a": [1, true]}}, "revision": 2,
        })
    );
    let sar = Enc::new().msg(
        2,
        Enc::new()
            .str(3, "alice")
            .entry_msg(5, "scopes", Enc::new().str(1, "a").str(1, "b"))
            .entry_msg(5, "none", Enc::new()),
    );
    assert_eq!(
        decode("authorization.k8s.io/v1", "SubjectAccessReview", sar),
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "alice", "extra": {"scopes": ["a", "b"], "none": []}},
        })
    );

    let string_props = Enc::new().str(5, "string");
    let schema = Enc::new()
        .str(5, "object")
        .entry_msg(
            29,
            "name",
            string_props.clone().msg(8, Enc::new().bytes(1, br#""x""#)),
        )
        .entry_msg(
            29,
            "tags",
            Enc::new()
                .str(5, "array")
                .msg(24, Enc::new().msg(1, string_props.clone())),
        )
        .entry_msg(
            29,
            "pair",
            Enc::new().msg(
                24,
                Enc::new()
                    .msg(2, string_props.clone())
                    .msg(2, Enc::new().str(5, "integer")),
            ),
        )
        .entry_msg(
            29,
            "labels",
            Enc::new()
                .str(5, "object")
                .msg(30, Enc::new().msg(2, string_props.clone())),
        )
        .entry_msg(
            29,
            "open",
            Enc::new()
                .str(5, "object")
                .msg(30, Enc::new().bool(1, true)),
        )
        .entry_msg(29, "closed", Enc::new().msg(30, Enc::new()))
        .entry_msg(
            29,
            "size",
            Enc::new()
                .double(9, 10.0)
                .double(11, 0.5)
                .msg(20, Enc::new().bytes(1, b"1"))
                .msg(20, Enc::new().bytes(1, b"2")),
        )
        .entry_msg(32, "dep", Enc::new().str(2, "name").str(2, "tags"))
        .entry_msg(
            32,
            "depschema",
            Enc::new().msg(1, Enc::new().str(23, "name")),
        )
        .str(23, "name");
    let crd = Enc::new().msg(1, meta("widgets.example.com", "")).msg(
        2,
        Enc::new()
            .str(1, "example.com")
            .msg(3, Enc::new().str(1, "widgets").str(4, "Widget"))
            .str(4, "Namespaced")
            .msg(
                7,
                Enc::new()
                    .str(1, "v1")
                    .bool(2, true)
                    .bool(3, true)
                    .msg(4, Enc::new().msg(1, schema)),
            ),
    );
    assert_eq!(
        decode("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd),
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "widgets", "kind": "Widget"},
                "scope": "Namespaced",
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "default": "x"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "pair": {"items": [{"type": "string"}, {"type": "integer"}]},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "open": {"type": "object", "additionalProperties": true},
                        "closed": {"additionalProperties": false},
                        "size": {"maximum": 10, "minimum": 0.5, "enum": [1, 2]},
                    },
                    "dependencies": {"dep": ["name", "tags"], "depschema": {"required": ["name"]}},
                    "required": ["name"],
                }}}],
            },
        })
    );
}

#[test]
fn unknown_fields_are_skipped() {
    let raw = Enc::new()
        .int(99, 7)
        .msg(
            1,
            meta("x", "default").str(1000, "future").double(1001, 1.0),
        )
        .str(98, "ignored")
        .entry(2, "a", "1");
    let mut b = body("v1", "ConfigMap", &raw);
    // Unknown envelope fields too, and fixed32 ones.
    b.extend_from_slice(&Enc::new().int(9, 1).key(10, 5).0);
    b.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(
        decode_object(&b).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}, "data": {"a": "1"}})
    );
}

/// Bodies kubectl v1.33 sent (`kubectl create ... --dry-run=server` against a capturing
/// server), decoded to exactly the JSON `kubectl create ... --dry-run=client -o json` prints.
#[test]
fn kubectl_bodies() {
    let cases = [
        (
            "6b3873000a0f0a0276311209436f6e6669674d6170122f0a1b0a0464656d6f12001a0764656661756c7422002a0032003800420012060a016112013112080a0162120374776f1a002200",
            json!({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"demo","namespace":"default","creationTimestamp":null},"data":{"a":"1","b":"two"}}),
        ),
        (
            "6b3873000a0c0a027631120653656372657412300a190a02733112001a0764656661756c7422002a0032003800420012090a05656d707479120012060a016b1201761a001a002200",
            json!({"kind":"Secret","apiVersion":"v1","metadata":{"name":"s1","namespace":"default","creationTimestamp":null},"data":{"empty":"","k":"dg=="}}),
        ),
        (
            "6b3873000a0f0a02763112094e616d657370616365121b0a130a036e733112001a0022002a0032003800420012001a020a001a002200",
            json!({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ns1","creationTimestamp":null},"spec":{},"status":{}}),
        ),
        (
            "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412c4010a260a0377656212001a0764656661756c7422002a003200380042005a0a0a036170701203776562128b010800120c0a0a0a0361707012037765621a710a1c0a0012001a0022002a003200380042005a0a0a036170701203776562125112330a056e67696e78120a6e67696e783a312e32352a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200",
            json!({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"default","creationTimestamp":null,"labels":{"app":"web"}},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80}],"resources":{}}]}},"strategy":{}},"status":{}}),
        ),
        (
            "6b3873000a0d0a02763112075365727669636512730a280a047376633112001a0764656661756c7422002a003200380042005a0b0a0361707012047376633112430a1b0a0738302d38303830120354435018502207080010903f1a002800120b0a036170701204737663311a002209436c757374657249503a00420052005a00600068001a020a001a002200",
            json!({"kind":"Service","apiVersion":"v1","metadata":{"name":"svc1","namespace":"default","creationTimestamp":null,"labels":{"app":"svc1"}},"spec":{"ports":[{"name":"80-8080","protocol":"TCP","port":80,"targetPort":8080}],"selector":{"app":"svc1"},"type":"ClusterIP"},"status":{"loadBalancer":{}}}),
        ),
        (
            "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565737412210a100a0012001a0022002a0032003800420012070a02613120901c1a040a0012001a002200",
            json!({"kind":"TokenRequest","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"audiences":["a1"],"expirationSeconds":3600},"status":{"token":"","expirationTimestamp":null}}),
        ),
    ];
    for (hex, want) in cases {
        let bytes = unhex(hex);
        assert_eq!(decode_object(&bytes).unwrap(), want);
        // No prefix of a valid body panics; the strict ones that fail name a reason.
        for n in 0..bytes.len() {
            if let Err(e) = decode_object(&bytes[..n]) {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn malformed_input_is_an_error() {
    let valid = body(
        "v1",
        "ConfigMap",
        &Enc::new().msg(1, meta("x", "default")).entry(2, "a", "1"),
    );
    assert_eq!(decode_object(b""), Err(ProtobufError::MissingMagic));
    assert_eq!(
        decode_object(b"{\"kind\":\"ConfigMap\"}"),
        Err(ProtobufError::MissingMagic)
    );
    assert_eq!(decode_object(b"k8s\0"), Err(ProtobufError::MissingTypeMeta));
    // Truncations inside the envelope or the object are errors, never panics.
    let mut errors = 0;
    for n in 4..valid.len() {
        if decode_object(&valid[..n]).is_err() {
            errors += 1;
        }
    }
    assert!(errors > valid.len() / 2, "{errors} of {}", valid.len());
    assert!(matches!(
        decode_object(&valid[..valid.len() - 1]),
        Err(ProtobufError::Truncated(_))
    ));

    let unknown = decode_object(&body("example.com/v1", "Widget", &Enc::new()));
    assert!(
        matches!(unknown, Err(ProtobufError::UnknownKind { .. })),
        "{unknown:?}"
    );

    // A string field sent as a varint.
    let wrong_wire = decode_object(&body(
        "v1",
        "ConfigMap",
        &Enc::new().msg(1, Enc::new().int(1, 5)),
    ));
    let err = wrong_wire.unwrap_err();
    assert!(err.to_string().contains("ObjectMeta.name"), "{err}");

    let bad_utf8 = decode_object(&body(
        "v1",
        "ConfigMap",
        &Enc::new().msg(1, Enc::new().bytes(1, &[0xff, 0xfe])),
    ));
    assert!(bad_utf8.unwrap_err().to_string().contains("UTF-8"));

    let bad_json = decode_object(&body(
        "apps/v1",
        "ControllerRevision",
        &Enc::new().msg(2, Enc::new().bytes(1, b"{nope")),
    ));
    assert!(bad_json.unwrap_err().to_string().contains("embedded JSON"));

    let bad_varint = [b"k8s\0".as_slice(), &[0x0a, 0x02, 0xff, 0xff]].concat();
    assert!(decode_object(&bad_varint).is_err());
    let overlong = [b"k8s\0".as_slice(), &[0x48], &[0xff; 11]].concat();
    assert!(matches!(
        decode_object(&overlong),
        Err(ProtobufError::BadVarint(_))
    ));
    let huge_len = [b"k8s\0".as_slice(), &[0x12], &[0xff; 9], &[0x01]].concat();
    assert!(matches!(
        decode_object(&huge_len),
        Err(ProtobufError::Truncated(_))
    ));
    let group_wire = [b"k8s\0".as_slice(), &[0x5b]].concat();
    assert!(decode_object(&group_wire).is_err());
    let gzip = Enc::new()
        .msg(1, Enc::new().str(1, "v1").str(2, "ConfigMap"))
        .str(3, "gzip");
    let gzip = [b"k8s\0".as_slice(), &gzip.0].concat();
    assert!(matches!(
        decode_object(&gzip),
        Err(ProtobufError::UnsupportedEnvelope { .. })
    ));

    // JSONSchemaProps nest without bound; decoding stops at MAX_DEPTH.
    let mut props = Enc::new().str(5, "string");
    for _ in 0..200 {
        props = Enc::new().msg(28, props);
    }
    let crd = Enc::new().msg(
        2,
        Enc::new().msg(7, Enc::new().msg(4, Enc::new().msg(1, props))),
    );
    assert_eq!(
        decode_object(&body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            &crd
        )),
        Err(ProtobufError::TooDeep)
    );
}

#[test]
fn garbage_never_panics() {
    // A deterministic generator: garbage after a valid envelope header, and mutated bodies.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = unhex(
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412c4010a260a0377656212001a0764656661756c7422002a003200380042005a0a0a036170701203776562128b010800120c0a0a0a0361707012037765621a710a1c0a0012001a0022002a003200380042005a0a0a036170701203776562125112330a056e67696e78120a6e67696e783a312e32352a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200",
    );
    for _ in 0..2000 {
        let mut b = valid.clone();
        for _ in 0..=(next() % 4) {
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
        }
        let _ = decode_object(&b);
        let len = (next() % 64) as usize;
        let mut g = b"k8s\0".to_vec();
        g.extend((0..len).map(|_| next() as u8));
        let _ = decode_object(&g);
    }
}
