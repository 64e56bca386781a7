//! Endpoints and EndpointSlices of Services with selectors, on simulated nodes: `kubectl expose`
//! of the article's Deployment (and of a ReplicaSet, a Pod, a Service) lists its pods in both (upstream's labels, owner, conditions),
//! scaling follows, named target ports resolve per pod, slices hold at most 100 endpoints,
//! Services without a selector keep what their owners write (mirrored into slices), and
//! everything goes with the Service.

use krust_e2e::{Server, eventually};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn json_of(s: &Server, args: &[&str]) -> Value {
    serde_json::from_str(&s.ok(args)).unwrap_or(Value::Null)
}

/// The managed EndpointSlices of a Service.
fn slices(s: &Server, svc: &str) -> Vec<Value> {
    json_of(
        s,
        &[
            "get",
            "endpointslices",
            "-l",
            &format!("kubernetes.io/service-name={svc},endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"),
            "-o",
            "json",
        ],
    )["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn ready_endpoints(slices: &[Value]) -> usize {
    slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] == true)
        .count()
}

fn endpoint_ips(s: &Server, svc: &str) -> usize {
    let e = json_of(s, &["get", "endpoints", svc, "-o", "json"]);
    e["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ss| ss["addresses"].as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn services_get_endpoints_and_endpoint_slices() {
    let s = Server::start_with(&[
        "--simulate-nodes",
        "3",
        "--node-capacity",
        "cpu=32,memory=64Gi,pods=110",
    ]);
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    s.ok(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout=60s",
    ]);
    s.ok(&["expose", "deployment", "nginx-deployment", "--port=80"]);
    assert!(
        eventually(WAIT, || ready_endpoints(&slices(&s, "nginx-deployment"))
            == 3
            && endpoint_ips(&s, "nginx-deployment") == 3),
        "{}",
        s.ok(&["get", "endpoints,endpointslices", "-o", "wide"])
    );
    let slice = &slices(&s, "nginx-deployment")[0];
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["ports"][0]["port"], 80);
    let owner = &slice["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["controller"].as_bool()),
        (Some("Service"), Some(true))
    );
    let ep = &slice["endpoints"][0];
    assert_eq!(ep["targetRef"]["kind"], "Pod");
    assert!(
        ep["nodeName"].as_str().is_some_and(|n| !n.is_empty()),
        "{ep}"
    );
    assert_eq!(ep["conditions"]["serving"], true);
    assert_eq!(ep["conditions"]["terminating"], false);
    let row = s.ok(&["get", "endpoints", "nginx-deployment", "--no-headers"]);
    assert!(row.contains(":80"), "{row}");

    // `kubectl expose` of a ReplicaSet, a Pod (its labels: the ReplicaSet's pods) and a
    // Service selects the same pods.
    let rs = s.ok(&["get", "rs", "-l", "app=nginx", "-o", "name"]);
    let rs = rs.lines().next().unwrap_or_default().to_string();
    let pod = s.ok(&["get", "pods", "-l", "app=nginx", "-o", "name"]);
    let pod = pod.lines().next().unwrap_or_default().to_string();
    s.ok(&["expose", &rs, "--port=81", "--name=by-rs"]);
    s.ok(&["expose", &pod, "--port=82", "--name=by-pod"]);
    s.ok(&[
        "expose",
        "service",
        "nginx-deployment",
        "--port=83",
        "--name=by-svc",
    ]);
    for (svc, n) in [("by-rs", 3), ("by-pod", 3), ("by-svc", 3)] {
        assert!(
            eventually(WAIT, || endpoint_ips(&s, svc) == n),
            "{svc}: {}",
            s.ok(&["get", "endpoints", svc, "-o", "yaml"])
        );
    }

    // Scaling follows, both ways.
    s.ok(&["scale", "deployment", "nginx-deployment", "--replicas=5"]);
    assert!(eventually(WAIT, || ready_endpoints(&slices(
        &s,
        "nginx-deployment"
    )) == 5
        && endpoint_ips(&s, "nginx-deployment") == 5));
    s.ok(&["scale", "deployment", "nginx-deployment", "--replicas=1"]);
    assert!(eventually(WAIT, || ready_endpoints(&slices(
        &s,
        "nginx-deployment"
    )) == 1
        && endpoint_ips(&s, "nginx-deployment") == 1));

    // A named targetPort resolves to each pod's container port; 150 pods make two slices.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: many}
spec:
  replicas: 150
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec:
      containers:
      - name: c
        image: nginx:1.7.9
        ports: [{name: web, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: many}
spec:
  selector: {app: many}
  ports: [{name: http, port: 80, targetPort: web}]
"#,
    );
    assert!(
        eventually(Duration::from_secs(120), || {
            let sl = slices(&s, "many");
            ready_endpoints(&sl) == 150
                && sl.len() == 2
                && sl
                    .iter()
                    .all(|x| x["endpoints"].as_array().map_or(0, Vec::len) <= 100)
                && sl.iter().all(|x| x["ports"][0]["port"] == 8080)
        }),
        "{}",
        s.ok(&[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=many"
        ])
    );

    // Without a selector, the owner's Endpoints are left alone (and no managed slices).
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Service
metadata: {name: external}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: external}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{port: 80}]
"#,
    );
    s.ok(&["get", "endpoints", "external"]);
    assert!(slices(&s, "external").is_empty());
    assert_eq!(
        s.ok(&[
            "get",
            "endpoints",
            "external",
            "-o",
            "jsonpath={.subsets[0].addresses[0].ip}"
        ]),
        "192.0.2.10"
    );
    // ... and mirrored into an EndpointSlice of the mirroring controller, owned by them.
    let mirrored = || {
        json_of(
            &s,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=external,endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io",
                "-o",
                "json",
            ],
        )["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        eventually(WAIT, || mirrored()
            .first()
            .is_some_and(|m| m["endpoints"][0]["addresses"][0] == "192.0.2.10")),
        "{:?}",
        mirrored()
    );
    assert_eq!(
        mirrored()[0]["metadata"]["ownerReferences"][0]["kind"],
        "Endpoints"
    );
    // The API server's own `kubernetes` Endpoints opt out of mirroring, as upstream's.
    let by_mirroring = s.ok(&[
        "get",
        "endpointslices",
        "-n",
        "default",
        "-l",
        "endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io",
        "-o",
        "name",
    ]);
    assert!(!by_mirroring.contains("kubernetes"), "{by_mirroring}");

    // Everything goes with the Service.
    s.ok(&["delete", "service", "nginx-deployment"]);
    assert!(eventually(WAIT, || slices(&s, "nginx-deployment")
        .is_empty()
        && !s
            .kubectl(&["get", "endpoints", "nginx-deployment"])
            .status
            .success()));
}

#[test]
fn endpoints_follow_readiness_on_a_real_node() {
    let s = Server::start_node(&[]);
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: flip, labels: {app: flip}}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/ready; sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: flip}
spec:
  selector: {app: flip}
  ports: [{port: 80}]
"#,
    );
    let ready = |want: bool| {
        slices(&s, "flip").iter().any(|sl| {
            sl["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["conditions"]["ready"] == want)
        }) && (endpoint_ips(&s, "flip") == usize::from(want))
    };
    assert!(
        eventually(Duration::from_secs(90), || ready(true)),
        "{}",
        s.ok(&["get", "pods,endpoints", "-o", "wide"])
    );
    // The probe starts failing: the endpoint turns not ready (and leaves Endpoints.addresses).
    let started = std::time::Instant::now();
    s.ok(&["exec", "flip", "--", "rm", "/tmp/ready"]);
    assert!(
        eventually(WAIT, || ready(false)),
        "{}",
        s.ok(&["get", "endpointslices", "-o", "yaml"])
    );
    eprintln!(
        "readiness flip reached the EndpointSlice after {:?}",
        started.elapsed()
    );
    let e = json_of(&s, &["get", "endpoints", "flip", "-o", "json"]);
    assert!(
        e["subsets"][0]["notReadyAddresses"][0]["ip"].is_string(),
        "{e}"
    );
    // And back.
    s.ok(&["exec", "flip", "--", "touch", "/tmp/ready"]);
    assert!(eventually(WAIT, || ready(true)));
}
