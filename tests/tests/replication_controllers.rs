//! ReplicationControllers through the real kubectl: the replication manager creates the
//! pods with a controller reference to the RC, reports status in the RC's shape, follows
//! `kubectl scale rc`, adopts orphans that match, and the pods go with the RC.

use krust_e2e::{Server, eventually};
use std::time::Duration;

const RC: &str = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 3\n  selector:\n    app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";

fn pods_of(s: &Server) -> Vec<String> {
    s.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].kind}{\"\\n\"}{end}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn replication_controllers_keep_their_replicas() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], RC);
    assert!(eventually(Duration::from_secs(20), || pods_of(&s).len() == 3));
    assert!(
        pods_of(&s)
            .iter()
            .all(|p| p.starts_with("web-") && p.ends_with(" ReplicationController"))
    );
    assert!(eventually(Duration::from_secs(20), || {
        s.ok(&[
            "get",
            "rc",
            "web",
            "-o",
            "jsonpath={.status.replicas}/{.status.observedGeneration}",
        ]) == "3/1"
    }));
    let table = s.ok(&["get", "rc", "web"]);
    assert!(
        table.contains("DESIRED")
            && table
                .lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("web") && l.contains(" 3 ")),
        "{table}"
    );
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=ReplicationController",
    ]);
    assert!(events.contains("SuccessfulCreate"), "{events}");

    s.ok(&["scale", "rc", "web", "--replicas=1"]);
    assert!(eventually(Duration::from_secs(20), || {
        s.ok(&["get", "pods", "-l", "app=web", "--no-headers"])
            .lines()
            .filter(|l| !l.contains("Terminating"))
            .count()
            == 1
            && s.ok(&["get", "rc", "web", "-o", "jsonpath={.status.replicas}"]) == "1"
    }));

    // Orphaned by a `--cascade=orphan` delete, the pod is adopted by a new RC that matches it
    // instead of a new pod being made.
    let survivor = pods_of(&s)
        .into_iter()
        .find(|p| !p.is_empty())
        .and_then(|p| p.split(' ').next().map(str::to_string))
        .unwrap_or_default();
    s.ok(&["delete", "rc", "web", "--cascade=orphan"]);
    assert!(eventually(Duration::from_secs(20), || {
        s.ok(&[
            "get",
            "pod",
            &survivor,
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ])
        .is_empty()
    }));
    s.ok_input(
        &["apply", "-f", "-"],
        &RC.replace("replicas: 3", "replicas: 1"),
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            pods_of(&s) == [format!("{survivor} ReplicationController")]
                && s.ok(&["get", "rc", "web", "-o", "jsonpath={.status.replicas}"]) == "1"
        }),
        "{:?}",
        pods_of(&s)
    );

    // Deleting the RC deletes its pods (the garbage collector follows the owner reference).
    s.ok(&["delete", "rc", "web"]);
    assert!(
        eventually(Duration::from_secs(30), || pods_of(&s).is_empty()),
        "{:?}",
        pods_of(&s)
    );
}
