//! The scheduler through the real binary on simulated nodes: placement with taints,
//! nodeSelector, anti-affinity and topology spreading, resource exhaustion reported as
//! FailedScheduling, and preemption by priority.

use krust_e2e::{Server, eventually};
use std::collections::BTreeMap;
use std::time::Duration;

fn cluster() -> Server {
    let s = Server::start_with(&[
        "--simulate-nodes",
        "3",
        "--node-capacity",
        "cpu=2,memory=4Gi,pods=20",
    ]);
    assert!(
        eventually(Duration::from_secs(60), || {
            let out = s.ok(&["get", "nodes", "--no-headers"]);
            out.lines().filter(|l| l.contains(" Ready ")).count() == 3
        }),
        "3 simulated nodes did not become Ready: {}",
        s.ok(&["get", "nodes"])
    );
    s
}

fn pod(name: &str, labels: &str, cpu: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\nspec:\n{extra_spec}  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests:\n        cpu: {cpu}\n"
    )
}

fn node_of(s: &Server, name: &str) -> String {
    let mut node = String::new();
    eventually(Duration::from_secs(60), || {
        node = s.ok(&["get", "pod", name, "-o", "jsonpath={.spec.nodeName}"]);
        !node.is_empty()
    });
    node
}

#[test]
fn placement_follows_taints_selectors_affinity_and_spreading() {
    let s = cluster();
    // A plain pod is scheduled, becomes Running, and the Scheduled event is recorded.
    s.ok_input(
        &["apply", "-f", "-"],
        &pod("plain", "app: plain", "100m", ""),
    );
    let node = node_of(&s, "plain");
    assert!(node.starts_with("sim-node-"), "{node}");
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/plain",
        "--timeout=60s",
    ]);
    let desc = s.ok(&["describe", "pod", "plain"]);
    assert!(
        desc.contains(&format!("Successfully assigned default/plain to {node}")),
        "{desc}"
    );

    // Taints: only the untainted node takes untolerating pods.
    s.ok(&["taint", "nodes", "sim-node-0", "dedicated=gpu:NoSchedule"]);
    s.ok(&["taint", "nodes", "sim-node-1", "dedicated=gpu:NoSchedule"]);
    for i in 0..3 {
        s.ok_input(
            &["apply", "-f", "-"],
            &pod(&format!("t{i}"), "app: t", "100m", ""),
        );
        assert_eq!(node_of(&s, &format!("t{i}")), "sim-node-2");
    }
    let tolerate = "  tolerations:\n  - key: dedicated\n    operator: Equal\n    value: gpu\n    effect: NoSchedule\n";
    // nodeSelector (with a toleration) picks the labelled node.
    s.ok(&["label", "node", "sim-node-1", "disk=ssd"]);
    let sel = format!("{tolerate}  nodeSelector:\n    disk: ssd\n");
    s.ok_input(&["apply", "-f", "-"], &pod("ssd", "app: ssd", "100m", &sel));
    assert_eq!(node_of(&s, "ssd"), "sim-node-1");

    // Required anti-affinity on the hostname puts each replica on its own node.
    let anti = format!(
        "{tolerate}  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - topologyKey: kubernetes.io/hostname\n        labelSelector:\n          matchLabels:\n            app: anti\n"
    );
    let mut nodes = std::collections::BTreeSet::new();
    for i in 0..3 {
        s.ok_input(
            &["apply", "-f", "-"],
            &pod(&format!("anti{i}"), "app: anti", "100m", &anti),
        );
        nodes.insert(node_of(&s, &format!("anti{i}")));
    }
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    // A fourth cannot go anywhere.
    s.ok_input(
        &["apply", "-f", "-"],
        &pod("anti3", "app: anti", "100m", &anti),
    );
    assert!(eventually(Duration::from_secs(30), || {
        s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=anti3,reason=FailedScheduling",
            "-o",
            "name",
        ])
        .lines()
        .count()
            > 0
    }));

    // Topology spreading over hostnames: 6 pods, 2 per node.
    let spread = format!(
        "{tolerate}  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: kubernetes.io/hostname\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector:\n      matchLabels:\n        app: spread\n"
    );
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..6 {
        s.ok_input(
            &["apply", "-f", "-"],
            &pod(&format!("sp{i}"), "app: spread", "10m", &spread),
        );
        *per_node.entry(node_of(&s, &format!("sp{i}"))).or_default() += 1;
    }
    assert!(per_node.values().all(|n| *n == 2), "{per_node:?}");
}

#[test]
fn exhaustion_is_reported_and_preemption_makes_room() {
    let s = cluster();
    // More cpu than any node has: FailedScheduling with upstream's wording, PodScheduled=False.
    s.ok_input(&["apply", "-f", "-"], &pod("huge", "app: huge", "3", ""));
    let mut msg = String::new();
    assert!(eventually(Duration::from_secs(30), || {
        msg = s.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=huge,reason=FailedScheduling",
            "-o",
            "jsonpath={.items[0].message}",
        ]);
        !msg.is_empty()
    }));
    assert!(
        msg.starts_with("0/3 nodes are available: 3 Insufficient cpu."),
        "{msg}"
    );
    assert!(msg.contains("preemption:"), "{msg}");
    let cond = s.ok(&[
        "get",
        "pod",
        "huge",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}",
    ]);
    assert_eq!(cond, "Unschedulable");
    let desc = s.ok(&["describe", "pod", "huge"]);
    assert!(
        desc.contains("FailedScheduling") && desc.contains("Insufficient cpu"),
        "{desc}"
    );
    s.ok(&["delete", "pod", "huge", "--wait=false"]);

    // Fill every node with low-priority pods, then a high-priority pod preempts some.
    let classes = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: low\nvalue: 10\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: high\nvalue: 1000\n";
    s.ok_input(&["apply", "-f", "-"], classes);
    for i in 0..6 {
        s.ok_input(
            &["apply", "-f", "-"],
            &pod(
                &format!("low{i}"),
                "app: low",
                "1",
                "  priorityClassName: low\n",
            ),
        );
        node_of(&s, &format!("low{i}"));
    }
    s.ok_input(
        &["apply", "-f", "-"],
        &pod("vip", "app: vip", "1500m", "  priorityClassName: high\n"),
    );
    let node = node_of(&s, "vip");
    assert!(
        node.starts_with("sim-node-"),
        "the high-priority pod was not scheduled"
    );
    let lows = s.ok(&["get", "pods", "-l", "app=low", "-o", "name"]);
    assert!(
        lows.lines().count() < 6,
        "no low-priority pod was preempted: {lows}"
    );
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        "name",
    ]);
    assert!(!events.trim().is_empty(), "no Preempted event");
}

#[test]
fn most_allocated_scoring_packs_pods_onto_one_node() {
    let s = Server::start_with(&[
        "--simulate-nodes",
        "3",
        "--node-capacity",
        "cpu=2,memory=4Gi,pods=20",
        "--scheduler-score-strategy",
        "MostAllocated",
    ]);
    assert!(eventually(Duration::from_secs(60), || {
        s.ok(&["get", "nodes", "--no-headers"])
            .lines()
            .filter(|l| l.contains(" Ready "))
            .count()
            == 3
    }));
    let mut nodes = std::collections::BTreeSet::new();
    for i in 0..4 {
        s.ok_input(
            &["apply", "-f", "-"],
            &pod(&format!("pack{i}"), "app: pack", "300m", ""),
        );
        nodes.insert(node_of(&s, &format!("pack{i}")));
    }
    assert_eq!(nodes.len(), 1, "MostAllocated should bin-pack: {nodes:?}");
}
