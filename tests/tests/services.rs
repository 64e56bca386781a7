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
    // `kubectl port-forward svc/…`: to one of the Service's pods.
    {
        let local = krust_e2e::free_port();
        let mut forward = Command::new(krust_e2e::kubectl_bin())
            .env("KUBECONFIG", &s.kubeconfig)
            .args([
                "port-forward",
                "svc/nginx-deployment",
                &format!("{local}:80"),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let answered = eventually(WAIT, || {
            curl(&format!("http://127.0.0.1:{local}/"))
                .1
                .contains("Welcome to nginx!")
        });
        let _ = forward.kill();
        let _ = forward.wait();
        assert!(answered, "port-forward svc/nginx-deployment did not answer");
    }
    // From a pod (busybox's wget; its -T crashes in Debian's busybox-static).
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
    // ... and a condition saying why.
    assert!(
        eventually(WAIT, || s.ok(&[
            "get",
            "svc",
            "lb-second",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PortConflict\")].status}"
        ]) == "True"),
        "no PortConflict condition"
    );
    // Once the older one is gone, the younger gets the address and loses the condition.
    s.ok(&["delete", "svc", "lb"]);
    assert!(
        eventually(WAIT, || s.ok(&[
            "get",
            "svc",
            "lb-second",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[*].ip}|{.status.conditions}"
        ]) == format!("{node_ip}|")),
        "lb-second did not take over the port"
    );
    s.ok(&["delete", "svc", "lb-second"]);

    // A Service without endpoints fails at once, from the host and from a pod.
    s.ok(&["create", "service", "clusterip", "nothing", "--tcp=80"]);
    let empty = s.ok(&["get", "svc", "nothing", "-o", "jsonpath={.spec.clusterIP}"]);
    let started = Instant::now();
    // Refused (upstream's reject), not "no route to host" nor a timeout.
    let addr: std::net::SocketAddr = format!("{empty}:80").parse().unwrap();
    assert!(
        eventually(WAIT, || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .err()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        }),
        "a Service without endpoints was not refused"
    );
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

/// An nftables table of the test's own counting packets to `cidrs` that leave through any
/// interface but loopback and the node's bridge; removed when dropped.
struct EgressCounter {
    table: String,
}

impl EgressCounter {
    fn new(table: &str, bridge: &str, cidrs: &[&str]) -> EgressCounter {
        let script = format!(
            "table ip {table} {{\n chain out {{\n  type filter hook output priority -300; policy accept;\n  \
             oifname != {{ \"lo\", \"{bridge}\" }} ip daddr {{ {} }} counter\n }}\n}}\n",
            cidrs.join(", ")
        );
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("nft: {e}"));
        use std::io::Write;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .unwrap_or_else(|e| panic!("nft: {e}"));
        }
        let status = child.wait().unwrap_or_else(|e| panic!("nft: {e}"));
        assert!(status.success(), "nft -f: {script}");
        EgressCounter {
            table: table.to_string(),
        }
    }

    /// Packets counted so far.
    fn packets(&self) -> u64 {
        let out = Command::new("nft")
            .args(["list", "table", "ip", &self.table])
            .output()
            .unwrap_or_else(|e| panic!("nft: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| *w == "packets")
            .unwrap_or_else(|| panic!("no counter in {text}"));
        words
            .get(at + 1)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {text}"))
    }
}

impl Drop for EgressCounter {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .status();
    }
}

#[test]
fn traffic_to_unused_cluster_addresses_stays_on_this_machine() {
    let s = Server::start_node(&[]);
    let node = s.node.clone().unwrap();
    let counter = EgressCounter::new(
        &format!("krust-test-egress-{}", s.port),
        &node.bridge,
        &[&node.cluster_cidr, &node.service_cidr],
    );
    // A Service IP and a pod IP nobody has.
    let service_ip = node.service_cidr.replace(".0.0/16", ".250.250");
    let pod_ip = node.cluster_cidr.replace(".0.0/16", ".250.250");
    for ip in [&service_ip, &pod_ip] {
        let started = Instant::now();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", &format!("http://{ip}/")])
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        // 7: could not connect (the unreachable route), not 28 (timed out).
        assert_eq!(
            out.status.code(),
            Some(7),
            "{ip}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let routes = Command::new("ip").args(["route", "show"]).output().unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    for cidr in [&node.cluster_cidr, &node.service_cidr] {
        assert!(
            routes.contains(&format!("unreachable {cidr}")),
            "no unreachable route for {cidr}:\n{routes}"
        );
    }
    assert_eq!(
        counter.packets(),
        0,
        "packets to the cluster ranges left the machine"
    );
}
