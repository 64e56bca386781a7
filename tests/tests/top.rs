//! `kubectl top` end to end, as root, with real containers: the kubelet's `/stats/summary`
//! (node from `/proc`, pods and containers from CRI stats and cgroups), read by the API
//! server's `metrics.k8s.io/v1beta1` through the kubelet client, printed by the real kubectl.
//!
//! A busybox pod burns CPU (`while :; do :; done`) next to an idle nginx: `kubectl top nodes`
//! shows the node with non-zero CPU and memory, `kubectl top pods` both pods with the busy one
//! far ahead, `--containers` the container, and the raw API answers NodeMetricsList and
//! PodMetricsList with label and field selectors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure should panic

use krust_e2e::{Server, eventually};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Long enough for two kubelet samples (10 s apart) and the API server's cache.
const METRICS_WAIT: Duration = Duration::from_secs(75);
const WAIT: Duration = Duration::from_secs(90);
const KUBECTL_132: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

fn pod(s: &Server, name: &str) -> Value {
    serde_json::from_slice(&s.kubectl(&["get", "pod", name, "-o", "json"]).stdout)
        .unwrap_or(Value::Null)
}

fn wait_running(s: &Server, name: &str) {
    assert!(
        eventually(WAIT, || {
            let p = pod(s, name);
            p["status"]["phase"] == "Running"
                && p["status"]["containerStatuses"][0]["ready"] == true
        }),
        "pod {name} is not running: {}",
        pod(s, name)
    );
}

/// Millicores of a kubectl CPU column (`250m`, `1`).
fn millicores(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => q.parse::<u64>().map(|c| c * 1000).unwrap_or(0),
    }
}

/// Bytes of a kubectl memory column (`12Mi`, `3Ki`, `1Gi`).
fn bytes(q: &str) -> u64 {
    for (suffix, shift) in [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40)] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap_or(0) << shift;
        }
    }
    q.parse().unwrap_or(0)
}

/// `kubectl ARGS` until it succeeds and `check` accepts its table rows (header first);
/// returns the output.
fn top_until(s: &Server, args: &[&str], check: impl Fn(&[Vec<String>]) -> bool) -> String {
    let mut last = String::new();
    let ok = eventually(METRICS_WAIT, || {
        let o = s.kubectl(args);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        last = format!("{text}{}", String::from_utf8_lossy(&o.stderr));
        let rows: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect();
        o.status.success() && !rows.is_empty() && check(&rows)
    });
    assert!(
        ok,
        "kubectl {args:?} never showed what was expected:\n{last}"
    );
    last
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]))
}

/// `GET /stats/summary` on the node's kubelet with the admin kubeconfig's client certificate.
fn kubelet_summary(s: &Server) -> Value {
    let raw = |path: &str| s.ok(&["config", "view", "--raw", "-o", &format!("jsonpath={path}")]);
    let dir = s.data_dir();
    for (file, path) in [
        ("admin.crt", "{.users[0].user.client-certificate-data}"),
        ("admin.key", "{.users[0].user.client-key-data}"),
    ] {
        let decoded = Command::new("base64")
            .arg("-d")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(raw(path).trim().as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        std::fs::write(dir.join(file), decoded.stdout).unwrap();
    }
    let node: Value = serde_json::from_str(&s.ok(&["get", "nodes", "-o", "json"])).unwrap();
    let status = &node["items"][0]["status"];
    let ip = status["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .unwrap()
        .to_string();
    let port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-k", "--cert"])
        .arg(dir.join("admin.crt"))
        .arg("--key")
        .arg(dir.join("admin.key"))
        .arg(format!("https://{ip}:{port}/stats/summary"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "/stats/summary is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn kubectl_top_nodes_and_pods() {
    let s = Server::start_node(&[]);
    s.ok(&[
        "run",
        "busy",
        "--image=busybox:1.36",
        "--command",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    s.ok(&["run", "web", "--image=nginx:1.7.9"]);
    wait_running(&s, "busy");
    wait_running(&s, "web");

    // Discovery: kubectl top looks for the group.
    let res = s.ok(&["api-resources", "--api-group=metrics.k8s.io"]);
    assert!(
        res.contains("NodeMetrics") && res.contains("PodMetrics"),
        "{res}"
    );

    // kubectl top nodes: the node with non-zero CPU and memory.
    let node = s.ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let out = top_until(&s, &["top", "nodes"], |rows| {
        let (cpu, mem) = (column(rows, "CPU(cores)"), column(rows, "MEMORY(bytes)"));
        rows.iter().skip(1).any(|r| {
            r[0] == node && r.len() > cpu.max(mem) && millicores(&r[cpu]) > 0 && bytes(&r[mem]) > 0
        })
    });
    eprintln!("kubectl top nodes:\n{out}");
    assert!(out.contains("CPU(%)") && out.contains("MEMORY(%)"), "{out}");

    // kubectl top pods: both, the busy one far ahead.
    let out = top_until(&s, &["top", "pods"], |rows| {
        let (cpu, mem) = (column(rows, "CPU(cores)"), column(rows, "MEMORY(bytes)"));
        let find = |n: &str| rows.iter().skip(1).find(|r| r[0] == n).cloned();
        let (Some(busy), Some(web)) = (find("busy"), find("web")) else {
            return false;
        };
        let (b, w) = (millicores(&busy[cpu]), millicores(&web[cpu]));
        b >= 200 && b > 5 * w.max(1) && bytes(&web[mem]) > 0
    });
    eprintln!("kubectl top pods:\n{out}");

    // --containers: the container by name.
    let out = top_until(&s, &["top", "pod", "busy", "--containers"], |rows| {
        rows[0].first().map(String::as_str) == Some("POD")
            && rows
                .iter()
                .skip(1)
                .any(|r| r.len() >= 4 && r[0] == "busy" && r[1] == "busy" && millicores(&r[2]) > 0)
    });
    eprintln!("kubectl top pod busy --containers:\n{out}");
    // kubectl 1.32 (the previous minor) reads the same API.
    if std::path::Path::new(KUBECTL_132).exists() {
        let o = Command::new(KUBECTL_132)
            .env("KUBECONFIG", &s.kubeconfig)
            .env("HOME", s.data_dir())
            .args(["top", "pods"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains("busy") && text.contains("web"),
            "{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let out = top_until(&s, &["top", "pods", "-l", "run=web"], |rows| {
        rows.len() == 2 && rows[1][0] == "web"
    });
    assert!(!out.contains("busy"), "{out}");

    // The raw API.
    let raw: Value =
        serde_json::from_str(&s.ok(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"]))
            .unwrap();
    assert_eq!(raw["kind"], "NodeMetricsList", "{raw}");
    assert_eq!(raw["apiVersion"], "metrics.k8s.io/v1beta1");
    let item = &raw["items"][0];
    assert_eq!(item["metadata"]["name"], node.as_str(), "{raw}");
    assert!(item["usage"]["cpu"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(
        item["usage"]["memory"]
            .as_str()
            .is_some_and(|m| m.ends_with("Ki") || m.ends_with("Mi") || m.ends_with("Gi")),
        "{raw}"
    );
    assert!(item["window"].as_str().is_some_and(|w| w.ends_with('s')));
    let one: Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        &format!("/apis/metrics.k8s.io/v1beta1/nodes/{node}"),
    ]))
    .unwrap();
    assert_eq!(one["kind"], "NodeMetrics", "{one}");

    let pods: Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb",
    ]))
    .unwrap();
    assert_eq!(pods["kind"], "PodMetricsList", "{pods}");
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pods}");
    assert_eq!(items[0]["metadata"]["labels"]["run"], "web");
    assert_eq!(items[0]["containers"][0]["name"], "web");
    let all: Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=run%3Dbusy",
    ]))
    .unwrap();
    let names: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["busy"], "{all}");

    // Errors as metrics-server answers them.
    let e = s.fails(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nothing",
    ]);
    assert!(e.contains("NotFound") || e.contains("not found"), "{e}");
    let e = s.fails(&["top", "pod", "nothing"]);
    assert!(e.contains("not found"), "{e}");

    // The kubelet's summary itself, with the admin's client certificate (cluster CA).
    let summary = kubelet_summary(&s);
    assert_eq!(summary["node"]["nodeName"], node.as_str(), "{summary}");
    assert!(summary["node"]["startTime"].is_string(), "{summary}");
    for field in ["usageNanoCores", "usageCoreNanoSeconds"] {
        assert!(
            summary["node"]["cpu"][field].as_u64().unwrap_or(0) > 0,
            "{summary}"
        );
    }
    for field in ["workingSetBytes", "availableBytes", "usageBytes"] {
        assert!(
            summary["node"]["memory"][field].as_u64().unwrap_or(0) > 0,
            "{summary}"
        );
    }
    assert!(
        summary["node"]["fs"]["capacityBytes"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    let busy = summary["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["podRef"]["name"] == "busy")
        .unwrap_or_else(|| panic!("no busy pod in {summary}"));
    assert_eq!(busy["podRef"]["namespace"], "default");
    assert_eq!(busy["podRef"]["uid"], pod(&s, "busy")["metadata"]["uid"]);
    assert!(busy["startTime"].is_string(), "{busy}");
    let c = &busy["containers"][0];
    assert_eq!(c["name"], "busy", "{busy}");
    assert!(
        c["cpu"]["usageNanoCores"].as_u64().unwrap_or(0) >= 200_000_000,
        "{busy}"
    );
    assert!(c["memory"]["workingSetBytes"].as_u64().is_some(), "{busy}");
    assert!(
        busy["cpu"]["usageCoreNanoSeconds"].as_u64().unwrap_or(0) > 0,
        "{busy}"
    );
    s.ok(&["delete", "pod", "busy", "--now"]);
}
