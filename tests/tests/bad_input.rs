//! Bad input gets a `Status` with upstream's code and reason, and writes nothing.

use http::Request;
use krust_e2e::Server;
use serde_json::{Value, json};

async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(kube::client::Body::from(body))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let bytes = http_body_util_collect(resp.into_body()).await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn http_body_util_collect(body: kube::client::Body) -> Vec<u8> {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default()
}

fn status_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON Status ({e}): {body}"))
}

fn assert_status(code: u16, body: &str, want_code: u16, want_reason: &str) -> Value {
    assert_eq!(code, want_code, "{body}");
    let s = status_of(body);
    assert_eq!(s["kind"], "Status", "{body}");
    assert_eq!(s["status"], "Failure", "{body}");
    assert_eq!(s["code"], want_code, "{body}");
    assert_eq!(s["reason"], want_reason, "{body}");
    s
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn count_configmaps(client: &kube::Client) -> usize {
    let (code, body) = raw(client, "GET", CMS, "application/json", vec![]).await;
    assert_eq!(code, 200, "{body}");
    status_of(&body)["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_bad_input_gets_a_status_and_writes_nothing() {
    let s = Server::start_with(&["--watch-cache-size", "5"]);
    let c = s.client().await;
    let before = count_configmaps(&c).await;

    // 400: malformed JSON and YAML
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        b"{\"kind\": \"ConfigMap\", ".to_vec(),
    )
    .await;
    assert_status(code, &body, 400, "BadRequest");
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/yaml",
        b"kind: [unclosed".to_vec(),
    )
    .await;
    assert_status(code, &body, 400, "BadRequest");
    // 400: not an object
    let (code, body) = raw(&c, "POST", CMS, "application/json", b"[1,2]".to_vec()).await;
    assert_status(code, &body, 400, "BadRequest");

    // 404: unknown resource, unknown version, unknown object
    let (code, body) = raw(
        &c,
        "GET",
        "/apis/apps/v1/namespaces/default/frobnicators",
        "application/json",
        vec![],
    )
    .await;
    assert_status(code, &body, 404, "NotFound");
    let (code, body) = raw(
        &c,
        "GET",
        "/apis/apps/v9/namespaces/default/deployments",
        "application/json",
        vec![],
    )
    .await;
    assert_status(code, &body, 404, "NotFound");
    let (code, body) = raw(
        &c,
        "GET",
        &format!("{CMS}/nope"),
        "application/json",
        vec![],
    )
    .await;
    let st = assert_status(code, &body, 404, "NotFound");
    assert_eq!(st["message"], "configmaps \"nope\" not found");
    assert_eq!(st["details"]["name"], "nope");
    // 404: a namespace that does not exist
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let (code, body) = raw(
        &c,
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        "application/json",
        cm.to_string().into_bytes(),
    )
    .await;
    assert_status(code, &body, 404, "NotFound");

    // 400: wrong namespace in the body, wrong kind for the endpoint
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "kube-system"}});
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        cm.to_string().into_bytes(),
    )
    .await;
    let st = assert_status(code, &body, 400, "BadRequest");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .contains("does not match the namespace"),
        "{body}"
    );
    let sec = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}});
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        sec.to_string().into_bytes(),
    )
    .await;
    assert_status(code, &body, 400, "BadRequest");

    // 422: invalid objects, with a cause per field
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c"}]}}}});
    let (code, body) = raw(
        &c,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        "application/json",
        bad.to_string().into_bytes(),
    )
    .await;
    let st = assert_status(code, &body, 422, "Invalid");
    let fields: Vec<&str> = st["details"]["causes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["field"].as_str()).collect())
        .unwrap_or_default();
    for want in [
        "metadata.name",
        "spec.replicas",
        "spec.template.metadata.labels",
        "spec.template.spec.containers[0].image",
    ] {
        assert!(fields.contains(&want), "no cause for {want}: {body}");
    }
    assert_eq!(st["details"]["kind"], "Deployment");
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_status(code, &body, 422, "Invalid");

    // 413: a body over 3 MiB
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
        "data": {"k": "x".repeat(3 * 1024 * 1024 + 10)}});
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        big.to_string().into_bytes(),
    )
    .await;
    assert_status(code, &body, 413, "RequestEntityTooLarge");

    // 415: unsupported media types, for writes and patches
    let (code, body) = raw(&c, "POST", CMS, "text/plain", b"hello".to_vec()).await;
    assert_status(code, &body, 415, "UnsupportedMediaType");

    // 409: create of an existing object, update with a stale resourceVersion
    let good = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good"}, "data": {"v": "1"}});
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        good.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let created = status_of(&body);
    let (code, body) = raw(
        &c,
        "POST",
        CMS,
        "application/json",
        good.to_string().into_bytes(),
    )
    .await;
    assert_status(code, &body, 409, "AlreadyExists");
    let mut v2 = created.clone();
    v2["data"]["v"] = json!("2");
    let (code, body) = raw(
        &c,
        "PUT",
        &format!("{CMS}/good"),
        "application/json",
        v2.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let mut stale = created.clone();
    stale["data"]["v"] = json!("3");
    let (code, body) = raw(
        &c,
        "PUT",
        &format!("{CMS}/good"),
        "application/json",
        stale.to_string().into_bytes(),
    )
    .await;
    let st = assert_status(code, &body, 409, "Conflict");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .contains("the object has been modified"),
        "{body}"
    );

    // 410: a watch from a revision older than the watch cache window (5 events here)
    let first_rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut last = status_of(
        &raw(
            &c,
            "GET",
            &format!("{CMS}/good"),
            "application/json",
            vec![],
        )
        .await
        .1,
    );
    for i in 0..10 {
        last["data"]["v"] = json!(format!("n{i}"));
        let (code, body) = raw(
            &c,
            "PUT",
            &format!("{CMS}/good"),
            "application/json",
            last.to_string().into_bytes(),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        last = status_of(&body);
    }
    let (code, body) = raw(
        &c,
        "GET",
        &format!("{CMS}?watch=true&resourceVersion={first_rv}&timeoutSeconds=5"),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let ev: Value = serde_json::from_str(body.lines().next().unwrap_or("")).unwrap_or_default();
    assert_eq!(ev["type"], "ERROR", "{body}");
    assert_eq!(ev["object"]["code"], 410, "{body}");
    assert_eq!(ev["object"]["reason"], "Expired", "{body}");

    // 401: no credentials
    // (kube's client always presents the admin certificate; checked with curl-free raw TLS in
    // the kube client test instead.)

    // Nothing above wrote anything except the one good object; the server is still healthy.
    assert_eq!(count_configmaps(&c).await, before + 1);
    let (code, body) = raw(&c, "GET", "/readyz", "application/json", vec![]).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
}
