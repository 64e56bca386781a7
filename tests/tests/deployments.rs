//! The Deployment and ReplicaSet controllers through the real binary and kubectl, without
//! nodes: pods stay Pending unless a test marks them Ready by patching their status (as a
//! kubelet would). Covers the article's walkthrough steps that need no container: create from
//! the apps/v1beta1 manifest, `pod-template-hash` ReplicaSets owning their pods, `kubectl
//! scale`, `set image` with revisions and availability kept, `rollout status/history/undo`
//! (the old ReplicaSet comes back as revision 3, no twin), `describe`, pause/resume,
//! Recreate, minReadySeconds, and garbage collection on delete.

use krust_e2e::{Server, eventually};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

/// One ReplicaSet as `kubectl get rs` shows it.
#[derive(Debug, Clone)]
struct Rs {
    name: String,
    replicas: i64,
    revision: String,
    history: String,
}

fn replica_sets(s: &Server, selector: &str) -> Vec<Rs> {
    let out = s.ok(&[
        "get",
        "rs",
        "-l",
        selector,
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.annotations.deployment\.kubernetes\.io/revision-history}{"\n"}{end}"#,
    ]);
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split(' ');
            Rs {
                name: f.next().unwrap_or_default().to_string(),
                replicas: f.next().and_then(|v| v.parse().ok()).unwrap_or(-1),
                revision: f.next().unwrap_or_default().to_string(),
                history: f.next().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// Names of the live (not terminating) pods matching `selector`, with their controller's name.
fn pods(s: &Server, selector: &str) -> Vec<(String, String)> {
    let out = s.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].name} {.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() >= 2 && f.get(2).is_none_or(|d| d.is_empty()))
                .then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

fn jp(s: &Server, what: &str, path: &str) -> String {
    s.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::fmt::strtime::format(
        "%Y-%m-%dT%H:%M:%SZ",
        k8s_openapi::jiff::Timestamp::now(),
    )
    .unwrap_or_default()
}

/// Marks every live pod matching `selector` Running and Ready, as a kubelet would.
fn make_ready(s: &Server, selector: &str) {
    let patch = format!(
        r#"{{"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{}"}}]}}}}"#,
        now_rfc3339()
    );
    let out = s.ok(&[
        "get",
        "pods",
        "-l",
        selector,
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}"#,
    ]);
    for line in out.lines() {
        let mut f = line.split(' ');
        let (Some(name), phase) = (f.next(), f.next()) else {
            continue;
        };
        if name.is_empty() || phase == Some("Running") {
            continue;
        }
        // A pod may be deleted meanwhile: failures are fine.
        let _ = s.kubectl(&[
            "patch",
            "pod",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ]);
    }
}

/// Keeps making pods ready until `available/updated/replicas` of the Deployment are all `n`.
fn roll_out(s: &Server, deploy: &str, selector: &str, n: i64) {
    let want = format!("{n}/{n}/{n}");
    let ok = eventually(WAIT, || {
        make_ready(s, selector);
        jp(
            s,
            &format!("deploy/{deploy}"),
            "{.status.availableReplicas}/{.status.updatedReplicas}/{.status.replicas}",
        ) == want
    });
    assert!(
        ok,
        "{deploy} did not reach {want}: {}\n{}",
        s.ok(&["get", "deploy,rs,pods", "-o", "wide"]),
        s.ok(&["get", "deploy", deploy, "-o", "yaml"])
    );
}

#[test]
fn deployment_replica_sets_pods_scale_and_garbage_collection() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);

    // One ReplicaSet nginx-deployment-<hash> of 3, three pods owned by it.
    assert!(
        eventually(WAIT, || {
            let rss = replica_sets(&s, "app=nginx");
            rss.len() == 1 && rss[0].replicas == 3 && pods(&s, "app=nginx").len() == 3
        }),
        "{}",
        s.ok(&["get", "deploy,rs,pods"])
    );
    let rs = replica_sets(&s, "app=nginx").remove(0);
    let hash = rs
        .name
        .strip_prefix("nginx-deployment-")
        .unwrap_or_else(|| panic!("ReplicaSet name {}", rs.name))
        .to_string();
    assert!(
        !hash.is_empty()
            && hash
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
        "hash {hash}"
    );
    assert_eq!(rs.revision, "1");
    assert_eq!(
        jp(
            &s,
            &format!("rs/{}", rs.name),
            "{.spec.selector.matchLabels.pod-template-hash}"
        ),
        hash
    );
    for (pod, owner) in pods(&s, "app=nginx") {
        assert_eq!(owner, rs.name, "{pod}");
        assert!(pod.starts_with(&format!("{}-", rs.name)), "{pod}");
        assert_eq!(
            jp(
                &s,
                &format!("pod/{pod}"),
                "{.metadata.labels.pod-template-hash}"
            ),
            hash
        );
        assert_eq!(
            jp(
                &s,
                &format!("pod/{pod}"),
                "{.metadata.ownerReferences[0].controller}"
            ),
            "true"
        );
    }
    assert_eq!(
        jp(
            &s,
            "deploy/nginx-deployment",
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "1"
    );
    assert!(eventually(WAIT, || jp(
        &s,
        "deploy/nginx-deployment",
        "{.status.observedGeneration}/{.status.replicas}/{.status.updatedReplicas}"
    ) == "1/3/3"));

    // The ReplicaSet replaces a deleted pod.
    let victim = pods(&s, "app=nginx").remove(0).0;
    s.ok(&["delete", "pod", &victim, "--wait=false"]);
    assert!(eventually(WAIT, || {
        let p = pods(&s, "app=nginx");
        p.len() == 3 && !p.iter().any(|(n, _)| *n == victim)
    }));

    // kubectl scale, with --current-replicas both ways.
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
    assert!(
        eventually(WAIT, || pods(&s, "app=nginx").len() == 5),
        "{}",
        s.ok(&["get", "rs,pods"])
    );
    make_ready(&s, "app=nginx");
    roll_out(&s, "nginx-deployment", "app=nginx", 5);
    s.ok(&[
        "scale",
        "--current-replicas=5",
        "--replicas=2",
        "deployment/nginx-deployment",
    ]);
    assert!(
        eventually(WAIT, || pods(&s, "app=nginx").len() == 2),
        "{}",
        s.ok(&["get", "rs,pods"])
    );
    assert_eq!(
        replica_sets(&s, "app=nginx").len(),
        1,
        "scaling made no new ReplicaSet"
    );
    roll_out(&s, "nginx-deployment", "app=nginx", 2);
    let row = s.ok(&["get", "deployment", "nginx-deployment", "--no-headers"]);
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..4], ["2/2", "2", "2"], "{row}");

    // describe: the new ReplicaSet and the scaling events.
    let desc = s.ok(&["describe", "deployment", "nginx-deployment"]);
    assert!(
        desc.contains(&format!(
            "NewReplicaSet:   {} (2/2 replicas created)",
            rs.name
        )),
        "{desc}"
    );
    assert!(
        desc.contains(&format!("Scaled up replica set {} from 0 to 3", rs.name)),
        "{desc}"
    );
    assert!(
        desc.contains(&format!("Scaled up replica set {} from 3 to 5", rs.name)),
        "{desc}"
    );
    assert!(
        desc.contains(&format!("Scaled down replica set {} from 5 to 2", rs.name)),
        "{desc}"
    );
    assert!(desc.contains("ScalingReplicaSet"), "{desc}");
    assert!(desc.contains("MinimumReplicasAvailable"), "{desc}");
    assert!(desc.contains("NewReplicaSetAvailable"), "{desc}");
    let rs_desc = s.ok(&["describe", "rs", &rs.name]);
    assert!(rs_desc.contains("SuccessfulCreate"), "{rs_desc}");
    assert!(rs_desc.contains("SuccessfulDelete"), "{rs_desc}");

    // Deleting the Deployment garbage-collects its ReplicaSets and pods.
    s.ok(&["delete", "deployment", "nginx-deployment"]);
    assert!(
        eventually(WAIT, || s
            .ok(&["get", "rs,pods", "-o", "name"])
            .trim()
            .is_empty()),
        "{}",
        s.ok(&["get", "rs,pods"])
    );
}

const ROLLING: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.7.9
        ports:
        - containerPort: 80
"#;

#[test]
fn set_image_history_undo_and_rollout_status() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], ROLLING);
    roll_out(&s, "web", "app=web", 3);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let first = replica_sets(&s, "app=web").remove(0);

    // A new template: a second ReplicaSet, revision 2; pods of it stay unready, so with
    // 25%/25% of 3 (surge 1, unavailable 0) the old ReplicaSet keeps its 3 pods.
    s.ok(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=to 1.9.1",
    ]);
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.9.1"]);
    assert!(
        eventually(WAIT, || {
            let rss = replica_sets(&s, "app=web");
            rss.len() == 2 && rss.iter().any(|r| r.revision == "2" && r.replicas == 1)
        }),
        "{}",
        s.ok(&["get", "rs", "-o", "yaml"])
    );
    // The controller has seen the new template and settled on the surge.
    assert!(
        eventually(WAIT, || {
            jp(
                &s,
                "deploy/web",
                "{.status.observedGeneration}/{.status.updatedReplicas}/{.status.replicas}",
            ) == format!("{}/1/4", jp(&s, "deploy/web", "{.metadata.generation}"))
        }),
        "{}",
        s.ok(&["get", "deploy/web", "-o", "yaml"])
    );
    let rss = replica_sets(&s, "app=web");
    let second = rss
        .iter()
        .find(|r| r.revision == "2")
        .cloned()
        .unwrap_or_else(|| panic!("{rss:?}"));
    let old = rss
        .iter()
        .find(|r| r.name == first.name)
        .cloned()
        .unwrap_or_else(|| panic!("{rss:?}"));
    assert_eq!(old.replicas, 3, "availability kept: {rss:?}");
    assert_eq!(second.replicas, 1, "surge of 1: {rss:?}");
    assert_eq!(
        pods(&s, "app=web").len(),
        4,
        "at most replicas + maxSurge pods"
    );
    assert_eq!(jp(&s, "deploy/web", "{.status.availableReplicas}"), "3");
    assert_eq!(
        jp(
            &s,
            &format!("rs/{}", second.name),
            "{.metadata.annotations.kubernetes\\.io/change-cause}"
        ),
        "to 1.9.1"
    );
    assert!(
        !s.kubectl(&["rollout", "status", "deployment/web", "--timeout=3s"])
            .status
            .success()
    );
    let desc = s.ok(&["describe", "deployment", "web"]);
    assert!(
        desc.contains(&format!("NewReplicaSet:   {}", second.name)),
        "{desc}"
    );
    assert!(
        desc.contains(&format!("OldReplicaSets:  {}", first.name)),
        "{desc}"
    );
    assert!(desc.contains("ReplicaSetUpdated"), "{desc}");
    let history = s.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.lines().any(|l| l.starts_with("1 ")), "{history}");
    assert!(
        history
            .lines()
            .any(|l| l.starts_with("2 ") && l.contains("to 1.9.1")),
        "{history}"
    );

    // Pods become ready: the rollout completes, the old ReplicaSet is scaled to 0.
    roll_out(&s, "web", "app=web", 3);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    assert!(eventually(WAIT, || replica_sets(&s, "app=web")
        .iter()
        .any(|r| r.name == first.name && r.replicas == 0)));

    // Undo: back to revision 1's ReplicaSet, now revision 3, no third ReplicaSet.
    s.ok(&["rollout", "undo", "deployment/web"]);
    assert!(
        eventually(WAIT, || replica_sets(&s, "app=web")
            .iter()
            .any(|r| r.name == first.name && r.revision == "3")),
        "{:?}",
        replica_sets(&s, "app=web")
    );
    roll_out(&s, "web", "app=web", 3);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let rss = replica_sets(&s, "app=web");
    assert_eq!(rss.len(), 2, "no twin ReplicaSet: {rss:?}");
    let back = rss
        .iter()
        .find(|r| r.name == first.name)
        .cloned()
        .unwrap_or_else(|| panic!("{rss:?}"));
    assert_eq!(
        (back.replicas, back.revision.as_str(), back.history.as_str()),
        (3, "3", "1")
    );
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.7.9"
    );
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "3"
    );
    let history = s.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.lines().any(|l| l.starts_with("2 ")), "{history}");
    assert!(history.lines().any(|l| l.starts_with("3 ")), "{history}");
    assert!(!history.lines().any(|l| l.starts_with("1 ")), "{history}");
    let row = s.ok(&["get", "deployment", "web", "--no-headers"]);
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..4], ["3/3", "3", "3"], "{row}");
}

#[test]
fn pause_resume_recreate_and_min_ready_seconds() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], ROLLING);
    roll_out(&s, "web", "app=web", 3);

    // Paused: a template change makes no ReplicaSet; scaling still applies.
    s.ok(&["rollout", "pause", "deployment/web"]);
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.9.1"]);
    s.ok(&["scale", "deployment/web", "--replicas=4"]);
    assert!(eventually(WAIT, || pods(&s, "app=web").len() == 4));
    assert!(eventually(WAIT, || jp(
        &s,
        "deploy/web",
        r#"{.status.conditions[?(@.type=="Progressing")].reason}"#
    ) == "DeploymentPaused"));
    assert_eq!(replica_sets(&s, "app=web").len(), 1);
    s.ok(&["rollout", "resume", "deployment/web"]);
    assert!(eventually(WAIT, || replica_sets(&s, "app=web").len() == 2));
    roll_out(&s, "web", "app=web", 4);

    // Recreate: the old pods go before any new one is made.
    s.ok(&[
        "patch",
        "deployment/web",
        "--type=merge",
        "-p",
        r#"{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}"#,
    ]);
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.10"]);
    let mut seen_mixed = false;
    let done = eventually(WAIT, || {
        let owners: std::collections::BTreeSet<String> =
            pods(&s, "app=web").into_iter().map(|(_, o)| o).collect();
        seen_mixed |= owners.len() > 1;
        make_ready(&s, "app=web");
        jp(
            &s,
            "deploy/web",
            "{.status.availableReplicas}/{.status.updatedReplicas}/{.status.replicas}",
        ) == "4/4/4"
            && replica_sets(&s, "app=web").len() == 3
    });
    assert!(done, "{}", s.ok(&["get", "deploy,rs,pods"]));
    assert!(!seen_mixed, "Recreate ran two versions at once");

    // minReadySeconds: a Ready pod is available only after it.
    let deploy = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow
spec:
  replicas: 1
  minReadySeconds: 4
  selector:
    matchLabels:
      app: slow
  template:
    metadata:
      labels:
        app: slow
    spec:
      containers:
      - name: c
        image: nginx:1.7.9
"#;
    s.ok_input(&["apply", "-f", "-"], deploy);
    assert!(eventually(WAIT, || pods(&s, "app=slow").len() == 1));
    make_ready(&s, "app=slow");
    assert!(eventually(WAIT, || jp(
        &s,
        "deploy/slow",
        "{.status.readyReplicas}"
    ) == "1"));
    assert_eq!(jp(&s, "deploy/slow", "{.status.availableReplicas}"), "");
    assert!(
        eventually(Duration::from_secs(15), || jp(
            &s,
            "deploy/slow",
            "{.status.availableReplicas}"
        ) == "1"),
        "{}",
        s.ok(&["get", "rs", "-l", "app=slow", "-o", "yaml"])
    );
}
