//! Protobuf responses (`Accept: application/vnd.kubernetes.protobuf`), as Go's typed clients
//! ask for them: kubectl's typed commands (create configmap|secret|deployment, create token,
//! auth can-i, describe, rollout history) decode them, a raw protobuf body is valid wire
//! format (`protoc --decode_raw`) and decodes to the JSON form, lists and watches (length-
//! prefixed `WatchEvent` frames) too, and custom resources stay JSON.

use http_body_util::BodyExt;
use krust_e2e::{Server, eventually};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// `GET path` with `accept`: status, Content-Type and body bytes.
async fn get(client: &kube::Client, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::from(Vec::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("body: {e}"))
        .to_bytes()
        .to_vec();
    (status, content_type, body)
}

#[test]
fn kubectl_typed_commands_decode_protobuf_responses() {
    let s = Server::start();
    s.ok(&["create", "configmap", "pb", "--from-literal=a=1"]);
    s.ok(&["create", "secret", "generic", "pbs", "--from-literal=k=v"]);
    s.ok(&[
        "create",
        "deployment",
        "pbd",
        "--image=nginx",
        "--replicas=2",
    ]);
    assert!(s.ok(&["create", "token", "default"]).starts_with("ey"));
    assert_eq!(s.ok(&["auth", "can-i", "get", "pods"]).trim(), "yes");
    // describe and rollout history list with typed clients (protobuf lists).
    let desc = s.ok(&["describe", "deployment", "pbd"]);
    assert!(desc.contains("Replicas:"), "{desc}");
    assert!(s.ok(&["describe", "configmap", "pb"]).contains("a:"));
    assert!(eventually(Duration::from_secs(20), || s
        .ok(&["rollout", "history", "deployment/pbd"])
        .contains("1 ")));
    // The verbose log shows the protobuf answers kubectl decoded.
    let out = s.kubectl(&["create", "configmap", "pb2", "--from-literal=b=2", "-v=8"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn protobuf_objects_lists_and_watches() {
    let s = Server::start();
    s.ok(&[
        "create",
        "configmap",
        "pb",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    let client = s.client().await;
    let path = "/api/v1/namespaces/default/configmaps/pb";
    let (status, content_type, body) = get(&client, path, &format!("{PROTOBUF}, */*")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, PROTOBUF);
    assert!(body.starts_with(b"k8s\0"), "{body:?}");
    // Valid wire format, read by protoc: the envelope's TypeMeta and the object's namespace
    // (ObjectMeta field 3; protoc shows a short string like "pb" as a guessed message).
    let mut protoc = Command::new("protoc")
        .arg("--decode_raw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("protoc: {e}"));
    protoc
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin"))
        .write_all(body.get(4..).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let raw = protoc.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert!(
        text.contains("1: \"v1\"") && text.contains("2: \"ConfigMap\""),
        "{text}"
    );
    assert!(text.contains("3: \"default\""), "{text}");
    // Decoded, it is the object the JSON GET returns.
    let decoded = krust_api::protobuf::decode_object(&body).unwrap_or_else(|e| panic!("{e}"));
    let (_, _, json) = get(&client, path, "application/json").await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decoded, json);

    // A list.
    let (status, content_type, body) =
        get(&client, "/api/v1/namespaces/default/configmaps", PROTOBUF).await;
    assert_eq!((status, content_type.as_str()), (200, PROTOBUF));
    let list = krust_api::protobuf::decode_object(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(list["kind"], "ConfigMapList");
    assert!(
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["metadata"]["name"] == "pb" && c["data"]["b"] == "2"),
        "{list}"
    );

    // A watch: length-prefixed WatchEvent frames, each object a protobuf body itself.
    let (status, content_type, body) = get(
        &client,
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Dpb",
        PROTOBUF,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let len = u32::from_be_bytes(
        body.get(..4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_else(|| panic!("no frame: {body:?}")),
    ) as usize;
    let frame = body
        .get(4..4 + len)
        .unwrap_or_else(|| panic!("short frame"));
    assert!(
        !frame.starts_with(b"k8s\0"),
        "a bare WatchEvent, as client-go reads it"
    );
    let (kind, object) =
        krust_api::protobuf::decode_watch_event(frame).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kind, "ADDED");
    assert_eq!(object["metadata"]["name"], "pb");
    assert_eq!(body.len(), 4 + len, "one event for one object");

    // Custom resources have no protobuf form: JSON, as upstream.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"gizmos.pb.example.com"},"spec":{"group":"pb.example.com","scope":"Namespaced","names":{"kind":"Gizmo","plural":"gizmos"},"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#,
    );
    assert!(eventually(Duration::from_secs(10), || s
        .kubectl(&["get", "gizmos"])
        .status
        .success()));
    let (status, content_type, _) = get(
        &client,
        "/apis/pb.example.com/v1/namespaces/default/gizmos",
        &format!("{PROTOBUF}, application/json"),
    )
    .await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
}
