//! The Pod row: readiness, the aggregate status `kubectl get pods` shows (init containers,
//! waiting and terminated reasons, Terminating), restarts with the time of the last one, and
//! the wide IP, node, nominated node and readiness-gate columns.

use super::{
    AGE, NAME, Printer, age_cell, arr_at, bool_at, col, int_at, name_cell, obj_at, or, parse_ts, s,
    str_at, wide,
};
use jiff::Timestamp;
use serde_json::Value;

pub(super) const POD: Printer = Printer {
    columns: &[
        NAME,
        col(
            "Ready",
            "string",
            "The aggregate readiness of the pod's containers for serving traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the pod's containers.",
        ),
        col(
            "Restarts",
            "string",
            "How many times the pod's containers restarted, and when the last restart was.",
        ),
        AGE,
        wide("IP", "string", "The IP address allocated to the pod."),
        wide("Node", "string", "The node the pod is scheduled onto."),
        wide(
            "Nominated Node",
            "string",
            "The node the scheduler nominated for the pod after preemption.",
        ),
        wide(
            "Readiness Gates",
            "string",
            "How many of the pod's readiness gates are satisfied.",
        ),
    ],
    cells: pod_cells,
};

/// Whether the init container named `name` in `spec.initContainers` is a restartable
/// (sidecar) one.
fn is_restartable_init(init_specs: &[Value], name: &str) -> bool {
    init_specs
        .iter()
        .rev()
        .find(|c| str_at(c, &["name"]) == name)
        .is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

/// The condition of `type_` (first match), if any.
fn condition<'a>(pod: &'a Value, type_: &str) -> Option<&'a Value> {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
}

/// Whether any Ready condition is True (upstream's `hasPodReadyCondition`).
fn has_ready_condition(pod: &Value) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True")
}

/// `lastState.terminated.finishedAt` of a container status.
fn last_terminated_at(cs: &Value) -> Option<Timestamp> {
    obj_at(cs, &["lastState", "terminated"])?;
    parse_ts(str_at(cs, &["lastState", "terminated", "finishedAt"]))
}

/// Keeps the later of two optional timestamps.
fn bump(latest: &mut Option<Timestamp>, t: Option<Timestamp>) {
    if let Some(t) = t
        && latest.is_none_or(|l| l < t)
    {
        *latest = Some(t);
    }
}

/// `state.<which>` of a container status, when set (an object).
fn state<'a>(cs: &'a Value, which: &str) -> Option<&'a Value> {
    crate::meta::get_path(cs, &["state", which]).filter(|v| v.is_object())
}

/// `Signal:N` or `ExitCode:N` for a terminated state without a reason.
fn exit_reason(term: &Value) -> String {
    let signal = int_at(term, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int_at(term, &["exitCode"]))
    }
}

/// The Pod's cells.
fn pod_cells(pod: &Value) -> Vec<Value> {
    let containers = arr_at(pod, &["spec", "containers"]);
    let init_specs = arr_at(pod, &["spec", "initContainers"]);
    let total = containers.len()
        + init_specs
            .iter()
            .filter(|c| str_at(c, &["restartPolicy"]) == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = str_at(pod, &["status", "phase"]);
    let mut reason = or(str_at(pod, &["status", "reason"]), phase);
    if arr_at(pod, &["status", "conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated"
    }) {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, cs) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(cs, &["restartCount"]);
        let finished = last_terminated_at(cs);
        restarts = restarts.saturating_add(count);
        bump(&mut last_restart, finished);
        let restartable = is_restartable_init(init_specs, str_at(cs, &["name"]));
        if restartable {
            sidecar_restarts = sidecar_restarts.saturating_add(count);
            bump(&mut last_sidecar_restart, finished);
        }
        let terminated = state(cs, "terminated");
        let waiting_reason = obj_at(cs, &["state", "waiting"])
            .map(|_| str_at(cs, &["state", "waiting", "reason"]))
            .unwrap_or("");
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if restartable && bool_at(cs, &["started"]) == Some(true) {
            if bool_at(cs, &["ready"]) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            let r = str_at(t, &["reason"]);
            if r.is_empty() {
                format!("Init:{}", exit_reason(t))
            } else {
                format!("Init:{r}")
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    let initialized =
        condition(pod, "Initialized").is_some_and(|c| str_at(c, &["status"]) == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts = restarts.saturating_add(int_at(cs, &["restartCount"]));
            bump(&mut last_restart, last_terminated_at(cs));
            let waiting_reason = obj_at(cs, &["state", "waiting"])
                .map(|_| str_at(cs, &["state", "waiting", "reason"]))
                .unwrap_or("");
            let terminated = state(cs, "terminated");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if r.is_empty() {
                    exit_reason(t)
                } else {
                    r.to_string()
                };
            } else if bool_at(cs, &["ready"]) == Some(true)
                && obj_at(cs, &["state", "running"]).is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_ready_condition(pod) {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if crate::meta::is_deleting(pod) {
        if str_at(pod, &["status", "reason"]) == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", super::human_since(t)),
        _ => restarts.to_string(),
    };
    let ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .map(|p| str_at(p, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| str_at(pod, &["status", "podIP"]));
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let gates_cell = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let satisfied = gates
            .iter()
            .filter(|g| {
                condition(pod, str_at(g, &["conditionType"]))
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{satisfied}/{}", gates.len())
    };

    vec![
        name_cell(pod),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_cell),
        age_cell(pod),
        s(or(ip, "<none>")),
        s(or(str_at(pod, &["spec", "nodeName"]), "<none>")),
        s(or(str_at(pod, &["status", "nominatedNodeName"]), "<none>")),
        s(gates_cell),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ago, row};
    use serde_json::{Value, json};

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p", "creationTimestamp": ago(600)}, "spec": spec, "status": status})
    }

    fn running(name: &str, ready: bool, restarts: i64) -> Value {
        json!({"name": name, "ready": ready, "restartCount": restarts,
               "state": {"running": {"startedAt": ago(60)}}})
    }

    /// (description, pod, ready, status, restarts)
    fn cases() -> Vec<(&'static str, Value, &'static str, &'static str, String)> {
        let two = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let one = json!({"containers": [{"name": "a"}]});
        let with_init = json!({"initContainers": [{"name": "i1"}, {"name": "i2"}],
                               "containers": [{"name": "a"}]});
        vec![
            (
                "pending, no status",
                pod(one.clone(), json!({"phase": "Pending"})),
                "0/1",
                "Pending",
                "0".into(),
            ),
            ("empty object", json!({}), "0/0", "", "0".into()),
            (
                "running all ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [running("a", true, 0), running("b", true, 0)]}),
                ),
                "2/2",
                "Running",
                "0".into(),
            ),
            (
                "one not ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running",
                    "containerStatuses": [running("a", true, 0), running("b", false, 0)]}),
                ),
                "1/2",
                "Running",
                "0".into(),
            ),
            (
                "container creating",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                ),
                "0/1",
                "ContainerCreating",
                "0".into(),
            ),
            (
                "image pull error",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "containerStatuses": [
                    {"name": "a", "state": {"waiting": {"reason": "ErrImagePull", "message": "x"}}}]}),
                ),
                "0/1",
                "ErrImagePull",
                "0".into(),
            ),
            (
                "crash loop with restarts",
                pod(
                    one.clone(),
                    json!({"phase": "Running", "containerStatuses": [
                    {"name": "a", "ready": false, "restartCount": 3,
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(600)}}}]}),
                ),
                "0/1",
                "CrashLoopBackOff",
                "3 (10m ago)".into(),
            ),
            (
                "first container's reason wins",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "containerStatuses": [
                    {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
                    {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
                ),
                "0/2",
                "ImagePullBackOff",
                "0".into(),
            ),
            (
                "completed",
                pod(
                    one.clone(),
                    json!({"phase": "Succeeded", "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                "0/1",
                "Completed",
                "0".into(),
            ),
            (
                "terminated by signal",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                "0/1",
                "Signal:9",
                "0".into(),
            ),
            (
                "terminated with exit code",
                pod(
                    one.clone(),
                    json!({"phase": "Failed", "containerStatuses": [
                    {"name": "a", "state": {"terminated": {"exitCode": 2}}}]}),
                ),
                "0/1",
                "ExitCode:2",
                "0".into(),
            ),
            (
                "completed but one still running, ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [running("a", true, 0),
                        {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                "1/2",
                "Running",
                "0".into(),
            ),
            (
                "completed but one still running, not ready",
                pod(
                    two.clone(),
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [running("a", true, 0),
                        {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                ),
                "1/2",
                "NotReady",
                "0".into(),
            ),
            (
                "init waiting to start",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}},
                    {"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                "0/1",
                "Init:0/2",
                "0".into(),
            ),
            (
                "second init running",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "i2", "state": {"running": {}}}],
                    "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
                ),
                "0/1",
                "Init:1/2",
                "0".into(),
            ),
            (
                "init crash loop",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(3 * 3600)}}}]}),
                ),
                "0/1",
                "Init:CrashLoopBackOff",
                "4 (3h ago)".into(),
            ),
            (
                "init failed with reason",
                pod(
                    with_init.clone(),
                    json!({"phase": "Failed", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
                ),
                "0/1",
                "Init:Error",
                "0".into(),
            ),
            (
                "init failed with exit code",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 3}}}]}),
                ),
                "0/1",
                "Init:ExitCode:3",
                "0".into(),
            ),
            (
                "init killed by signal",
                pod(
                    with_init.clone(),
                    json!({"phase": "Pending", "initContainerStatuses": [
                    {"name": "i1", "state": {"terminated": {"exitCode": 1, "signal": 15}}}]}),
                ),
                "0/1",
                "Init:Signal:15",
                "0".into(),
            ),
            (
                "sidecar started and ready counts",
                pod(
                    json!({"initContainers": [{"name": "side", "restartPolicy": "Always"}],
                           "containers": [{"name": "a"}]}),
                    json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"},
                                                              {"type": "Ready", "status": "True"}],
                        "initContainerStatuses": [{"name": "side", "started": true, "ready": true,
                            "restartCount": 2, "state": {"running": {}},
                            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}}}],
                        "containerStatuses": [running("a", true, 1)]}),
                ),
                "2/2",
                "Running",
                "3 (10m ago)".into(),
            ),
            (
                "scheduling gated",
                pod(
                    one.clone(),
                    json!({"phase": "Pending", "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                "0/1",
                "SchedulingGated",
                "0".into(),
            ),
            (
                "evicted",
                pod(one.clone(), json!({"phase": "Failed", "reason": "Evicted"})),
                "0/1",
                "Evicted",
                "0".into(),
            ),
            (
                "terminating",
                {
                    let mut p = pod(
                        one.clone(),
                        json!({"phase": "Running",
                        "containerStatuses": [running("a", true, 0)]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!(ago(5));
                    p
                },
                "1/1",
                "Terminating",
                "0".into(),
            ),
            (
                "terminating after success keeps Completed",
                {
                    let mut p = pod(
                        one.clone(),
                        json!({"phase": "Succeeded", "containerStatuses": [
                        {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!(ago(5));
                    p
                },
                "0/1",
                "Completed",
                "0".into(),
            ),
            (
                "node lost",
                {
                    let mut p = pod(
                        one.clone(),
                        json!({"phase": "Running", "reason": "NodeLost"}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!(ago(5));
                    p
                },
                "0/1",
                "Unknown",
                "0".into(),
            ),
            (
                "restarts without a finish time",
                pod(
                    one.clone(),
                    json!({"phase": "Running", "containerStatuses": [running("a", true, 5)]}),
                ),
                "1/1",
                "Running",
                "5".into(),
            ),
        ]
    }

    #[test]
    fn pod_status_ready_restarts() {
        for (what, obj, ready, status, restarts) in cases() {
            let r = row("", "Pod", &obj);
            assert_eq!(r.len(), 9, "{what}");
            assert_eq!(r[1], ready, "{what}: ready");
            assert_eq!(r[2], status, "{what}: status");
            assert_eq!(r[3], restarts, "{what}: restarts");
        }
    }

    #[test]
    fn pod_wide_columns() {
        let p = pod(
            json!({"nodeName": "n1", "containers": [{"name": "a"}],
                   "readinessGates": [{"conditionType": "x/one"}, {"conditionType": "x/two"}]}),
            json!({"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}],
                   "nominatedNodeName": "n2",
                   "conditions": [{"type": "x/one", "status": "True"}, {"type": "x/two", "status": "False"}]}),
        );
        let r = row("", "Pod", &p);
        assert_eq!(r[0], "p");
        assert_eq!(r[4], "10m");
        assert_eq!(&r[5..], ["10.0.0.9", "n1", "n2", "1/2"]);

        let bare = pod(json!({}), json!({}));
        assert_eq!(
            &row("", "Pod", &bare)[5..],
            ["<none>", "<none>", "<none>", "<none>"]
        );
        let no_ts = json!({"metadata": {"name": "x"}});
        assert_eq!(row("", "Pod", &no_ts)[4], "<unknown>");
    }
}
