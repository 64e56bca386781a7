//! Events and Leases through the real binary and kubectl: repeated `ScalingReplicaSet` events
//! are aggregated into one Event (`x2 over …` in `kubectl describe`, COUNT 2 in `kubectl get
//! events -o wide`), `--event-ttl` expires old Events, and the controller manager and the
//! scheduler hold their Leases in `kube-system` with a fresh renewTime.

use k8s_openapi::jiff::Timestamp;
use krust_e2e::{Server, eventually};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);

fn describe(s: &Server, what: &[&str]) -> String {
    let mut args = vec!["describe"];
    args.extend_from_slice(what);
    s.ok(&args)
}

#[test]
fn repeated_scaling_events_are_aggregated() {
    let s = Server::start_with(&["--simulate-nodes", "1"]);
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.25",
        "--replicas=1",
    ]);
    assert!(
        eventually(WAIT, || describe(&s, &["deployment", "web"])
            .contains("from 0 to 1")),
        "no first ScalingReplicaSet event:\n{}",
        describe(&s, &["deployment", "web"])
    );
    // Up, down, and up again: the second "from 1 to 3" is the same event.
    s.ok(&["scale", "deployment", "web", "--replicas=3"]);
    assert!(eventually(WAIT, || describe(&s, &["deployment", "web"])
        .contains("from 1 to 3")));
    s.ok(&["scale", "deployment", "web", "--replicas=1"]);
    assert!(eventually(WAIT, || describe(&s, &["deployment", "web"])
        .contains("from 3 to 1")));
    s.ok(&["scale", "deployment", "web", "--replicas=3"]);
    let aggregated = |text: &str| {
        text.lines().any(|l| {
            l.contains("ScalingReplicaSet")
                && l.contains("(x2 over")
                && l.contains("deployment-controller")
                && l.contains("from 1 to 3")
        })
    };
    assert!(
        eventually(WAIT, || aggregated(&describe(&s, &["deployment", "web"]))),
        "describe shows no aggregated event:\n{}",
        describe(&s, &["deployment", "web"])
    );

    // `kubectl get events`: one row per Event; the wide COUNT column (before NAME) says 2.
    let wide = s.ok(&["get", "events", "-o", "wide"]);
    let rows: Vec<&str> = wide
        .lines()
        .filter(|l| l.contains("ScalingReplicaSet") && l.contains("from 1 to 3"))
        .collect();
    assert_eq!(rows.len(), 1, "{wide}");
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2], "2", "COUNT column of {:?}", rows[0]);
    assert!(
        cols.iter().any(|c| c.starts_with("deployment/web")),
        "{}",
        rows[0]
    );
    let plain = s.ok(&["get", "events"]);
    assert!(plain.contains("ScalingReplicaSet"), "{plain}");
    // The counted Event as stored: core/v1 with source, count and both timestamps.
    let stored = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=ScalingReplicaSet",
        "-o",
        r#"jsonpath={range .items[?(@.count==2)]}{.source.component} {.count} {.firstTimestamp} {.lastTimestamp} {.metadata.name}{"\n"}{end}"#,
    ]);
    let line = stored.lines().next().unwrap_or_default();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 5, "{stored}");
    assert_eq!((f[0], f[1]), ("deployment-controller", "2"));
    assert!(f[2] <= f[3], "first {} after last {}", f[2], f[3]);
    let suffix = f[4].strip_prefix("web.").unwrap_or_default();
    assert!(
        !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "event name {}",
        f[4]
    );
    // The ReplicaSet's pod creations are recorded too, by the ReplicaSet controller.
    assert!(eventually(WAIT, || s
        .ok(&["get", "events", "-o", "wide"])
        .contains("replicaset-controller")));
}

fn renew_time(s: &Server, lease: &str) -> (String, Option<Timestamp>) {
    let out = s.ok(&[
        "get",
        "lease",
        "-n",
        "kube-system",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity} {.spec.renewTime}",
    ]);
    let (holder, renew) = out.trim().split_once(' ').unwrap_or((out.trim(), ""));
    (holder.to_string(), renew.parse::<Timestamp>().ok())
}

#[test]
fn control_plane_leases_are_held_and_renewed() {
    let s = Server::start();
    for lease in ["kube-controller-manager", "kube-scheduler"] {
        assert!(
            eventually(WAIT, || s
                .kubectl(&["get", "lease", "-n", "kube-system", lease])
                .status
                .success()),
            "no Lease {lease}"
        );
        let (holder, renewed) = renew_time(&s, lease);
        // `<hostname>_<16 hex digits of the data directory>`: stable across restarts.
        let (host, id) = holder.rsplit_once('_').unwrap_or_default();
        assert!(!host.is_empty() && id.len() == 16, "holder {holder:?}");
        let renewed = renewed.unwrap_or_else(|| panic!("no renewTime on {lease}"));
        let age = Timestamp::now().as_millisecond() - renewed.as_millisecond();
        assert!(age < 15_000, "{lease} renewed {age} ms ago");
        let duration = s.ok(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            lease,
            "-o",
            "jsonpath={.spec.leaseDurationSeconds}",
        ]);
        assert_eq!(duration.trim(), "15");
        // Renewed every 2 s by the same holder.
        assert!(
            eventually(Duration::from_secs(10), || {
                let (h, r) = renew_time(&s, lease);
                h == holder && r.is_some_and(|r| r > renewed)
            }),
            "{lease} not renewed"
        );
    }
    // `kubectl get leases` prints the holder.
    let table = s.ok(&["get", "leases", "-n", "kube-system"]);
    assert!(table.contains("kube-controller-manager"), "{table}");
}

#[test]
fn events_expire_after_the_event_ttl() {
    let s = Server::start_with(&["--event-ttl", "5s"]);
    let ago = |secs: i64| {
        let t = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(secs);
        k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", t).unwrap_or_default()
    };
    let event = |name: &str, at: &str| {
        format!(
            "apiVersion: v1\nkind: Event\nmetadata:\n  name: {name}\ninvolvedObject:\n  kind: Pod\n  name: p1\n  namespace: default\nreason: Testing\nmessage: hello\ntype: Normal\ncount: 1\nfirstTimestamp: \"{at}\"\nlastTimestamp: \"{at}\"\n"
        )
    };
    s.ok_input(&["create", "-f", "-"], &event("old", &ago(3600)));
    let fresh_created = Instant::now();
    s.ok_input(&["create", "-f", "-"], &event("fresh", &ago(0)));
    let exists = |name: &str| s.kubectl(&["get", "event", name]).status.success();
    assert!(
        eventually(Duration::from_secs(10), || !exists("old")),
        "the hour-old Event was not deleted"
    );
    if fresh_created.elapsed() < Duration::from_secs(4) {
        assert!(exists("fresh"), "a fresh Event was deleted before its TTL");
    }
    assert!(
        eventually(Duration::from_secs(15), || !exists("fresh")),
        "the Event was not deleted after its TTL"
    );
    // Events the controllers record expire too.
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=1",
    ]);
    assert!(eventually(WAIT, || s
        .ok(&["get", "events"])
        .contains("ScalingReplicaSet")));
    assert!(
        eventually(Duration::from_secs(20), || !s
            .ok(&["get", "events"])
            .contains("ScalingReplicaSet")),
        "controller events did not expire"
    );
}
