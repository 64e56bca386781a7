//! Pod status as upstream's kubelet computes it (`generateAPIPodStatus`): container statuses
//! from what the runtime reports (waiting/running/terminated, the previous run as
//! `lastState`, restart count, image and IDs), the phase (`getPhase`), and the conditions
//! PodReadyToStartContainers, Initialized, Ready, ContainersReady (PodScheduled and readiness
//! gates are kept from the API), with `lastTransitionTime` kept while a condition's status does
//! not change. Pure: the pod worker gathers the inputs.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Prefix of container IDs in statuses.
pub const RUNTIME_PREFIX: &str = "containerd://";

/// A container's runtime state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// One container as the runtime reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeContainer {
    pub id: String,
    pub state: RunState,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: i32,
    /// The runtime's reason (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// The termination message (file or log tail), or the runtime's message.
    pub message: String,
    pub image: String,
    pub image_ref: String,
    /// The restart count recorded on the container when it was created.
    pub restart_count: i32,
}

/// A spec container's state as the pod worker sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerView {
    pub name: String,
    /// The image named in the spec.
    pub spec_image: String,
    /// The newest container of this name.
    pub current: Option<RuntimeContainer>,
    /// The one before it (for `lastState`).
    pub previous: Option<RuntimeContainer>,
    /// A waiting reason and message the worker decided (`ErrImagePull`, `CrashLoopBackOff`,
    /// `CreateContainerConfigError`, …): overrides what the runtime shows for an exited or
    /// missing container.
    pub waiting: Option<(String, String)>,
    /// Readiness probe result (true when there is no readiness probe).
    pub ready: bool,
    /// Startup probe result (true when there is no startup probe).
    pub started: bool,
}

/// Everything the status is computed from.
#[derive(Debug, Clone)]
pub struct PodView<'a> {
    pub pod: &'a Pod,
    /// Whether a ready sandbox exists.
    pub sandbox_ready: bool,
    pub pod_ip: Option<String>,
    pub host_ip: String,
    pub init: Vec<ContainerView>,
    pub containers: Vec<ContainerView>,
    /// Ephemeral containers (`kubectl debug`): reported, never part of readiness or phase.
    pub ephemeral: Vec<ContainerView>,
    /// The pod will not run containers again (terminal, or being deleted and stopped).
    pub terminal: bool,
    pub qos_class: String,
    pub now: Timestamp,
}

fn to_time(t: Option<Timestamp>) -> Option<Time> {
    t.map(Time)
}

fn terminated(rc: &RuntimeContainer) -> ContainerStateTerminated {
    ContainerStateTerminated {
        container_id: Some(format!("{RUNTIME_PREFIX}{}", rc.id)),
        exit_code: rc.exit_code,
        finished_at: to_time(rc.finished_at),
        message: Some(rc.message.clone()).filter(|m| !m.is_empty()),
        reason: Some(if rc.reason.is_empty() {
            if rc.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_string()
        } else {
            rc.reason.clone()
        }),
        signal: None,
        started_at: to_time(rc.started_at),
    }
}

fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message: Some(message.to_string()).filter(|m| !m.is_empty()),
        }),
        ..Default::default()
    }
}

/// The API status of one container; `default_waiting` is the reason shown before any
/// container exists (`ContainerCreating`, `PodInitializing`).
pub fn container_status(v: &ContainerView, default_waiting: &str) -> ContainerStatus {
    let mut st = ContainerStatus {
        name: v.name.clone(),
        image: v.spec_image.clone(),
        image_id: String::new(),
        ..Default::default()
    };
    let last_terminated = |rc: Option<&RuntimeContainer>| {
        rc.filter(|p| p.state == RunState::Exited)
            .map(|p| ContainerState {
                terminated: Some(terminated(p)),
                ..Default::default()
            })
    };
    match &v.current {
        None => {
            let (reason, message) = v
                .waiting
                .clone()
                .unwrap_or_else(|| (default_waiting.to_string(), String::new()));
            st.state = Some(waiting(&reason, &message));
            st.last_state = last_terminated(v.previous.as_ref());
            st.restart_count = v.previous.as_ref().map_or(0, |p| p.restart_count);
        }
        Some(rc) => {
            if !rc.image.is_empty() {
                st.image = rc.image.clone();
            }
            st.image_id = rc.image_ref.clone();
            st.container_id = Some(format!("{RUNTIME_PREFIX}{}", rc.id));
            st.restart_count = rc.restart_count;
            match rc.state {
                RunState::Running => {
                    st.state = Some(ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: to_time(rc.started_at),
                        }),
                        ..Default::default()
                    });
                    st.last_state = last_terminated(v.previous.as_ref());
                    st.started = Some(v.started);
                    st.ready = v.started && v.ready;
                }
                RunState::Exited => match &v.waiting {
                    Some((reason, message)) => {
                        st.state = Some(waiting(reason, message));
                        st.last_state = Some(ContainerState {
                            terminated: Some(terminated(rc)),
                            ..Default::default()
                        });
                        st.started = Some(false);
                    }
                    None => {
                        st.state = Some(ContainerState {
                            terminated: Some(terminated(rc)),
                            ..Default::default()
                        });
                        st.last_state = last_terminated(v.previous.as_ref());
                        st.started = Some(false);
                    }
                },
                RunState::Created | RunState::Unknown => {
                    let (reason, message) = v
                        .waiting
                        .clone()
                        .unwrap_or_else(|| ("ContainerCreating".into(), String::new()));
                    st.state = Some(waiting(&reason, &message));
                    st.last_state = last_terminated(v.previous.as_ref());
                    st.started = Some(false);
                }
            }
        }
    }
    if st.last_state.is_none() {
        st.last_state = Some(ContainerState::default());
    }
    st
}

/// Upstream's `getPhase`.
pub fn phase(
    pod: &Pod,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
    terminal: bool,
) -> &'static str {
    let restart_policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let mut pending_init = 0;
    let mut failed_init = 0;
    let init_specs = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map_or(0, Vec::len);
    for i in 0..init_specs {
        let Some(cs) = init.get(i) else {
            pending_init += 1;
            continue;
        };
        let state = cs.state.clone().unwrap_or_default();
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.waiting.is_some() {
            match cs.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    let (mut unknown, mut running, mut waiting_n, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for cs in containers {
        let state = cs.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if cs
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .is_some()
            {
                stopped += 1;
            } else {
                waiting_n += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || waiting_n > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if restart_policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if restart_policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

/// The pod's status.
pub fn compute(view: &PodView<'_>) -> PodStatus {
    let pod = view.pod;
    let old = pod.status.clone().unwrap_or_default();
    let init: Vec<ContainerStatus> = view
        .init
        .iter()
        .map(|v| container_status(v, "PodInitializing"))
        .collect();
    let initialized_ok = init.iter().all(|cs| {
        cs.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0)
    });
    let default_waiting = if view.init.is_empty() || initialized_ok || !view.sandbox_ready {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let containers: Vec<ContainerStatus> = view
        .containers
        .iter()
        .map(|v| container_status(v, default_waiting))
        .collect();
    let phase = phase(pod, &init, &containers, view.terminal);

    let mut conditions = Vec::new();
    conditions.push(condition(
        "PodReadyToStartContainers",
        view.sandbox_ready,
        None,
        None,
    ));
    let incomplete: Vec<&str> = init
        .iter()
        .filter(|cs| {
            cs.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_none_or(|t| t.exit_code != 0)
        })
        .map(|cs| cs.name.as_str())
        .collect();
    if phase == "Succeeded" && incomplete.is_empty() {
        conditions.push(condition("Initialized", true, Some("PodCompleted"), None));
    } else if incomplete.is_empty() {
        conditions.push(condition("Initialized", true, None, None));
    } else {
        conditions.push(condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
        ));
    }
    let unready: Vec<&str> = containers
        .iter()
        .filter(|cs| !cs.ready)
        .map(|cs| cs.name.as_str())
        .collect();
    let (containers_ready, ready) = if phase == "Succeeded" || phase == "Failed" {
        let reason = if phase == "Succeeded" {
            "PodCompleted"
        } else {
            "PodFailed"
        };
        (
            condition("ContainersReady", false, Some(reason), None),
            condition("Ready", false, Some(reason), None),
        )
    } else if unready.is_empty() {
        // Readiness gates: every gated condition must be True.
        let gates: Vec<String> = pod
            .spec
            .as_ref()
            .and_then(|s| s.readiness_gates.as_ref())
            .map(|g| g.iter().map(|g| g.condition_type.clone()).collect())
            .unwrap_or_default();
        let unmet: Vec<&String> = gates
            .iter()
            .filter(|g| {
                !old.conditions
                    .iter()
                    .flatten()
                    .any(|c| &c.type_ == *g && c.status == "True")
            })
            .collect();
        let ready = if unmet.is_empty() {
            condition("Ready", true, None, None)
        } else {
            condition(
                "Ready",
                false,
                Some("ReadinessGatesNotReady"),
                Some(format!(
                    "corresponding condition of pod readiness gate \"{}\" does not exist.",
                    unmet[0]
                )),
            )
        };
        (condition("ContainersReady", true, None, None), ready)
    } else {
        let msg = format!("containers with unready status: [{}]", unready.join(" "));
        (
            condition(
                "ContainersReady",
                false,
                Some("ContainersNotReady"),
                Some(msg.clone()),
            ),
            condition("Ready", false, Some("ContainersNotReady"), Some(msg)),
        )
    };
    conditions.push(ready);
    conditions.push(containers_ready);
    // Conditions owned by others (PodScheduled, readiness gates, DisruptionTarget) are kept.
    let ours = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
    ];
    for c in old.conditions.iter().flatten() {
        if !ours.contains(&c.type_.as_str()) {
            conditions.push(c.clone());
        }
    }
    for c in conditions.iter_mut() {
        let prev = old.conditions.iter().flatten().find(|p| p.type_ == c.type_);
        c.last_transition_time = match prev {
            Some(p) if p.status == c.status && p.last_transition_time.is_some() => {
                p.last_transition_time.clone()
            }
            Some(p) if !ours.contains(&c.type_.as_str()) => p.last_transition_time.clone(),
            _ => Some(Time(view.now)),
        };
        if c.last_probe_time.is_none() {
            c.last_probe_time = None;
        }
    }

    let pod_ip = view.pod_ip.clone().filter(|ip| !ip.is_empty());
    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some(view.host_ip.clone()),
        host_ips: Some(vec![HostIP {
            ip: view.host_ip.clone(),
        }]),
        pod_ip: pod_ip.clone(),
        pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
        start_time: old.start_time.clone().or(Some(Time(view.now))),
        qos_class: Some(view.qos_class.clone()),
        init_container_statuses: if view.init.is_empty() {
            None
        } else {
            Some(init)
        },
        container_statuses: Some(containers),
        ephemeral_container_statuses: if view.ephemeral.is_empty() {
            None
        } else {
            Some(
                view.ephemeral
                    .iter()
                    .map(|v| container_status(v, "ContainerCreating"))
                    .collect(),
            )
        },
        nominated_node_name: old.nominated_node_name.clone(),
        ..Default::default()
    }
}

/// A JSON merge patch turning `old` into `new` (objects merged key by key, everything else
/// replaced, keys missing from `new` set to null).
pub fn merge_diff(old: &serde_json::Value, new: &serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::{Map, Value};
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None => {
                        if !nv.is_null() {
                            out.insert(k.clone(), nv.clone());
                        }
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            }
        }
        (o, n) if o == n => None,
        (_, n) => Some(n.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn rc(id: &str, state: RunState, exit: i32, reason: &str, restarts: i32) -> RuntimeContainer {
        RuntimeContainer {
            id: id.into(),
            state,
            created_at: Some(ts(0)),
            started_at: Some(ts(1)),
            finished_at: (state == RunState::Exited).then(|| ts(5)),
            exit_code: exit,
            reason: reason.into(),
            message: String::new(),
            image: "docker.io/library/busybox:1.36".into(),
            image_ref: "sha256:abc".into(),
            restart_count: restarts,
        }
    }

    fn pod(policy: &str, init: bool) -> Pod {
        let mut spec = json!({"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox:1.36"}]});
        if init {
            spec["initContainers"] = json!([{"name": "i", "image": "busybox:1.36"}]);
        }
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": spec,
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2023-11-14T22:13:20Z"}]}
        }))
        .unwrap()
    }

    fn view<'a>(pod: &'a Pod, init: Vec<ContainerView>, c: ContainerView) -> PodView<'a> {
        PodView {
            pod,
            sandbox_ready: true,
            pod_ip: Some("10.42.0.7".into()),
            host_ip: "192.0.2.2".into(),
            init,
            containers: vec![c],
            ephemeral: Vec::new(),
            terminal: false,
            qos_class: "BestEffort".into(),
            now: ts(10),
        }
    }

    fn cv(current: Option<RuntimeContainer>) -> ContainerView {
        ContainerView {
            name: "c".into(),
            spec_image: "busybox:1.36".into(),
            current,
            previous: None,
            waiting: None,
            ready: true,
            started: true,
        }
    }

    fn cond<'a>(st: &'a PodStatus, t: &str) -> &'a PodCondition {
        st.conditions
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.type_ == t))
            .unwrap_or_else(|| panic!("no {t}"))
    }

    #[test]
    fn running_and_ready() {
        let p = pod("Always", false);
        let st = compute(&view(
            &p,
            vec![],
            cv(Some(rc("abc", RunState::Running, 0, "", 0))),
        ));
        assert_eq!(st.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&st, "Ready").status, "True");
        assert_eq!(cond(&st, "ContainersReady").status, "True");
        assert_eq!(cond(&st, "Initialized").status, "True");
        assert_eq!(cond(&st, "PodReadyToStartContainers").status, "True");
        assert_eq!(cond(&st, "PodScheduled").status, "True");
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert_eq!(cs.container_id.as_deref(), Some("containerd://abc"));
        assert!(cs.ready);
        assert_eq!(cs.started, Some(true));
        assert_eq!(st.pod_ip.as_deref(), Some("10.42.0.7"));
        let types: Vec<&str> = st
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
    }

    #[test]
    fn unready_and_crash_loop() {
        let p = pod("Always", false);
        let mut c = cv(Some(rc("abc", RunState::Running, 0, "", 0)));
        c.ready = false;
        let st = compute(&view(&p, vec![], c));
        let ready = cond(&st, "Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [c]")
        );

        let mut c = cv(Some(rc("abc", RunState::Exited, 1, "Error", 3)));
        c.waiting = Some((
            "CrashLoopBackOff".into(),
            "back-off 40s restarting failed container=c pod=p_default(u)".into(),
        ));
        let st = compute(&view(&p, vec![], c));
        assert_eq!(st.phase.as_deref(), Some("Running"));
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            cs.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("CrashLoopBackOff")
        );
        let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(last.exit_code, 1);
        assert_eq!(last.reason.as_deref(), Some("Error"));
        assert_eq!(cs.restart_count, 3);
    }

    #[test]
    fn phases_by_restart_policy() {
        for (policy, exit, want) in [
            ("Never", 0, "Succeeded"),
            ("Never", 1, "Failed"),
            ("OnFailure", 0, "Succeeded"),
            ("Always", 0, "Running"),
        ] {
            let p = pod(policy, false);
            let st = compute(&view(
                &p,
                vec![],
                cv(Some(rc("a", RunState::Exited, exit, "", 0))),
            ));
            assert_eq!(st.phase.as_deref(), Some(want), "{policy} {exit}");
        }
        let p = pod("Never", false);
        let st = compute(&view(
            &p,
            vec![],
            cv(Some(rc("a", RunState::Exited, 0, "", 0))),
        ));
        assert_eq!(cond(&st, "Ready").reason.as_deref(), Some("PodCompleted"));
        let st = compute(&view(&p, vec![], cv(None)));
        assert_eq!(st.phase.as_deref(), Some("Pending"));
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            cs.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("ContainerCreating")
        );
    }

    #[test]
    fn init_containers() {
        let p = pod("Always", true);
        let mut init = cv(Some(rc("i1", RunState::Running, 0, "", 0)));
        init.name = "i".into();
        let st = compute(&view(&p, vec![init.clone()], cv(None)));
        assert_eq!(st.phase.as_deref(), Some("Pending"));
        let ini = cond(&st, "Initialized");
        assert_eq!(ini.status, "False");
        assert_eq!(ini.reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(
            ini.message.as_deref(),
            Some("containers with incomplete status: [i]")
        );
        let cs = &st.container_statuses.as_ref().unwrap()[0];
        assert_eq!(
            cs.state
                .as_ref()
                .unwrap()
                .waiting
                .as_ref()
                .unwrap()
                .reason
                .as_deref(),
            Some("PodInitializing")
        );
        init.current = Some(rc("i1", RunState::Exited, 0, "Completed", 0));
        let st = compute(&view(
            &p,
            vec![init.clone()],
            cv(Some(rc("c", RunState::Running, 0, "", 0))),
        ));
        assert_eq!(st.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&st, "Initialized").status, "True");
        let p = pod("Never", true);
        init.current = Some(rc("i1", RunState::Exited, 2, "Error", 0));
        let st = compute(&view(&p, vec![init], cv(None)));
        assert_eq!(st.phase.as_deref(), Some("Failed"));
    }

    #[test]
    fn transition_times_are_kept() {
        let mut p = pod("Always", false);
        let st = compute(&view(
            &p,
            vec![],
            cv(Some(rc("a", RunState::Running, 0, "", 0))),
        ));
        p.status = Some(st);
        let mut v = view(&p, vec![], cv(Some(rc("a", RunState::Running, 0, "", 0))));
        v.now = ts(100);
        let st2 = compute(&v);
        assert_eq!(cond(&st2, "Ready").last_transition_time, Some(Time(ts(10))));
        assert_eq!(
            cond(&st2, "PodScheduled").last_transition_time,
            Some(Time(Timestamp::from_second(1_700_000_000).unwrap()))
        );
    }

    #[test]
    fn merge_diffs() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "gone": true});
        let new = json!({"a": 1, "b": {"c": 2, "d": 4}, "e": [1, 2]});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"b": {"d": 4}, "e": [1, 2], "gone": null}))
        );
        assert_eq!(merge_diff(&old, &old), None);
    }
}
