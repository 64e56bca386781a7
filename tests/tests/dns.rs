//! Cluster DNS on a real node (issue 10 in part): the `kube-dns` Service and its endpoints in
//! `kube-system`, Service names resolving from the host (queried directly, to check the
//! response codes, flags and record types as CoreDNS gives them) and from a busybox pod
//! through its search path (`nslookup`, `wget -qO- http://nginx-deployment`), headless
//! Services, a pod's `hostname`/`subdomain` name, SRV for named ports, ExternalName as
//! CNAME, pod records, NXDOMAIN and NODATA with the zone's SOA, and other names forwarded to
//! a stub resolver on a loopback address (with a cache), never to the host's resolvers.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use krust_e2e::dns::{DnsStub, answers, query};
use krust_e2e::{Server, eventually};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

const SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector:
    app: nginx
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  type: ExternalName
  externalName: external.example.test
---
apiVersion: v1
kind: Service
metadata:
  name: sub
spec:
  clusterIP: None
  selector:
    app: named
---
apiVersion: v1
kind: Pod
metadata:
  name: named
  labels:
    app: named
spec:
  hostname: named-0
  subdomain: sub
  containers:
  - name: bb
    image: busybox:1.36
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: bb
spec:
  containers:
  - name: bb
    image: busybox:1.36
    command: ["sleep", "3600"]
"#;

#[test]
fn cluster_dns_serves_the_cluster_zone_and_forwards_the_rest() {
    // A stub upstream on a loopback address of its own.
    let stub_ip = Ipv4Addr::new(127, 0, 0, 100 + (std::process::id() % 100) as u8);
    let stub = DnsStub::start(
        stub_ip,
        &[("external.example.test", Ipv4Addr::new(192, 0, 2, 10))],
    );
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, format!("nameserver {stub_ip}\n")).unwrap();
    let s = Server::start_node(&["--resolv-conf", resolv.to_str().unwrap()]);
    let dns_ip = s.node.as_ref().unwrap().cluster_dns.clone();
    let dns: SocketAddr = format!("{dns_ip}:53").parse().unwrap();

    // The kube-dns Service at --cluster-dns, its endpoints the node's DNS server.
    assert_eq!(
        s.ok(&[
            "-n",
            "kube-system",
            "get",
            "svc",
            "kube-dns",
            "-o",
            "jsonpath={.spec.clusterIP} {.spec.ports[*].name}"
        ]),
        format!("{dns_ip} dns dns-tcp")
    );
    assert!(
        eventually(WAIT, || !s
            .ok(&[
                "-n",
                "kube-system",
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=kube-dns",
                "-o",
                "jsonpath={.items[*].endpoints[*].addresses[*]}",
            ])
            .is_empty()),
        "kube-dns got no EndpointSlice endpoint:\n{}",
        s.log()
    );

    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    s.ok(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout=120s",
    ]);
    s.ok(&["expose", "deployment", "nginx-deployment", "--port=80"]);
    s.ok_input(&["apply", "-f", "-"], SERVICES);
    let cluster_ip = s.ok(&[
        "get",
        "svc",
        "nginx-deployment",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let pod_ips: BTreeSet<String> = s
        .ok(&[
            "get",
            "pods",
            "-l",
            "app=nginx",
            "-o",
            "jsonpath={.items[*].status.podIP}",
        ])
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pod_ips.len(), 3, "{pod_ips:?}");

    // A Service's name, from the host through the ClusterIP of kube-dns.
    let fqdn = "nginx-deployment.default.svc.cluster.local.";
    assert!(
        eventually(WAIT, || query(dns, fqdn, RecordType::A)
            .is_some_and(|m| answers(&m) == vec![cluster_ip.clone()])),
        "{fqdn} did not resolve to {cluster_ip}:\n{}",
        s.log()
    );
    let m = query(dns, fqdn, RecordType::A).unwrap();
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers[0].ttl, 5);

    // NODATA (no AAAA) and NXDOMAIN, each with the SOA of cluster.local.
    let m = query(dns, fqdn, RecordType::AAAA).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    let m = query(dns, "nosuch.default.svc.cluster.local.", RecordType::A).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities[0].name.to_ascii(), "cluster.local.");

    // A headless Service: its ready pods; SRV for its named port, one per pod.
    assert!(
        eventually(WAIT, || query(
            dns,
            "db.default.svc.cluster.local.",
            RecordType::A
        )
        .is_some_and(
            |m| answers(&m).into_iter().collect::<BTreeSet<_>>() == pod_ips
        )),
        "the headless Service did not resolve to the pods {pod_ips:?}"
    );
    let m = query(
        dns,
        "_http._tcp.db.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .unwrap();
    assert_eq!(m.answers.len(), 3, "{:?}", answers(&m));
    for srv in answers(&m) {
        assert!(
            srv.contains(" 80 ") && srv.ends_with(".db.default.svc.cluster.local."),
            "{srv}"
        );
    }
    assert_eq!(m.additionals.len(), 3);

    // A pod's hostname under its subdomain's headless Service.
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/named",
        "--timeout=120s",
    ]);
    let named_ip = s.ok(&["get", "pod", "named", "-o", "jsonpath={.status.podIP}"]);
    assert!(
        eventually(WAIT, || query(
            dns,
            "named-0.sub.default.svc.cluster.local.",
            RecordType::A
        )
        .is_some_and(|m| answers(&m) == vec![named_ip.clone()])),
        "named-0.sub did not resolve to {named_ip}"
    );

    // A pod's dashed-IP name.
    let m = query(dns, "10-1-2-3.default.pod.cluster.local.", RecordType::A).unwrap();
    assert_eq!(answers(&m), vec!["10.1.2.3"]);

    // Other names go to the stub, and come from the cache the second time.
    let before = stub.queries();
    let m = query(dns, "external.example.test.", RecordType::A).unwrap();
    assert_eq!(answers(&m), vec!["192.0.2.10"]);
    assert!(!m.metadata.authoritative);
    let asked = stub.queries();
    assert!(asked > before, "the stub was not asked");
    let m = query(dns, "external.example.test.", RecordType::A).unwrap();
    assert_eq!(answers(&m), vec!["192.0.2.10"]);
    assert_eq!(
        stub.queries(),
        asked,
        "the second answer did not come from the cache"
    );
    let m = query(dns, "nosuch.example.test.", RecordType::A).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    // ExternalName: a CNAME, followed to the target's address.
    let m = query(dns, "ext.default.svc.cluster.local.", RecordType::A).unwrap();
    assert_eq!(
        answers(&m),
        vec![
            "external.example.test.".to_string(),
            "192.0.2.10".to_string()
        ]
    );
    assert_eq!(m.answers[0].record_type(), RecordType::CNAME);

    // From a pod: the search path and ndots:5 of its resolv.conf.
    s.ok(&["wait", "--for=condition=Ready", "pod/bb", "--timeout=120s"]);
    let resolv = s.ok(&["exec", "bb", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains(&format!("nameserver {dns_ip}")), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");
    // busybox's nslookup exits 1 when any search-path candidate is NXDOMAIN; read its output.
    let out = s.kubectl(&["exec", "bb", "--", "nslookup", "nginx-deployment"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Name:\tnginx-deployment.default.svc.cluster.local")
            && text.contains(&format!("Address: {cluster_ip}")),
        "nslookup from the pod:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.kubectl(&["exec", "bb", "--", "nslookup", "external.example.test"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Address: 192.0.2.10"), "{text}");
    let page = s.ok(&[
        "exec",
        "bb",
        "--",
        "wget",
        "-qO-",
        "http://nginx-deployment",
    ]);
    assert!(page.contains("Welcome to nginx!"), "{page}");
}
