//! The service proxy on a real node (nftables, issue 10 in part): `kubectl expose` of the
//! article's Deployment answers at its ClusterIP from the host and from a pod, at its NodePort
//! on the node's address, a LoadBalancer at the node's address (and a port conflict reported),
//! connections spread over the pods (and stick to one with
//! `sessionAffinity: ClientIP`), a Service without endpoints fails at once, a deleted Service stops
//! answering, and the proxy's table is gone after a clean stop.

use krust_e2e::{Server, eventually};
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn curl(url: &str) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", url])
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn nft_tables() -> String {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap_or_else(|e| panic!("nft: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cluster_ips_and_node_ports_reach_pods() {
    let mut s = Server::start_node(&[]);
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    s.ok(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout=120s",
    ]);
    s.ok(&[
        "expose",
        "deployment",
        "nginx-deployment",
        "--port=80",
        "--type=NodePort",
    ]);
    let ip = s.ok(&[
        "get",
        "svc",
        "nginx-deployment",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let node_port = s.ok(&[
        "get",
        "svc",
        "nginx-deployment",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    let node_ip = s.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[0].status.addresses[0].address}",
    ]);

    // From the host, at the ClusterIP and at the NodePort of the node's address.
    assert!(
        eventually(WAIT, || curl(&format!("http://{ip}/"))
            .1
            .contains("Welcome to nginx!")),
        "ClusterIP {ip} did not answer"
    );
    assert!(
        eventually(WAIT, || curl(&format!("http://{node_ip}:{node_port}/"))
            .1
            .contains("Welcome to nginx!")),
        "NodePort {node_ip}:{node_port} did not answer"
    );
    // From a pod (busybox's wget; its -T and -q crash in Debian's busybox-static).
    s.ok(&[
        "run",
        "client",
        "--image=busybox:1.36",
        "--",
        "sleep",
        "3600",
    ]);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=90s",
    ]);
    let page = s.ok(&[
        "exec",
        "client",
        "--",
        "wget",
        "-O-",
        &format!("http://{ip}/"),
    ]);
    assert!(page.contains("Welcome to nginx!"), "{page}");

    // Random choice spreads connections; sessionAffinity: ClientIP keeps a client on one pod.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: who}
spec:
  replicas: 3
  selector: {matchLabels: {app: who}}
  template:
    metadata: {labels: {app: who}}
    spec:
      containers:
      - name: c
        image: busybox:1.36
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: who}
spec:
  selector: {app: who}
  ports: [{port: 80, targetPort: http}]
"#,
    );
    s.ok(&["rollout", "status", "deployment/who", "--timeout=120s"]);
    let who_ip = s.ok(&["get", "svc", "who", "-o", "jsonpath={.spec.clusterIP}"]);
    let answers = |n: usize| -> std::collections::BTreeSet<String> {
        (0..n)
            .filter_map(|_| {
                let (ok, body) = curl(&format!("http://{who_ip}/"));
                ok.then(|| body.trim().to_string())
            })
            .collect()
    };
    assert!(
        eventually(WAIT, || answers(30).len() == 3),
        "30 connections did not reach all 3 pods: {:?}",
        answers(30)
    );
    s.ok(&[
        "patch",
        "svc",
        "who",
        "-p",
        r#"{"spec":{"sessionAffinity":"ClientIP"}}"#,
    ]);
    assert!(
        eventually(WAIT, || answers(20).len() == 1),
        "with ClientIP affinity the host still reached {:?}",
        answers(20)
    );

    // LoadBalancer (the ServiceLB model): the node's address, at the Service port; a second
    // one on the same port gets no address and a PortConflict Event.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: nginx}
  ports: [{port: 8081, targetPort: 80}]
"#,
    );
    assert!(
        eventually(WAIT, || s.ok(&[
            "get",
            "svc",
            "lb",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}"
        ]) == node_ip),
        "{}",
        s.ok(&["get", "svc", "lb", "-o", "yaml"])
    );
    let row = s.ok(&["get", "svc", "lb", "--no-headers"]);
    assert!(row.contains(&node_ip), "EXTERNAL-IP: {row}");
    assert!(
        eventually(WAIT, || curl(&format!("http://{node_ip}:8081/"))
            .1
            .contains("Welcome to nginx!")),
        "the load balancer {node_ip}:8081 did not answer"
    );
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: {name: lb-second}
spec:
  type: LoadBalancer
  selector: {app: nginx}
  ports: [{port: 8081, targetPort: 80}]
"#,
    );
    assert!(
        eventually(WAIT, || {
            s
            .ok(&["get", "events", "--field-selector", "involvedObject.name=lb-second", "-o", "custom-columns=R:.reason,M:.message", "--no-headers"])
            .contains("PortConflict   port 8081/TCP is already used by the load balancer of Service default/lb")
        }),
        "{}",
        s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=lb-second"
        ])
    );
    assert_eq!(
        s.ok(&[
            "get",
            "svc",
            "lb-second",
            "-o",
            "jsonpath={.status.loadBalancer.ingress}"
        ]),
        ""
    );
    s.ok(&["delete", "svc", "lb", "lb-second"]);

    // A Service without endpoints fails at once, from the host and from a pod.
    s.ok(&["create", "service", "clusterip", "nothing", "--tcp=80"]);
    let empty = s.ok(&["get", "svc", "nothing", "-o", "jsonpath={.spec.clusterIP}"]);
    let started = Instant::now();
    let (ok, _) = curl(&format!("http://{empty}/"));
    assert!(!ok);
    eprintln!(
        "a Service without endpoints failed after {:?}",
        started.elapsed()
    );
    let out = s.kubectl(&["exec", "client", "--", "nc", "-w", "20", &empty, "80"]);
    assert!(!out.status.success());

    // A deleted Service stops answering.
    s.ok(&["delete", "svc", "nginx-deployment"]);
    assert!(eventually(WAIT, || !curl(&format!("http://{ip}/")).0));

    // The proxy's table is removed on a clean stop.
    let table = format!("krust-proxy-{}", s.node_bridge());
    assert!(nft_tables().contains(&table), "{}", nft_tables());
    s.stop();
    assert!(!nft_tables().contains(&table), "{}", nft_tables());
}
