//! Container probes as upstream's prober workers run them: one task per container and probe
//! kind, probing every `periodSeconds` once `initialDelaySeconds` have passed since the
//! container started, each attempt bounded by `timeoutSeconds`, a result changing only after
//! `successThreshold`/`failureThreshold` consecutive attempts agree. The startup probe gates the
//! others; a failed liveness or startup probe puts its task on hold (the pod worker restarts
//! the container, whose new ID gets fresh tasks). Each failed attempt records an `Unhealthy`
//! Warning (`Liveness probe failed: …`). Results are kept per container ID, so a restarted
//! container never inherits its predecessor's readiness.

use crate::cri::Cri;
use crate::events::{Events, WARNING};
use crate::handlers::{self, Outcome};
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The three probe kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    /// The word in event messages (`Liveness probe failed: …`).
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
        }
    }
}

/// Probe settings with upstream's defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl ProbeTiming {
    /// The timing of `p` (period 10 s, timeout 1 s, thresholds 1 and 3 by default).
    pub fn of(p: &Probe) -> ProbeTiming {
        let secs =
            |v: Option<i32>, d: i32, min: i32| Duration::from_secs(v.unwrap_or(d).max(min) as u64);
        ProbeTiming {
            initial_delay: secs(p.initial_delay_seconds, 0, 0),
            period: secs(p.period_seconds, 10, 1),
            timeout: secs(p.timeout_seconds, 1, 1),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// Consecutive-result counting (upstream's `resultRun`).
#[derive(Debug, Clone, Default)]
pub struct Threshold {
    last: Option<bool>,
    run: u32,
}

impl Threshold {
    /// Records one attempt; returns the result once enough consecutive attempts agree.
    pub fn record(&mut self, ok: bool, t: &ProbeTiming) -> Option<bool> {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok {
            t.success_threshold
        } else {
            t.failure_threshold
        };
        (self.run >= needed).then_some(ok)
    }
}

/// What the probes of one container say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerProbes {
    pub ready: bool,
    pub started: bool,
    /// Set when liveness or startup failed: (kind, last message).
    pub failed: Option<(ProbeKind, String)>,
}

/// A running container the probes look at.
#[derive(Debug, Clone)]
pub struct Target {
    pub container: Container,
    pub id: String,
    pub started_at: SystemTime,
}

type Results = Arc<Mutex<HashMap<String, ContainerProbes>>>;

/// The probe tasks of one pod.
pub struct ProbeManager {
    results: Results,
    tasks: HashMap<(String, ProbeKind), (String, JoinHandle<()>)>,
    notify: Arc<Notify>,
}

impl Drop for ProbeManager {
    fn drop(&mut self) {
        self.stop_all();
    }
}

impl ProbeManager {
    /// A manager that wakes `notify` whenever a result changes.
    pub fn new(notify: Arc<Notify>) -> ProbeManager {
        ProbeManager {
            results: Arc::new(Mutex::new(HashMap::new())),
            tasks: HashMap::new(),
            notify,
        }
    }

    /// The probe state of container `id` of `c` (no readiness probe: ready once started; no
    /// startup probe: started once running).
    pub fn state(&self, c: &Container, id: &str) -> ContainerProbes {
        let stored = self
            .results
            .lock()
            .ok()
            .and_then(|r| r.get(id).cloned())
            .unwrap_or_default();
        let started = c.startup_probe.is_none() || stored.started;
        let ready = started && (c.readiness_probe.is_none() || stored.ready);
        ContainerProbes {
            ready,
            started,
            failed: stored.failed,
        }
    }

    /// Makes the probe tasks match the running `targets`: new containers get tasks, tasks of
    /// containers no longer running are stopped.
    pub fn sync(
        &mut self,
        cri: &Cri,
        events: &Events,
        pod: &Pod,
        pod_ip: &str,
        targets: &[Target],
    ) {
        let mut wanted: HashMap<(String, ProbeKind), &Target> = HashMap::new();
        for t in targets {
            for kind in [
                ProbeKind::Startup,
                ProbeKind::Liveness,
                ProbeKind::Readiness,
            ] {
                if kind.of(&t.container).is_some() {
                    wanted.insert((t.container.name.clone(), kind), t);
                }
            }
        }
        self.tasks.retain(|key, (id, task)| {
            let keep = wanted.get(key).is_some_and(|t| &t.id == id);
            if !keep {
                task.abort();
            }
            keep
        });
        let live_ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
        if let Ok(mut r) = self.results.lock() {
            r.retain(|id, _| live_ids.contains(id));
        }
        for (key, t) in wanted {
            if self.tasks.contains_key(&key) {
                continue;
            }
            let Some(probe) = key.1.of(&t.container).cloned() else {
                continue;
            };
            let worker = ProbeWorker {
                kind: key.1,
                probe,
                target: t.clone(),
                cri: cri.clone(),
                events: events.clone(),
                pod: pod.clone(),
                pod_ip: pod_ip.to_string(),
                results: self.results.clone(),
                notify: self.notify.clone(),
            };
            let task = tokio::spawn(worker.run());
            self.tasks.insert(key, (t.id.clone(), task));
        }
    }

    /// Stops every task.
    pub fn stop_all(&mut self) {
        for (_, (_, task)) in self.tasks.drain() {
            task.abort();
        }
    }
}

struct ProbeWorker {
    kind: ProbeKind,
    probe: Probe,
    target: Target,
    cri: Cri,
    events: Events,
    pod: Pod,
    pod_ip: String,
    results: Results,
    notify: Arc<Notify>,
}

/// Runs one probe attempt.
pub async fn run_probe(
    probe: &Probe,
    cri: &Cri,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
    timeout: Duration,
) -> Outcome {
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        handlers::exec(cri, container_id, &cmd, timeout).await
    } else if let Some(h) = &probe.http_get {
        handlers::http_get(h, pod_ip, container, timeout).await
    } else if let Some(t) = &probe.tcp_socket {
        handlers::tcp_socket(t, pod_ip, container, timeout).await
    } else if probe.grpc.is_some() {
        Outcome::Failure("gRPC probes are not supported by this node".into())
    } else {
        Outcome::Failure("probe has no handler".into())
    }
}

impl ProbeWorker {
    fn update(&self, f: impl FnOnce(&mut ContainerProbes)) {
        let changed = match self.results.lock() {
            Ok(mut r) => {
                let entry = r.entry(self.target.id.clone()).or_default();
                let before = entry.clone();
                f(entry);
                *entry != before
            }
            Err(_) => false,
        };
        if changed {
            self.notify.notify_one();
        }
    }

    fn started(&self) -> bool {
        self.target.container.startup_probe.is_none()
            || self
                .results
                .lock()
                .ok()
                .and_then(|r| r.get(&self.target.id).map(|s| s.started))
                .unwrap_or(false)
    }

    async fn run(self) {
        let timing = ProbeTiming::of(&self.probe);
        let mut threshold = Threshold::default();
        let since_start = SystemTime::now()
            .duration_since(self.target.started_at)
            .unwrap_or_default();
        if since_start < timing.initial_delay {
            tokio::time::sleep(timing.initial_delay - since_start).await;
        }
        let mut tick = tokio::time::interval(timing.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.kind != ProbeKind::Startup && !self.started() {
                continue;
            }
            let outcome = run_probe(
                &self.probe,
                &self.cri,
                &self.target.container,
                &self.target.id,
                &self.pod_ip,
                timing.timeout,
            )
            .await;
            if let Outcome::Failure(msg) = &outcome {
                self.events.pod(
                    &self.pod,
                    Some(&self.target.container.name),
                    WARNING,
                    "Unhealthy",
                    format!("{} probe failed: {msg}", self.kind.title()),
                );
            }
            let Some(result) = threshold.record(outcome.is_success(), &timing) else {
                continue;
            };
            match (self.kind, result) {
                (ProbeKind::Readiness, ok) => self.update(|s| s.ready = ok),
                (ProbeKind::Startup, true) => {
                    self.update(|s| s.started = true);
                    return;
                }
                (ProbeKind::Liveness, true) => {}
                (kind, false) => {
                    let msg = outcome.message().to_string();
                    self.update(|s| s.failed = Some((kind, msg)));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timing_defaults_and_thresholds() {
        let p: Probe = serde_json::from_value(json!({"exec": {"command": ["true"]}})).unwrap();
        let t = ProbeTiming::of(&p);
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        let p: Probe = serde_json::from_value(json!({"exec": {"command": ["true"]},
            "initialDelaySeconds": 5, "periodSeconds": 2, "timeoutSeconds": 3,
            "successThreshold": 2, "failureThreshold": 1}))
        .unwrap();
        let t = ProbeTiming::of(&p);
        assert_eq!(t.initial_delay, Duration::from_secs(5));
        assert_eq!(t.period, Duration::from_secs(2));

        let mut th = Threshold::default();
        assert_eq!(th.record(true, &t), None);
        assert_eq!(th.record(true, &t), Some(true));
        assert_eq!(th.record(false, &t), Some(false));
        let t3 = ProbeTiming::of(&serde_json::from_value::<Probe>(json!({})).unwrap());
        let mut th = Threshold::default();
        assert_eq!(th.record(false, &t3), None);
        assert_eq!(th.record(false, &t3), None);
        assert_eq!(th.record(true, &t3), Some(true));
        assert_eq!(th.record(false, &t3), None);
        assert_eq!(th.record(false, &t3), None);
        assert_eq!(th.record(false, &t3), Some(false));
    }

    #[test]
    fn state_defaults() {
        let m = ProbeManager::new(Arc::new(Notify::new()));
        let plain: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        assert_eq!(
            m.state(&plain, "x"),
            ContainerProbes {
                ready: true,
                started: true,
                failed: None
            }
        );
        let probed: Container = serde_json::from_value(json!({"name": "c",
            "readinessProbe": {"exec": {"command": ["true"]}}}))
        .unwrap();
        assert!(!m.state(&probed, "x").ready);
        let startup: Container = serde_json::from_value(json!({"name": "c",
            "startupProbe": {"exec": {"command": ["true"]}}}))
        .unwrap();
        let s = m.state(&startup, "x");
        assert!(!s.started && !s.ready);
    }
}
