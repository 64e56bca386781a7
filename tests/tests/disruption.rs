//! PodDisruptionBudgets: the disruption controller's status, the eviction API refusing to
//! break a budget (429), and `kubectl drain` on simulated nodes.

use krust_e2e::{Server, eventually};
use std::time::Duration;

const WEB: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: c\n        image: nginx:1.7.9\n";

fn pdb(min: i32) -> String {
    format!(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  minAvailable: {min}\n  selector:\n    matchLabels:\n      app: web\n"
    )
}

fn setup(min: i32) -> Server {
    let s = Server::start_with(&["--simulate-nodes", "2"]);
    s.ok_input(&["apply", "-f", "-"], WEB);
    assert!(eventually(Duration::from_secs(90), || {
        s.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ]) == "3"
    }));
    s.ok_input(&["apply", "-f", "-"], &pdb(min));
    let want = (3 - min).max(0).to_string();
    assert!(
        eventually(Duration::from_secs(30), || {
            s.ok(&[
                "get",
                "pdb",
                "web",
                "-o",
                "jsonpath={.status.disruptionsAllowed}/{.status.currentHealthy}",
            ]) == format!("{want}/3")
        }),
        "{}",
        s.ok(&["get", "pdb", "web", "-o", "yaml"])
    );
    s
}

#[test]
fn eviction_refuses_to_break_a_budget() {
    let s = setup(3);
    let pod = s.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let eviction = format!(
        r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"default"}}}}"#
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("eviction.json");
    std::fs::write(&file, eviction).unwrap_or_else(|e| panic!("{e}"));
    let path = format!("/api/v1/namespaces/default/pods/{pod}/eviction");
    let err = s.fails(&[
        "create",
        "--raw",
        &path,
        "-f",
        file.to_str().unwrap_or_default(),
    ]);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{err}"
    );
    assert!(
        s.kubectl(&["get", "pod", &pod]).status.success(),
        "the pod was deleted anyway"
    );
    // With room in the budget the eviction goes through.
    s.ok_input(&["apply", "-f", "-"], &pdb(2));
    assert!(eventually(Duration::from_secs(30), || {
        s.ok(&[
            "get",
            "pdb",
            "web",
            "-o",
            "jsonpath={.status.disruptionsAllowed}",
        ]) == "1"
    }));
    s.ok(&[
        "create",
        "--raw",
        &path,
        "-f",
        file.to_str().unwrap_or_default(),
    ]);
    assert!(eventually(Duration::from_secs(30), || !s
        .kubectl(&["get", "pod", &pod])
        .status
        .success()));
}

#[test]
fn drain_moves_pods_within_the_budget() {
    let s = setup(2);
    s.ok(&[
        "drain",
        "sim-node-0",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=120s",
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "node",
            "sim-node-0",
            "-o",
            "jsonpath={.spec.unschedulable}"
        ]),
        "true"
    );
    assert!(eventually(Duration::from_secs(60), || {
        let nodes = s.ok(&[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ]);
        !nodes.contains("sim-node-0")
            && s.ok(&[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.status.availableReplicas}",
            ]) == "3"
    }));
    s.ok(&["uncordon", "sim-node-0"]);
}
