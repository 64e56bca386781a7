//! The article's Deployment walkthrough (../shared/acceptance/seed-walkthrough.sh) on simulated
//! nodes: every step that does not need a real container — create from the apps/v1beta1
//! manifest, update replicas with apply, delete with its pods collected, scale with
//! --current-replicas both ways, set image, rollout status/history/undo and describe.

use krust_e2e::{NGINX_DEPLOYMENT, Server, eventually};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn available(s: &Server, n: usize) -> bool {
    let want = format!("{n}/{n}/{n}");
    s.kubectl(&[
        "get",
        "deployment",
        "nginx-deployment",
        "-o",
        "jsonpath={.status.availableReplicas}/{.status.updatedReplicas}/{.status.replicas}",
    ])
    .stdout
        == want.as_bytes()
}

fn wait_available(s: &Server, n: usize) {
    assert!(
        eventually(WAIT, || available(s, n)),
        "deployment never reached {n}/{n}/{n}: {}",
        s.ok(&["get", "deployment", "nginx-deployment", "-o", "yaml"])
    );
}

fn running_pods(s: &Server) -> usize {
    s.ok(&["get", "pods", "-l", "app=nginx", "--no-headers"])
        .lines()
        .filter(|l| !l.contains("Terminating"))
        .count()
}

fn rolling_manifest() -> String {
    NGINX_DEPLOYMENT.replace(
        "  replicas: 3\n",
        "  replicas: 3\n  strategy:\n    type: RollingUpdate\n  minReadySeconds: 5\n  selector:\n    matchLabels:\n      app: nginx\n",
    )
}

#[test]
fn the_article_walkthrough_on_simulated_nodes() {
    let s = Server::start_with(&["--simulate-nodes", "3"]);
    // 创建Deployment
    let out = s.ok_input(&["apply", "-f", "-"], NGINX_DEPLOYMENT);
    assert!(
        out.contains("deployment.apps/nginx-deployment created"),
        "{out}"
    );
    wait_available(&s, 3);
    let row = s.ok(&["get", "deployment", "nginx-deployment", "--no-headers"]);
    assert!(
        row.split_whitespace().collect::<Vec<_>>()[1..4] == ["3/3", "3", "3"],
        "{row}"
    );

    // 更新Deployment: replicas 5 through apply
    let five = NGINX_DEPLOYMENT.replace("replicas: 3", "replicas: 5");
    assert!(
        s.ok_input(&["apply", "-f", "-"], &five)
            .contains("configured")
    );
    wait_available(&s, 5);

    // 删除Deployment: its ReplicaSets and pods are garbage-collected
    s.ok(&["delete", "deployment", "nginx-deployment"]);
    assert!(eventually(WAIT, || s
        .ok(&["get", "pods,rs", "-l", "app=nginx", "-o", "name"])
        .trim()
        .is_empty()));
    let out = s.kubectl(&["get", "deployment"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No resources found"));

    // 扩容 / 缩容 with the --current-replicas precondition
    s.ok_input(&["apply", "-f", "-"], NGINX_DEPLOYMENT);
    wait_available(&s, 3);
    s.fails(&[
        "scale",
        "--current-replicas=4",
        "--replicas=5",
        "deployment/nginx-deployment",
    ]);
    s.ok(&[
        "scale",
        "--current-replicas=3",
        "--replicas=5",
        "deployment/nginx-deployment",
    ]);
    wait_available(&s, 5);
    s.ok(&[
        "scale",
        "--current-replicas=5",
        "--replicas=2",
        "deployment/nginx-deployment",
    ]);
    wait_available(&s, 2);
    assert!(
        eventually(WAIT, || running_pods(&s) == 2),
        "{}",
        s.ok(&["get", "pods"])
    );
    s.ok(&["delete", "deployment", "nginx-deployment", "--wait=true"]);

    // 回滚Deployment: RollingUpdate + minReadySeconds, set image, describe, history, undo
    s.ok_input(&["apply", "-f", "-"], &rolling_manifest());
    wait_available(&s, 3);
    s.ok(&[
        "set",
        "image",
        "deployment/nginx-deployment",
        "nginx=nginx:1.7.9-alpine",
    ]);
    let desc = s.ok(&["describe", "deployment", "nginx-deployment"]);
    for want in [
        "Name:                   nginx-deployment",
        "Selector:               app=nginx",
        "StrategyType:           RollingUpdate",
        "MinReadySeconds:        5",
        "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
        "Image:         nginx:1.7.9-alpine",
        "NewReplicaSet:   nginx-deployment-",
        "ScalingReplicaSet",
    ] {
        assert!(desc.contains(want), "describe lacks {want:?}:\n{desc}");
    }
    // Simulated pods run any image, so this rollout completes (a real node fails to pull it).
    s.ok(&[
        "rollout",
        "status",
        "deployment",
        "nginx-deployment",
        "--timeout=120s",
    ]);
    let hist = s.ok(&["rollout", "history", "deployment", "nginx-deployment"]);
    assert!(
        hist.lines().any(|l| l.starts_with('1')) && hist.lines().any(|l| l.starts_with('2')),
        "{hist}"
    );
    s.ok(&["rollout", "undo", "deployment", "nginx-deployment"]);
    s.ok(&[
        "rollout",
        "status",
        "deployment",
        "nginx-deployment",
        "--timeout=120s",
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "deployment",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.7.9"
    );
    wait_available(&s, 3);
    let rs = s.ok(&["get", "rs", "-l", "app=nginx", "-o", "name"]);
    assert_eq!(
        rs.lines().count(),
        2,
        "undo must reuse the first ReplicaSet, not create a third: {rs}"
    );
    s.ok(&["delete", "deployment", "nginx-deployment", "--wait=true"]);
}
