//! The garbage collector with each propagation policy, through `kubectl delete --cascade`.

use krust_e2e::{Server, eventually};
use std::time::Duration;

fn owned_configmap(s: &Server, name: &str, owner: &str, block: bool) {
    let uid = s.ok(&["get", "cm", owner, "-o", "jsonpath={.metadata.uid}"]);
    let cm = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"{owner}","uid":"{uid}","blockOwnerDeletion":{block}}}]}},"data":{{"a":"b"}}}}"#
    );
    s.ok_input(&["apply", "-f", "-"], &cm);
}

fn exists(s: &Server, what: &str) -> bool {
    s.kubectl(&["get", what]).status.success()
}

#[test]
fn background_foreground_and_orphan_deletion() {
    let s = Server::start();
    for owner in ["bg-owner", "fg-owner", "or-owner"] {
        s.ok(&["create", "configmap", owner, "--from-literal=x=y"]);
    }
    owned_configmap(&s, "bg-dep", "bg-owner", false);
    owned_configmap(&s, "fg-dep", "fg-owner", true);
    owned_configmap(&s, "or-dep", "or-owner", false);

    // Background (the default): the owner goes at once, the dependent shortly after.
    s.ok(&["delete", "cm", "bg-owner"]);
    assert!(
        eventually(Duration::from_secs(30), || !exists(&s, "cm/bg-dep")),
        "bg-dep was not collected"
    );

    // Foreground: the owner waits for its blocking dependent, then both are gone.
    s.ok(&[
        "delete",
        "cm",
        "fg-owner",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(
        !exists(&s, "cm/fg-dep"),
        "fg-dep outlived its foreground-deleted owner"
    );
    assert!(!exists(&s, "cm/fg-owner"));

    // Orphan: the dependent stays, without the owner reference.
    s.ok(&[
        "delete",
        "cm",
        "or-owner",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    assert!(!exists(&s, "cm/or-owner"));
    assert!(
        exists(&s, "cm/or-dep"),
        "or-dep was deleted despite --cascade=orphan"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "cm",
            "or-dep",
            "-o",
            "jsonpath={.metadata.ownerReferences}"
        ]),
        ""
    );
}

#[test]
fn deleting_a_deployment_removes_its_replicasets_and_pods() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    let uid = s.ok(&[
        "get",
        "deploy",
        "nginx-deployment",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let rs = format!(
        r#"{{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"nginx-deployment-abc12","labels":{{"app":"nginx","pod-template-hash":"abc12"}},
        "ownerReferences":[{{"apiVersion":"apps/v1","kind":"Deployment","name":"nginx-deployment","uid":"{uid}","controller":true,"blockOwnerDeletion":true}}]}},
        "spec":{{"replicas":1,"selector":{{"matchLabels":{{"app":"nginx","pod-template-hash":"abc12"}}}},
        "template":{{"metadata":{{"labels":{{"app":"nginx","pod-template-hash":"abc12"}}}},"spec":{{"containers":[{{"name":"nginx","image":"nginx:1.7.9"}}]}}}}}}}}"#
    );
    s.ok_input(&["apply", "-f", "-"], &rs);
    let rs_uid = s.ok(&[
        "get",
        "rs",
        "nginx-deployment-abc12",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let pod = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"nginx-deployment-abc12-xyz","labels":{{"app":"nginx","pod-template-hash":"abc12"}},
        "ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"nginx-deployment-abc12","uid":"{rs_uid}","controller":true,"blockOwnerDeletion":true}}]}},
        "spec":{{"containers":[{{"name":"nginx","image":"nginx:1.7.9"}}]}}}}"#
    );
    s.ok_input(&["apply", "-f", "-"], &pod);
    s.ok(&["delete", "deployment", "nginx-deployment"]);
    assert!(eventually(Duration::from_secs(30), || s
        .ok(&["get", "rs,pods", "-o", "name"])
        .trim()
        .is_empty()));
}

#[test]
fn deleting_a_namespace_deletes_its_contents_then_the_namespace() {
    let s = Server::start();
    s.ok(&["create", "namespace", "doomed"]);
    s.ok(&[
        "create",
        "configmap",
        "c1",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "s1",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    s.ok_input(
        &["apply", "-n", "doomed", "-f", "-"],
        krust_e2e::NGINX_DEPLOYMENT,
    );
    s.ok(&["delete", "namespace", "doomed", "--timeout=60s"]);
    assert!(!s.kubectl(&["get", "ns", "doomed"]).status.success());
    // Creating into a terminating namespace is refused with 403; into a missing one with 404.
    let err = s.fails(&[
        "create",
        "configmap",
        "c2",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    assert!(err.contains("not found"), "{err}");
    let err = s.fails(&["delete", "namespace", "default"]);
    assert!(err.contains("this namespace may not be deleted"), "{err}");
}
