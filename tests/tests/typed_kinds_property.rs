//! A property over every built-in kind the server serves: an object built from the kind's
//! served OpenAPI schema, with one field (chosen by a seeded generator) set to a value of the
//! wrong JSON type, is refused with 400 by create, update and server-side apply (and by merge
//! and JSON patches on a stored object), nothing is stored, and typed clients still decode
//! every list. Bounded: five fields per kind, one server.

use http::Request;
use krust_e2e::Server;
use serde_json::{Map, Value, json};

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    ct: &str,
    body: &Value,
) -> (u16, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap_or_default()
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
    let code = resp.status().as_u16();
    use http_body_util::BodyExt;
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A small deterministic generator (xorshift), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One typed leaf (or typed object) of a schema: its path and a value of the wrong type.
#[derive(Debug, Clone)]
struct Field {
    path: Vec<String>,
    wrong: Value,
}

fn resolve<'a>(defs: &'a Map<String, Value>, s: &'a Value) -> (&'a Value, Option<&'a str>) {
    let r = s.get("$ref").and_then(Value::as_str).or_else(|| {
        s.get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|x| x.get("$ref"))
            .and_then(Value::as_str)
    });
    match r.and_then(|r| r.rsplit('/').next()) {
        Some(name) => match defs.get(name) {
            Some(d) => (d, Some(name)),
            None => (s, None),
        },
        None => (s, None),
    }
}

/// Collects the fields under `schema` (not through lists, to keep the object one level of
/// nesting per step), up to `depth` levels.
fn fields(
    defs: &Map<String, Value>,
    schema: &Value,
    path: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<Field>,
) {
    let (s, name) = resolve(defs, schema);
    let name = name.unwrap_or("");
    if name.ends_with("IntOrString")
        || name.ends_with("RawExtension")
        || name.ends_with("FieldsV1")
        || name.contains("JSON")
    {
        return;
    }
    let ty = s.get("type").and_then(Value::as_str).unwrap_or("");
    let wrong = match ty {
        "string" if name.ends_with("Quantity") => json!({"q": 1}),
        "string" => json!(12),
        "integer" | "number" => json!("not-a-number"),
        "boolean" => json!("yes"),
        "array" => json!("not-a-list"),
        "object"
            if s.get("properties").is_some()
                || s.get("additionalProperties").is_some_and(Value::is_object) =>
        {
            json!("not-an-object")
        }
        _ => return,
    };
    if !path.is_empty() {
        out.push(Field {
            path: path.clone(),
            wrong,
        });
    }
    if depth == 0 {
        return;
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, p) in props {
            if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind") {
                continue;
            }
            path.push(k.clone());
            fields(defs, p, path, depth - 1, out);
            path.pop();
        }
    }
}

fn with_field(base: &Value, f: &Field) -> Value {
    let mut obj = base.clone();
    let mut cur = &mut obj;
    let Some((last, parents)) = f.path.split_last() else {
        return obj;
    };
    for p in parents {
        let Some(map) = cur.as_object_mut() else {
            return obj.clone();
        };
        cur = map.entry(p.clone()).or_insert_with(|| json!({}));
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(last.clone(), f.wrong.clone());
    }
    obj
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_refuses_wrong_types_on_every_write_verb() {
    let s = Server::start();
    let c = s.client().await;
    let (code, openapi) = send(&c, "GET", "/openapi/v2", "application/json", &Value::Null).await;
    assert_eq!(code, 200);
    let defs = openapi["definitions"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    // Every served resource with create, from discovery.
    let mut group_versions = vec!["/api/v1".to_string()];
    let (_, groups) = send(&c, "GET", "/apis", "application/json", &Value::Null).await;
    for g in groups["groups"].as_array().into_iter().flatten() {
        if let Some(gv) = g["preferredVersion"]["groupVersion"].as_str() {
            group_versions.push(format!("/apis/{gv}"));
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut kinds = 0;
    let mut cases = 0;
    for base in &group_versions {
        let (_, list) = send(&c, "GET", base, "application/json", &Value::Null).await;
        let api_version = list["groupVersion"].as_str().unwrap_or("v1").to_string();
        for r in list["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or("");
            let verbs: Vec<&str> = r["verbs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if name.contains('/') || !verbs.contains(&"create") || !verbs.contains(&"get") {
                continue;
            }
            let kind = r["kind"].as_str().unwrap_or("");
            let (group, version) = api_version
                .split_once('/')
                .unwrap_or(("", api_version.as_str()));
            let Some((_, schema)) = defs.iter().find(|(_, d)| {
                d["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|gvks| {
                        gvks.iter().any(|g| {
                            g["group"] == group && g["version"] == version && g["kind"] == kind
                        })
                    })
            }) else {
                continue;
            };
            let mut all = Vec::new();
            fields(&defs, schema, &mut Vec::new(), 3, &mut all);
            assert!(
                !all.is_empty(),
                "{api_version} {kind}: no typed fields found in its schema"
            );
            kinds += 1;
            let namespaced = r["namespaced"].as_bool() == Some(true);
            let collection = if namespaced {
                format!("{base}/namespaces/default/{name}")
            } else {
                format!("{base}/{name}")
            };
            for i in 0..5 {
                let f = &all[rng.below(all.len())];
                let obj_name = format!("prop-{}-{i}", kind.to_lowercase());
                let base_obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": obj_name}});
                let obj = with_field(&base_obj, f);
                let case = format!("{api_version} {kind} {}={}", f.path.join("."), f.wrong);
                let item = format!("{collection}/{obj_name}");
                for (method, path, ct) in [
                    ("POST", collection.as_str(), "application/json"),
                    ("PUT", item.as_str(), "application/json"),
                    (
                        "PATCH",
                        &format!("{item}?fieldManager=prop&force=true"),
                        "application/apply-patch+yaml",
                    ),
                ] {
                    let (code, body) = send(&c, method, path, ct, &obj).await;
                    assert_eq!(code, 400, "{case} via {method} {ct}: {body}");
                    assert_eq!(body["reason"], "BadRequest", "{case}: {body}");
                    let msg = body["message"].as_str().unwrap_or("");
                    assert!(msg.contains("cannot be handled as a"), "{case}: {msg}");
                    let last = f.path.last().map(String::as_str).unwrap_or("");
                    assert!(
                        msg.contains(last),
                        "{case}: the message does not name the field: {msg}"
                    );
                }
                let (code, body) = send(&c, "GET", &item, "application/json", &Value::Null).await;
                assert_eq!(code, 404, "{case}: stored anyway: {body}");
                cases += 1;
            }
        }
    }
    assert!(kinds >= 35, "only {kinds} kinds were found in discovery");

    // Patches of stored objects: merge and JSON patch with a wrong type, on a few kinds.
    s.ok(&["create", "configmap", "cm"]);
    s.ok(&["create", "deployment", "web", "--image=nginx"]);
    s.ok(&["create", "service", "clusterip", "svc", "--tcp=80:80"]);
    s.ok(&["create", "serviceaccount", "sa"]);
    for (path, field, wrong) in [
        (
            "/api/v1/namespaces/default/configmaps/cm",
            "data",
            json!(["x"]),
        ),
        (
            "/apis/apps/v1/namespaces/default/deployments/web",
            "spec",
            json!({"minReadySeconds": "5"}),
        ),
        (
            "/api/v1/namespaces/default/services/svc",
            "spec",
            json!({"ports": [{"port": "80"}]}),
        ),
        (
            "/api/v1/namespaces/default/serviceaccounts/sa",
            "automountServiceAccountToken",
            json!("no"),
        ),
    ] {
        let before = send(&c, "GET", path, "application/json", &Value::Null)
            .await
            .1;
        let (code, body) = send(
            &c,
            "PATCH",
            path,
            "application/merge-patch+json",
            &json!({field: wrong}),
        )
        .await;
        assert_eq!(code, 400, "merge patch {path}: {body}");
        let op = json!([{"op": "add", "path": format!("/{field}"), "value": wrong}]);
        let (code, body) = send(&c, "PATCH", path, "application/json-patch+json", &op).await;
        assert_eq!(code, 400, "json patch {path}: {body}");
        let after = send(&c, "GET", path, "application/json", &Value::Null)
            .await
            .1;
        assert_eq!(
            before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"],
            "{path} changed"
        );
        cases += 2;
    }

    // Typed clients decode every list of the kinds touched most.
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::*};
    use kube::api::{Api, ListParams};
    let lp = ListParams::default();
    Api::<ConfigMap>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("configmaps: {e}"));
    Api::<Deployment>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("deployments: {e}"));
    Api::<Service>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("services: {e}"));
    Api::<ServiceAccount>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("serviceaccounts: {e}"));
    Api::<Node>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("nodes: {e}"));
    Api::<Namespace>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("namespaces: {e}"));
    Api::<Pod>::all(c.clone())
        .list(&lp)
        .await
        .unwrap_or_else(|e| panic!("pods: {e}"));
    eprintln!("{kinds} kinds, {cases} wrong-typed writes refused");
}
