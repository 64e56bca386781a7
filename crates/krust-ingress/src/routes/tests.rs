use super::*;
use serde_json::json;
use std::sync::Arc;

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap())
}

fn class(default: bool) -> Arc<IngressClass> {
    let mut meta = json!({"name": "krust"});
    if default {
        meta["annotations"] = json!({DEFAULT_CLASS_ANNOTATION: "true"});
    }
    from(json!({"metadata": meta, "spec": {"controller": CONTROLLER}}))
}

fn svc(name: &str, port_name: &str) -> Arc<Service> {
    from(json!({"metadata": {"name": name, "namespace": "d"},
        "spec": {"ports": [{"name": port_name, "port": 80, "targetPort": 8080}]}}))
}

fn slice(svc: &str, port_name: &str, ips: &[(&str, bool)]) -> Arc<EndpointSlice> {
    let eps: Vec<_> = ips
        .iter()
        .map(|(ip, ready)| json!({"addresses": [ip], "conditions": {"ready": ready}}))
        .collect();
    from(
        json!({"metadata": {"name": format!("{svc}-x"), "namespace": "d",
            "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": 8080, "protocol": "TCP"}],
        "endpoints": eps}),
    )
}

fn ingress(name: &str, at: &str, spec: serde_json::Value) -> Arc<Ingress> {
    from(
        json!({"metadata": {"name": name, "namespace": "d", "creationTimestamp": at},
        "spec": spec}),
    )
}

fn backend(svc: &str) -> serde_json::Value {
    json!({"service": {"name": svc, "port": {"number": 80}}})
}

fn table() -> RouteTable {
    let ings = vec![
        ingress(
            "a",
            "2026-01-01T00:00:00Z",
            json!({
            "ingressClassName": "krust",
            "rules": [
                {"host": "one.example.test", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend("one")},
                    {"path": "/api", "pathType": "Prefix", "backend": backend("two")},
                    {"path": "/api/exact", "pathType": "Exact", "backend": backend("one")},
                    {"path": "/down", "pathType": "Prefix", "backend": backend("down")}]}},
                {"host": "*.wild.test", "http": {"paths": [
                    {"path": "/", "pathType": "ImplementationSpecific", "backend": backend("two")}]}}],
            "tls": [{"hosts": ["one.example.test"], "secretName": "one-tls"},
                    {"hosts": ["*.wild.test"], "secretName": "wild-tls"}]}),
        ),
        // Younger: loses one.example.test/ to `a`, adds two.example.test.
        ingress(
            "b",
            "2026-02-01T00:00:00Z",
            json!({
            "rules": [
                {"host": "one.example.test", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend("two")}]}},
                {"host": "two.example.test", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend("two")}]}}]}),
        ),
        // Another controller's.
        ingress(
            "c",
            "2026-01-01T00:00:00Z",
            json!({
            "ingressClassName": "nginx",
            "rules": [{"host": "three.example.test", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend("one")}]}}]}),
        ),
    ];
    RouteTable::build(
        &ings,
        &[class(true)],
        &[svc("one", "http"), svc("two", ""), svc("down", "http")],
        &[
            slice("one", "http", &[("10.42.0.5", true), ("10.42.0.6", false)]),
            slice("two", "", &[("10.42.0.7", true)]),
            slice("down", "http", &[("10.42.0.8", false)]),
        ],
    )
}

fn service_of(r: &Route) -> String {
    match r {
        Route::Backend { service, .. } => service.clone(),
        Route::NoEndpoints { service, .. } => format!("503 {service}"),
        Route::NotFound => "404".into(),
    }
}

#[test]
fn hosts_and_paths() {
    let t = table();
    let r = |h: &str, p: &str| service_of(&t.route(h, p));
    assert_eq!(r("one.example.test", "/"), "d/one:80");
    assert_eq!(r("ONE.example.test", "/index.html"), "d/one:80");
    assert_eq!(r("one.example.test", "/api"), "d/two:80");
    assert_eq!(r("one.example.test", "/api/"), "d/two:80");
    assert_eq!(r("one.example.test", "/api/v1"), "d/two:80");
    assert_eq!(r("one.example.test", "/apis"), "d/one:80");
    assert_eq!(r("one.example.test", "/api/exact"), "d/one:80");
    assert_eq!(r("one.example.test", "/down/x"), "503 d/down:80");
    assert_eq!(r("two.example.test", "/"), "d/two:80");
    assert_eq!(r("a.wild.test", "/x"), "d/two:80");
    assert_eq!(r("wild.test", "/x"), "404");
    assert_eq!(r("a.b.wild.test", "/x"), "404");
    assert_eq!(r("three.example.test", "/"), "404");
    assert_eq!(r("nowhere.test", "/"), "404");
}

#[test]
fn endpoints_are_the_ready_pods_at_the_target_port() {
    let t = table();
    match t.route("one.example.test", "/") {
        Route::Backend {
            endpoints, ingress, ..
        } => {
            assert_eq!(endpoints, vec!["10.42.0.5:8080".parse().unwrap()]);
            assert_eq!(ingress, "d/a");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_backend_and_classes() {
    let ings = vec![ingress(
        "x",
        "2026-01-01T00:00:00Z",
        json!({
        "defaultBackend": backend("one")}),
    )];
    let t = RouteTable::build(
        &ings,
        &[class(true)],
        &[svc("one", "http")],
        &[slice("one", "http", &[("10.42.0.5", true)])],
    );
    assert_eq!(service_of(&t.route("any.test", "/x")), "d/one:80");
    // Not the default class: an Ingress naming no class is not ours.
    let t = RouteTable::build(
        &ings,
        &[class(false)],
        &[svc("one", "http")],
        &[slice("one", "http", &[("10.42.0.5", true)])],
    );
    assert_eq!(service_of(&t.route("any.test", "/x")), "404");
}

#[test]
fn tls_hosts() {
    let t = table();
    assert_eq!(t.tls_secret("one.example.test"), Some("d/one-tls"));
    assert_eq!(t.tls_secret("x.wild.test"), Some("d/wild-tls"));
    assert_eq!(t.tls_secret("two.example.test"), None);
    assert_eq!(t.tls_secrets().len(), 2);
}

#[test]
fn prefixes_match_whole_elements() {
    assert!(prefix_matches("/", "/anything"));
    assert!(prefix_matches("/foo/", "/foo"));
    assert!(prefix_matches("/foo", "/foo/bar"));
    assert!(!prefix_matches("/foo", "/foobar"));
    assert!(!prefix_matches("/foo/bar", "/foo"));
}
