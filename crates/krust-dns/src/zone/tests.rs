use super::*;
use serde_json::json;

fn svc(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

fn slice(v: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(v).unwrap()
}

fn ns(name: &str) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn zone() -> Zone {
    let services = vec![
        svc(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        })),
        svc(json!({
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"clusterIP": "None",
                     "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}
        })),
        svc(json!({
            "metadata": {"name": "empty", "namespace": "default"},
            "spec": {"clusterIP": "None"}
        })),
        svc(json!({
            "metadata": {"name": "ext", "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": "example.test"}
        })),
    ];
    let slices = vec![slice(json!({
        "metadata": {"name": "db-abc", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.42.0.6"], "conditions": {"ready": true}},
            {"addresses": ["10.42.0.7"], "conditions": {"ready": false}}
        ]
    }))];
    Zone::build(
        "cluster.local",
        Some("10.43.0.10".parse().unwrap()),
        42,
        &arcs(services),
        &arcs(slices),
        &arcs(vec![ns("default"), ns("kube-system"), ns("quiet")]),
    )
}

fn q(z: &Zone, name: &str, t: RecordType) -> Answer {
    z.answer(&Name::from_ascii(name).unwrap(), t)
        .expect("in the zone")
}

fn rdatas(a: &Answer) -> Vec<String> {
    a.answers.iter().map(|r| r.data.to_string()).collect()
}

#[test]
fn cluster_ip_service() {
    let z = zone();
    let a = q(&z, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert_eq!(rdatas(&a), vec!["10.43.0.20"]);
    assert_eq!(a.answers[0].ttl, TTL);
    // Case does not matter.
    let a = q(&z, "WEB.Default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.43.0.20"]);
    // No AAAA: NODATA with the SOA.
    let a = q(&z, "web.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.answers.is_empty());
    assert!(a.soa.is_some());
}

#[test]
fn missing_names_are_nxdomain_and_ancestors_nodata() {
    let z = zone();
    for name in [
        "nosuch.default.svc.cluster.local.",
        "web.nosuch.svc.cluster.local.",
        "nosuch.svc.cluster.local.",
        "a.b.c.d.e.f.svc.cluster.local.",
        "web.default.svc.cluster.local.svc.cluster.local.",
        "x.cluster.local.",
        "empty.default.svc.cluster.local.",
    ] {
        let a = q(&z, name, RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NXDomain, "{name}");
        let soa = a.soa.expect("SOA");
        assert_eq!(soa.name.to_ascii(), "cluster.local.");
        assert!(soa.data.to_string().contains("ns.dns.cluster.local."));
    }
    for name in [
        "cluster.local.",
        "svc.cluster.local.",
        "default.svc.cluster.local.",
        "quiet.svc.cluster.local.",
        "pod.cluster.local.",
    ] {
        let a = q(&z, name, RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NoError, "{name}");
        assert!(a.answers.is_empty(), "{name}");
    }
    assert!(
        z.answer(&Name::from_ascii("example.test.").unwrap(), RecordType::A)
            .is_none()
    );
}

#[test]
fn headless_service_returns_ready_endpoints() {
    let z = zone();
    let a = q(&z, "db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.42.0.5", "10.42.0.6"]);
    let a = q(&z, "db-0.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.42.0.5"]);
    let a = q(&z, "10-42-0-6.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.42.0.6"]);
    let a = q(&z, "10-42-0-7.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
}

#[test]
fn srv_for_named_ports() {
    let z = zone();
    let a = q(
        &z,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(rdatas(&a), vec!["0 100 80 web.default.svc.cluster.local."]);
    assert_eq!(a.additionals[0].data.to_string(), "10.43.0.20");
    let a = q(
        &z,
        "_pg._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(
        rdatas(&a),
        vec![
            "0 50 5432 db-0.db.default.svc.cluster.local.",
            "0 50 5432 10-42-0-6.db.default.svc.cluster.local."
        ]
    );
    assert_eq!(a.additionals.len(), 2);
    let a = q(
        &z,
        "_nope._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    let a = q(&z, "_tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(a.rcode, ResponseCode::NoError);
    assert!(a.answers.is_empty());
}

#[test]
fn external_name_is_a_cname_to_chase() {
    let z = zone();
    let a = q(&z, "ext.default.svc.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["example.test."]);
    assert_eq!(a.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(a.chase.unwrap().to_ascii(), "example.test.");
    let a = q(&z, "ext.default.svc.cluster.local.", RecordType::CNAME);
    assert!(a.chase.is_none());
}

#[test]
fn pod_records_and_apex() {
    let z = zone();
    let a = q(&z, "10-42-1-9.default.pod.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.42.1.9"]);
    let a = q(&z, "10-42-1-9.nosuch.pod.cluster.local.", RecordType::A);
    assert_eq!(a.rcode, ResponseCode::NXDomain);
    let a = q(&z, "cluster.local.", RecordType::SOA);
    assert_eq!(a.answers[0].record_type(), RecordType::SOA);
    assert!(a.answers[0].data.to_string().contains(" 42 "));
    let a = q(&z, "cluster.local.", RecordType::NS);
    assert_eq!(rdatas(&a), vec!["ns.dns.cluster.local."]);
    let a = q(&z, "ns.dns.cluster.local.", RecordType::A);
    assert_eq!(rdatas(&a), vec!["10.43.0.10"]);
}

#[test]
fn reverse_lookups_of_service_and_endpoint_ips() {
    let z = zone();
    let r = |n: &str| z.reverse(&Name::from_ascii(n).unwrap(), RecordType::PTR);
    let a = r("20.0.43.10.in-addr.arpa.").unwrap();
    assert_eq!(rdatas(&a), vec!["web.default.svc.cluster.local."]);
    let a = r("5.0.42.10.in-addr.arpa.").unwrap();
    assert_eq!(rdatas(&a), vec!["db-0.db.default.svc.cluster.local."]);
    assert!(r("9.9.9.10.in-addr.arpa.").is_none());
}

#[test]
fn dashed_forms() {
    assert_eq!(dashed("10.1.2.3".parse().unwrap()), "10-1-2-3");
    assert_eq!(undashed("fd00--1"), Some("fd00::1".parse().unwrap()));
    assert_eq!(undashed("nope"), None);
}

fn arcs<T>(v: Vec<T>) -> Vec<std::sync::Arc<T>> {
    v.into_iter().map(std::sync::Arc::new).collect()
}
