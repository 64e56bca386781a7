//! Rows of the pod controllers and their helpers: Deployment, ReplicaSet, StatefulSet,
//! DaemonSet, ControllerRevision (apps/v1), ReplicationController and PodTemplate (core/v1).

use super::{
    AGE, CONTAINERS, Col, IMAGES, NAME, Printer, age_cell, arr_at, col, container_cells,
    format_label_selector, format_labels, int_at, n, name_cell, opt_int_at, s, selector_string,
    str_at, wide,
};
use crate::meta::get_path;
use serde_json::Value;

const SELECTOR: Col = wide(
    "Selector",
    "string",
    "The label query over the pods the controller manages.",
);

pub(super) const DEPLOYMENT: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "string",
            "The number of pods running the latest template.",
        ),
        col(
            "Available",
            "string",
            "The number of pods available to serve.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: deployment_cells,
};

pub(super) const REPLICA_SET: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer", "The number of desired replicas."),
        col("Current", "integer", "The number of replicas observed."),
        col("Ready", "integer", "The number of ready replicas."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: replica_set_cells,
};

pub(super) const REPLICATION_CONTROLLER: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer", "The number of desired replicas."),
        col("Current", "integer", "The number of replicas observed."),
        col("Ready", "integer", "The number of ready replicas."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: replication_controller_cells,
};

pub(super) const STATEFUL_SET: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ],
    cells: stateful_set_cells,
};

pub(super) const DAEMON_SET: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Desired",
            "integer",
            "The number of nodes that should run the daemon pod.",
        ),
        col(
            "Current",
            "integer",
            "The number of nodes running at least one daemon pod.",
        ),
        col(
            "Ready",
            "integer",
            "The number of nodes with a ready daemon pod.",
        ),
        col(
            "Up-to-date",
            "integer",
            "The number of nodes running the latest daemon pod template.",
        ),
        col(
            "Available",
            "integer",
            "The number of nodes with an available daemon pod.",
        ),
        col(
            "Node Selector",
            "string",
            "The node labels the daemon pods are restricted to.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: daemon_set_cells,
};

pub(super) const CONTROLLER_REVISION: Printer = Printer {
    columns: &[
        NAME,
        col("Controller", "string", "Controller of the object"),
        col("Revision", "string", "The revision the state represents."),
        AGE,
    ],
    cells: controller_revision_cells,
};

pub(super) const POD_TEMPLATE: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Containers",
            "string",
            "Names of each container in the template.",
        ),
        col(
            "Images",
            "string",
            "Images referenced by each container in the template.",
        ),
        col("Pod Labels", "string", "The labels for the pod template."),
    ],
    cells: pod_template_cells,
};

/// `spec.replicas`, defaulted to 1 as upstream's defaulting does.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

/// The Containers and Images cells of `spec.template`.
fn template_containers(obj: &Value) -> (Value, Value) {
    let (names, images) = container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]));
    (s(names), s(images))
}

fn deployment_cells(d: &Value) -> Vec<Value> {
    // Deployments print the bare selector string: empty for none, `<invalid>` on error.
    let selector =
        selector_string(get_path(d, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".into());
    let (names, images) = template_containers(d);
    vec![
        name_cell(d),
        s(format!(
            "{}/{}",
            int_at(d, &["status", "readyReplicas"]),
            desired_replicas(d)
        )),
        n(int_at(d, &["status", "updatedReplicas"])),
        n(int_at(d, &["status", "availableReplicas"])),
        age_cell(d),
        names,
        images,
        s(selector),
    ]
}

fn replica_set_cells(rs: &Value) -> Vec<Value> {
    let (names, images) = template_containers(rs);
    vec![
        name_cell(rs),
        n(desired_replicas(rs)),
        n(int_at(rs, &["status", "replicas"])),
        n(int_at(rs, &["status", "readyReplicas"])),
        age_cell(rs),
        names,
        images,
        s(format_label_selector(get_path(rs, &["spec", "selector"]))),
    ]
}

fn replication_controller_cells(rc: &Value) -> Vec<Value> {
    let (names, images) = template_containers(rc);
    vec![
        name_cell(rc),
        n(desired_replicas(rc)),
        n(int_at(rc, &["status", "replicas"])),
        n(int_at(rc, &["status", "readyReplicas"])),
        age_cell(rc),
        names,
        images,
        s(format_labels(get_path(rc, &["spec", "selector"]))),
    ]
}

fn stateful_set_cells(ss: &Value) -> Vec<Value> {
    let (names, images) = template_containers(ss);
    vec![
        name_cell(ss),
        s(format!(
            "{}/{}",
            int_at(ss, &["status", "readyReplicas"]),
            desired_replicas(ss)
        )),
        age_cell(ss),
        names,
        images,
    ]
}

fn daemon_set_cells(ds: &Value) -> Vec<Value> {
    let (names, images) = template_containers(ds);
    let status = |f: &str| n(int_at(ds, &["status", f]));
    vec![
        name_cell(ds),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        s(format_labels(get_path(
            ds,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age_cell(ds),
        names,
        images,
        s(format_label_selector(get_path(ds, &["spec", "selector"]))),
    ]
}

/// `kind.group/name` (lower-cased kind and group) of the controlling owner, or `<none>`.
fn controller_name(obj: &Value) -> String {
    let Some(owner) = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| get_path(r, &["controller"]).and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".into();
    };
    let name = str_at(owner, &["name"]);
    let kind = str_at(owner, &["kind"]);
    let api_version = str_at(owner, &["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    if kind.is_empty() && group.is_empty() {
        return name.to_string();
    }
    let group_kind = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    format!("{}/{name}", group_kind.to_lowercase())
}

fn controller_revision_cells(cr: &Value) -> Vec<Value> {
    vec![
        name_cell(cr),
        s(controller_name(cr)),
        n(int_at(cr, &["revision"])),
        age_cell(cr),
    ]
}

fn pod_template_cells(pt: &Value) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(pt, &["template", "spec", "containers"]));
    vec![
        name_cell(pt),
        s(names),
        s(images),
        s(format_labels(get_path(
            pt,
            &["template", "metadata", "labels"],
        ))),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::super::test_util::ago;
    use serde_json::{Value, json};

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]}})
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": ago(3 * 3600)})
    }

    #[test]
    fn workloads() {
        let cases: Vec<(&str, &str, Value, Vec<Value>)> = vec![
            (
                "apps",
                "Deployment",
                json!({"metadata": meta("web"), "spec": {"replicas": 3, "template": template(),
                        "selector": {"matchLabels": {"app": "web"}}},
                       "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
                vec![
                    json!("web"),
                    json!("2/3"),
                    json!(3),
                    json!(2),
                    json!("3h"),
                    json!("web,log"),
                    json!("nginx:1.27,busybox"),
                    json!("app=web"),
                ],
            ),
            (
                "apps",
                "Deployment",
                json!({"metadata": meta("fresh"), "spec": {"template": {}}}),
                vec![
                    json!("fresh"),
                    json!("0/1"),
                    json!(0),
                    json!(0),
                    json!("3h"),
                    json!(""),
                    json!(""),
                    json!(""),
                ],
            ),
            (
                "apps",
                "Deployment",
                json!({"metadata": meta("bad"), "spec": {"replicas": 0,
                        "selector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}}}),
                vec![
                    json!("bad"),
                    json!("0/0"),
                    json!(0),
                    json!(0),
                    json!("3h"),
                    json!(""),
                    json!(""),
                    json!("<invalid>"),
                ],
            ),
            (
                "apps",
                "ReplicaSet",
                json!({"metadata": meta("web-5d9"), "spec": {"replicas": 2, "template": template(),
                        "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d9"}}},
                       "status": {"replicas": 2, "readyReplicas": 1}}),
                vec![
                    json!("web-5d9"),
                    json!(2),
                    json!(2),
                    json!(1),
                    json!("3h"),
                    json!("web,log"),
                    json!("nginx:1.27,busybox"),
                    json!("app=web,pod-template-hash=5d9"),
                ],
            ),
            (
                "apps",
                "ReplicaSet",
                json!({"metadata": meta("nosel")}),
                vec![
                    json!("nosel"),
                    json!(1),
                    json!(0),
                    json!(0),
                    json!("3h"),
                    json!(""),
                    json!(""),
                    json!("<none>"),
                ],
            ),
            (
                "",
                "ReplicationController",
                json!({"metadata": meta("rc"), "spec": {"replicas": 2, "selector": {"app": "web"},
                        "template": template()}, "status": {"replicas": 2, "readyReplicas": 2}}),
                vec![
                    json!("rc"),
                    json!(2),
                    json!(2),
                    json!(2),
                    json!("3h"),
                    json!("web,log"),
                    json!("nginx:1.27,busybox"),
                    json!("app=web"),
                ],
            ),
            (
                "apps",
                "StatefulSet",
                json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()},
                       "status": {"readyReplicas": 3}}),
                vec![
                    json!("db"),
                    json!("3/3"),
                    json!("3h"),
                    json!("web,log"),
                    json!("nginx:1.27,busybox"),
                ],
            ),
            (
                "apps",
                "DaemonSet",
                json!({"metadata": meta("agent"), "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                            "containers": [{"name": "agent", "image": "agent:1"}]}}},
                       "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                                  "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}}),
                vec![
                    json!("agent"),
                    json!(3),
                    json!(3),
                    json!(2),
                    json!(3),
                    json!(2),
                    json!("kubernetes.io/os=linux"),
                    json!("3h"),
                    json!("agent"),
                    json!("agent:1"),
                    json!("app=agent"),
                ],
            ),
            (
                "apps",
                "DaemonSet",
                json!({"metadata": meta("bare")}),
                vec![
                    json!("bare"),
                    json!(0),
                    json!(0),
                    json!(0),
                    json!(0),
                    json!(0),
                    json!("<none>"),
                    json!("3h"),
                    json!(""),
                    json!(""),
                    json!("<none>"),
                ],
            ),
            (
                "apps",
                "ControllerRevision",
                json!({"metadata": {"name": "db-7f", "creationTimestamp": ago(3 * 3600),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                             "controller": true}]}, "revision": 2}),
                vec![
                    json!("db-7f"),
                    json!("statefulset.apps/db"),
                    json!(2),
                    json!("3h"),
                ],
            ),
            (
                "apps",
                "ControllerRevision",
                json!({"metadata": {"name": "r", "creationTimestamp": ago(3 * 3600),
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]}, "revision": 1}),
                vec![json!("r"), json!("<none>"), json!(1), json!("3h")],
            ),
            (
                "",
                "PodTemplate",
                json!({"metadata": meta("pt"), "template": template()}),
                vec![
                    json!("pt"),
                    json!("web,log"),
                    json!("nginx:1.27,busybox"),
                    json!("app=web"),
                ],
            ),
            (
                "",
                "PodTemplate",
                json!({"metadata": meta("empty")}),
                vec![json!("empty"), json!(""), json!(""), json!("<none>")],
            ),
        ];
        for (group, kind, obj, want) in cases {
            assert_eq!(cells(group, kind, &obj), want, "{group}/{kind} {obj}");
        }
    }

    #[test]
    fn controller_of_core_owner() {
        let cr = json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "ReplicationController", "name": "x", "controller": true}]}});
        assert_eq!(super::controller_name(&cr), "replicationcontroller/x");
    }
}
