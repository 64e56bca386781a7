//! Several nodes (issue 10 in part): a server and two agents in network namespaces of their
//! own (`krust_e2e::cluster`), each with its own containerd. Pods reach pods on the other node
//! (host-gw routes), a ClusterIP and the cluster DNS work from pods on both nodes, a NodePort
//! answers on every node, a LoadBalancer gets an address of `--service-lb-pool` that answers
//! on the nodes' link, and an Ingress on either node reaches pods on both. Afterwards no
//! namespace, veth, bridge or route of the cluster is left.

use krust_e2e::cluster::Cluster;
use krust_e2e::eventually;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn pods(nodes: &[String]) -> String {
    let mut out = String::new();
    for (i, node) in nodes.iter().enumerate() {
        out.push_str(&format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-{i}
  labels:
    app: web
spec:
  nodeName: {node}
  containers:
  - name: nginx
    image: nginx:1.7.9
---
apiVersion: v1
kind: Pod
metadata:
  name: bb-{i}
spec:
  nodeName: {node}
  containers:
  - name: bb
    image: busybox:1.36
    command: ["sleep", "3600"]
---
"#
        ));
    }
    out.push_str(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web-lb
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - port: 8080
    targetPort: 80
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: web.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
"#,
    );
    out
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pods_services_dns_and_ingress_across_two_nodes() {
    let c = Cluster::start(2);
    let s = &c.server;
    let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
    let cidrs = s.ok(&["get", "nodes", "-o", "jsonpath={.items[*].spec.podCIDR}"]);
    let cidrs: Vec<&str> = cidrs.split_whitespace().collect();
    assert_eq!(cidrs.len(), 2, "{cidrs:?}");
    assert_ne!(cidrs[0], cidrs[1]);

    s.ok_input(&["apply", "-f", "-"], &pods(&names));
    for i in 0..2 {
        for p in ["web", "bb"] {
            s.ok(&[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{p}-{i}"),
                "--timeout=120s",
            ]);
        }
    }
    let ip_of = |pod: &str| s.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
    let (web0, web1) = (ip_of("web-0"), ip_of("web-1"));

    // Pod to pod, both ways across the nodes.
    for (from, to) in [("bb-0", &web1), ("bb-1", &web0)] {
        let page = s.ok(&["exec", from, "--", "wget", "-qO-", &format!("http://{to}")]);
        assert!(page.contains("Welcome to nginx!"), "{from} → {to}: {page}");
    }

    // ClusterIP by name (cluster DNS, whichever node answers) from pods on both nodes.
    for from in ["bb-0", "bb-1"] {
        assert!(
            eventually(WAIT, || {
                let out = s.kubectl(&["exec", from, "--", "wget", "-qO-", "http://web"]);
                String::from_utf8_lossy(&out.stdout).contains("Welcome to nginx!")
            }),
            "{from} did not reach http://web:\n{}",
            c.nodes
                .iter()
                .map(|n| n.log())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        let out = s.kubectl(&[
            "exec",
            from,
            "--",
            "nslookup",
            "web.default.svc.cluster.local",
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let cluster_ip = s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
        assert!(
            text.contains(&format!("Address: {cluster_ip}")),
            "{from}: {text}"
        );
    }

    // The NodePort on every node's address, from the host.
    let node_port = s.ok(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    for n in &c.nodes {
        let url = format!("http://{}:{node_port}/", n.ip);
        assert!(
            eventually(WAIT, || curl(&[&url]).contains("Welcome to nginx!")),
            "NodePort on {}",
            n.name
        );
    }

    // A LoadBalancer gets the first address of the pool, announced by one node.
    let lb = c.lb_pool_first.clone();
    assert!(
        eventually(WAIT, || s.ok(&[
            "get",
            "svc",
            "web-lb",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[*].ip}"
        ]) == lb),
        "web-lb did not get {lb}"
    );
    assert!(s.ok(&["get", "svc", "web-lb"]).contains(&lb));
    assert!(
        eventually(WAIT, || curl(&[&format!("http://{lb}:8080/")])
            .contains("Welcome to nginx!")),
        "the pool address {lb} did not answer"
    );

    // The Ingress on either node reaches the pods of both.
    for n in &c.nodes {
        let url = format!("http://{}/", n.ip);
        assert!(
            eventually(WAIT, || curl(&["-H", "Host: web.example.test", &url])
                .contains("Welcome to nginx!")),
            "ingress on {}",
            n.name
        );
        for _ in 0..4 {
            curl(&["-H", "Host: web.example.test", &url]);
        }
        let log = n.log();
        for ip in [&web0, &web1] {
            assert!(
                log.contains(&format!("upstream={ip}:80")),
                "the ingress of {} never reached {ip}",
                n.name
            );
        }
    }

    let netns: Vec<String> = c.nodes.iter().map(|n| n.netns.clone()).collect();
    let bridge = c.net.bridge.clone();
    drop(c);
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for ns in &netns {
        assert!(!listed.contains(ns.as_str()), "{ns} left behind");
    }
    assert!(
        !Command::new("ip")
            .args(["link", "show", &bridge])
            .output()
            .unwrap()
            .status
            .success(),
        "{bridge} left behind"
    );
}
