//! Built-in objects are type-checked on every write path (400 with Go's decoding message,
//! nothing stored), and objects stored with wrong types before (written straight into the
//! SQLite file) answer error Statuses without panicking the server, and can be deleted.

use http::Request;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use krust_e2e::Server;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    ct: &str,
    body: Value,
) -> (u16, Value) {
    // JSON is YAML too, so apply bodies go as JSON.
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap_or_default()
    };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", ct)
        .body(kube::client::Body::from(bytes))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    use http_body_util::BodyExt;
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

/// Asserts a 400 BadRequest Status whose message contains `want`.
fn bad_request(what: &str, (code, body): (u16, Value), want: &str) {
    assert_eq!(code, 400, "{what}: {body}");
    assert_eq!(body["kind"], "Status", "{what}: {body}");
    assert_eq!(body["reason"], "BadRequest", "{what}: {body}");
    let msg = body["message"].as_str().unwrap_or("");
    assert!(msg.contains(want), "{what}: {msg:?} lacks {want:?}");
}

async fn panics(client: &kube::Client) -> f64 {
    let text = client
        .request_text(
            http::Request::get("/metrics")
                .body(Vec::new())
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("/metrics: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix("krust_panics_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no krust_panics_total in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_get_400_on_every_write_path_and_nothing_is_stored() {
    let s = Server::start();
    let c = s.client().await;
    let json = "application/json";
    let merge = "application/merge-patch+json";

    // The issue's examples: a Namespace status that is a string, through PUT .../status.
    s.ok(&["create", "namespace", "x"]);
    let ns: Value = serde_json::from_str(&s.ok(&["get", "ns", "x", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut bad = ns.clone();
    if let Some(m) = bad.as_object_mut() {
        m.insert("status".into(), json!("oops"));
    }
    bad_request(
        "namespace status",
        raw(&c, "PUT", "/api/v1/namespaces/x/status", json, bad).await,
        "Namespace in version \"v1\" cannot be handled as a Namespace: json: cannot unmarshal string into Go struct field Namespace.status of type v1.NamespaceStatus",
    );
    // A Node whose capacity is a list.
    bad_request(
        "node capacity",
        raw(
            &c,
            "POST",
            "/api/v1/nodes",
            json,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                   "status": {"capacity": ["4"]}}),
        )
        .await,
        "cannot unmarshal array into Go struct field NodeStatus.status.capacity",
    );
    // A Lease whose holder is a number.
    bad_request(
        "lease holder",
        raw(
            &c,
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            json,
            json!({"metadata": {"name": "l1"}, "spec": {"holderIdentity": 7}}),
        )
        .await,
        "cannot unmarshal number into Go struct field LeaseSpec.spec.holderIdentity of type string",
    );
    // A PodDisruptionBudget whose minAvailable is an object.
    bad_request(
        "pdb minAvailable",
        raw(
            &c,
            "POST",
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            json,
            json!({"metadata": {"name": "p1"}, "spec": {"minAvailable": {"a": 1}}}),
        )
        .await,
        "Go struct field PodDisruptionBudgetSpec.spec.minAvailable",
    );
    // Secret data that is not base64, a quantity that is not a quantity, a bad time.
    bad_request(
        "secret data",
        raw(
            &c,
            "POST",
            "/api/v1/namespaces/default/secrets",
            json,
            json!({"metadata": {"name": "s1"}, "data": {"k": "not base64!"}}),
        )
        .await,
        "illegal base64 data at input byte",
    );
    bad_request(
        "quantity",
        raw(
            &c,
            "POST",
            "/api/v1/namespaces/default/resourcequotas",
            json,
            json!({"metadata": {"name": "q1"}, "spec": {"hard": {"pods": "many"}}}),
        )
        .await,
        "quantities must match the regular expression",
    );
    bad_request(
        "time",
        raw(
            &c,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            json,
            json!({"metadata": {"name": "c1", "creationTimestamp": "yesterday"}}),
        )
        .await,
        "parsing time \"yesterday\"",
    );

    // A Deployment, then every way of writing a wrong type into it.
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.25",
        "--replicas=1",
    ]);
    let dep = "/apis/apps/v1/namespaces/default/deployments/web";
    let want =
        "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32";
    bad_request(
        "status merge patch",
        raw(
            &c,
            "PATCH",
            &format!("{dep}/status"),
            merge,
            json!({"status": {"replicas": "x"}}),
        )
        .await,
        "cannot unmarshal string into Go struct field DeploymentStatus.status.replicas of type int32",
    );
    bad_request(
        "merge patch",
        raw(&c, "PATCH", dep, merge, json!({"spec": {"replicas": "x"}})).await,
        want,
    );
    bad_request(
        "json patch",
        raw(
            &c,
            "PATCH",
            dep,
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/replicas", "value": "x"}]),
        )
        .await,
        want,
    );
    bad_request(
        "strategic merge patch",
        raw(
            &c,
            "PATCH",
            dep,
            "application/strategic-merge-patch+json",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "ports": [{"containerPort": "80"}]}]}}}}),
        )
        .await,
        "cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32",
    );
    bad_request(
        "server-side apply",
        raw(
            &c,
            "PATCH",
            &format!("{dep}?fieldManager=t&force=true"),
            "application/apply-patch+yaml",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"replicas": "x"}}),
        )
        .await,
        want,
    );
    let mut put: Value = serde_json::from_str(&s.ok(&["get", "deploy", "web", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(spec) = put.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("paused".into(), json!("yes"));
    }
    bad_request(
        "update",
        raw(&c, "PUT", dep, json, put).await,
        "cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool",
    );
    bad_request(
        "scale patch",
        raw(
            &c,
            "PATCH",
            &format!("{dep}/scale"),
            merge,
            json!({"spec": {"replicas": "x"}}),
        )
        .await,
        "Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal string into Go struct field ScaleSpec.spec.replicas of type int32",
    );
    // An older served version, converted to the stored one.
    bad_request(
        "apps/v1beta1 create",
        raw(
            &c,
            "POST",
            "/apis/apps/v1beta1/namespaces/default/deployments",
            json,
            json!({"metadata": {"name": "old"}, "spec": {"replicas": true,
                   "template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}}),
        )
        .await,
        "cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32",
    );
    // Kubectl users see the same message.
    let out = s.fails(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":"x"}}"#,
    ]);
    assert!(out.contains(want), "{out}");

    // Nothing was stored: the objects are as they were, and typed clients decode every list.
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.replicas} {.spec.paused}"
        ])
        .trim(),
        "1"
    );
    assert!(
        s.ok(&["get", "ns", "x", "-o", "jsonpath={.status.phase}"])
            .contains("Active")
    );
    assert!(s.fails(&["get", "node", "n1"]).contains("NotFound"));
    let lp = ListParams::default();
    Api::<Namespace>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let nodes = Api::<Node>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(nodes.items.is_empty());
    let leases = Api::<Lease>::namespaced(c.clone(), "default")
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        leases
            .items
            .iter()
            .all(|l| l.metadata.name.as_deref() != Some("l1"))
    );
    let pdbs = Api::<PodDisruptionBudget>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pdbs.items.is_empty());
    let secrets = Api::<Secret>::namespaced(c.clone(), "default")
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        secrets
            .items
            .iter()
            .all(|s| s.metadata.name.as_deref() != Some("s1"))
    );
    let deps = Api::<Deployment>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deps.items.len(), 1);

    // The namespace deletes cleanly, and nothing panicked.
    s.ok(&["delete", "namespace", "x", "--wait=false"]);
    assert_eq!(panics(&c).await, 0.0);
}

/// Writes `obj` at `key` straight into the stopped server's SQLite file.
async fn write_raw(db: &std::path::Path, key: &str, obj: &Value) {
    use krust_store::Backend;
    let backend = krust_store::sqlite::SqliteBackend::open(db).unwrap_or_else(|e| panic!("{e}"));
    let bytes = bytes::Bytes::from(serde_json::to_vec(obj).unwrap_or_default());
    match backend.get(key).await.unwrap_or_else(|e| panic!("{e}")) {
        Some(kv) => {
            backend
                .update(key, bytes, kv.mod_revision)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        None => {
            backend
                .create(key, bytes)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_stored_with_wrong_types_answer_errors_and_can_be_deleted() {
    let mut s = Server::start();
    s.ok(&["create", "namespace", "broken"]);
    s.ok(&["create", "configmap", "fine", "-n", "broken"]);
    s.stop();
    let db = s.data_dir().join("server/db/state.db");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "broken", "uid": "u-ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"finalizers": ["kubernetes"]}, "status": "oops"});
    write_raw(&db, "/registry/core/namespaces/broken", &ns).await;
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "uid": "u-n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"capacity": ["4"]}});
    write_raw(&db, "/registry/core/nodes/n1", &node).await;
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d1", "namespace": "default", "uid": "u-d1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": "x", "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
    write_raw(&db, "/registry/apps/deployments/default/d1", &dep).await;
    s.restart();
    let c = s.client().await;

    for (what, path, resource) in [
        ("node", "/api/v1/nodes/n1", "/api/v1/nodes"),
        (
            "namespace",
            "/api/v1/namespaces/broken",
            "/api/v1/namespaces",
        ),
        (
            "deployment",
            "/apis/apps/v1/namespaces/default/deployments/d1",
            "/apis/apps/v1/namespaces/default/deployments",
        ),
    ] {
        // get, list (cache and storage pages), watch, patch: an error Status each.
        let (code, body) = raw(&c, "GET", path, "application/json", Value::Null).await;
        assert_eq!(code, 500, "{what} get: {body}");
        assert_eq!(body["kind"], "Status", "{what} get: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("failed to decode the stored object"),
            "{what}: {body}"
        );
        for q in ["", "?limit=1", "?resourceVersion=0"] {
            let (code, body) = raw(
                &c,
                "GET",
                &format!("{resource}{q}"),
                "application/json",
                Value::Null,
            )
            .await;
            assert_eq!(code, 500, "{what} list{q}: {body}");
            assert_eq!(body["reason"], "InternalError", "{what} list{q}: {body}");
        }
        let (code, body) = raw(
            &c,
            "GET",
            &format!("{resource}?watch=true"),
            "application/json",
            Value::Null,
        )
        .await;
        assert_eq!(code, 200, "{what} watch");
        let text = body.to_string();
        assert!(
            text.contains("ERROR") && text.contains("failed to decode"),
            "{what} watch: {text}"
        );
        let (code, body) = raw(
            &c,
            "PATCH",
            path,
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .await;
        assert_eq!(code, 500, "{what} patch: {body}");
        assert_eq!(body["kind"], "Status", "{what} patch: {body}");
    }
    // kubectl shows the error rather than hanging or crashing.
    let out = s.fails(&["get", "nodes"]);
    assert!(out.contains("failed to decode"), "{out}");

    // Each can still be deleted, with plain kubectl; then everything reads again.
    s.ok(&["delete", "node", "n1"]);
    s.ok(&["delete", "deployment", "d1"]);
    s.ok(&["delete", "namespace", "broken", "--wait=false"]);
    let lp = ListParams::default();
    Api::<Node>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("nodes: {e}"));
    Api::<Deployment>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("deployments: {e}"));
    Api::<Namespace>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("namespaces: {e}"));
    assert!(s.fails(&["get", "node", "n1"]).contains("NotFound"));
    assert_eq!(panics(&c).await, 0.0, "{}", s.log());
}
