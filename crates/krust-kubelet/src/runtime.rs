//! What the runtime holds for one pod, found by the labels upstream's kuberuntime puts on
//! sandboxes and containers (`io.kubernetes.pod.uid`, `io.kubernetes.container.name`, …) and
//! the annotations it reads back (`io.kubernetes.container.restartCount`, the container hash,
//! the termination message path and policy), so a restarted agent adopts running pods instead
//! of recreating them.

use crate::cri::{self, Cri, CriError};
use crate::status::{RunState, RuntimeContainer};
use k8s_cri::v1 as api;
use k8s_openapi::jiff::Timestamp;
use std::collections::HashMap;
use std::path::Path;

pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
pub const ANN_HASH: &str = "io.kubernetes.container.hash";
pub const ANN_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
pub const ANN_TERMINATION_PATH: &str = "io.kubernetes.container.terminationMessagePath";
pub const ANN_TERMINATION_POLICY: &str = "io.kubernetes.container.terminationMessagePolicy";
pub const ANN_TERMINATION_GRACE: &str = "io.kubernetes.pod.terminationGracePeriod";
/// The host file backing the container's termination message (krust's own annotation).
pub const ANN_TERMINATION_HOST_FILE: &str = "krust.io/termination-message-file";
/// Whether the container runs on a terminal (`tty: true` in its spec; krust's own annotation):
/// an attach must use the container's setting, as upstream's kubelet takes it from the spec.
pub const ANN_TTY: &str = "krust.io/tty";

/// Longest termination message kept (upstream's 4096 bytes).
pub const MAX_TERMINATION_MESSAGE: usize = 4096;
/// Log lines read for `FallbackToLogsOnError` (upstream's 80 lines, 2048 bytes).
const FALLBACK_LINES: usize = 80;
const FALLBACK_BYTES: usize = 2048;

/// A container of the pod, with its full status.
#[derive(Debug, Clone)]
pub struct PodContainer {
    pub name: String,
    pub sandbox_id: String,
    pub attempt: u32,
    pub annotations: HashMap<String, String>,
    pub log_path: String,
    pub status: RuntimeContainer,
}

/// The sandboxes and containers of one pod.
#[derive(Debug, Clone, Default)]
pub struct RuntimePod {
    pub sandboxes: Vec<api::PodSandbox>,
    pub containers: Vec<PodContainer>,
}

impl RuntimePod {
    /// The newest ready sandbox.
    pub fn ready_sandbox(&self) -> Option<&api::PodSandbox> {
        self.sandboxes
            .iter()
            .filter(|s| cri::sandbox_ready(s.state))
            .max_by_key(|s| s.created_at)
    }

    /// The next sandbox attempt number.
    pub fn next_attempt(&self) -> u32 {
        self.sandboxes
            .iter()
            .filter_map(|s| s.metadata.as_ref().map(|m| m.attempt + 1))
            .max()
            .unwrap_or(0)
    }

    /// The containers named `name`, newest first.
    pub fn by_name(&self, name: &str) -> Vec<&PodContainer> {
        let mut v: Vec<&PodContainer> = self.containers.iter().filter(|c| c.name == name).collect();
        v.sort_by(|a, b| {
            b.status
                .created_at
                .cmp(&a.status.created_at)
                .then(b.attempt.cmp(&a.attempt))
        });
        v
    }
}

/// A CRI timestamp (nanoseconds since the epoch; 0 is unset).
pub fn timestamp(nanos: i64) -> Option<Timestamp> {
    if nanos <= 0 {
        return None;
    }
    Timestamp::from_nanosecond(nanos as i128).ok()
}

fn run_state(s: api::ContainerState) -> RunState {
    match s {
        api::ContainerState::ContainerCreated => RunState::Created,
        api::ContainerState::ContainerRunning => RunState::Running,
        api::ContainerState::ContainerExited => RunState::Exited,
        api::ContainerState::ContainerUnknown => RunState::Unknown,
    }
}

/// Strips the CRI log prefix (`<time> <stream> <P|F> `) from a log line.
pub fn log_content(line: &str) -> &str {
    let mut parts = line.splitn(4, ' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("stdout" | "stderr"), Some("P" | "F"), Some(rest)) => rest,
        _ => line,
    }
}

/// The tail of a CRI log file as plain text (for `FallbackToLogsOnError`).
pub fn log_tail(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(FALLBACK_LINES);
    let mut out = String::new();
    for l in &lines[start..] {
        out.push_str(log_content(l));
        out.push('\n');
    }
    if out.len() > FALLBACK_BYTES {
        let mut cut = out.len() - FALLBACK_BYTES;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = out[cut..].to_string();
    }
    out
}

/// The termination message of an exited container: its message file, else (with
/// `FallbackToLogsOnError` and a failure) its log tail.
pub fn termination_message(
    annotations: &HashMap<String, String>,
    exit_code: i32,
    log_path: &str,
) -> String {
    let mut msg = annotations
        .get(ANN_TERMINATION_HOST_FILE)
        .and_then(|f| std::fs::read(f).ok())
        .map(|b| {
            let b = &b[..b.len().min(MAX_TERMINATION_MESSAGE)];
            String::from_utf8_lossy(b).into_owned()
        })
        .unwrap_or_default();
    if msg.is_empty()
        && exit_code != 0
        && annotations.get(ANN_TERMINATION_POLICY).map(String::as_str)
            == Some("FallbackToLogsOnError")
        && !log_path.is_empty()
    {
        msg = log_tail(Path::new(log_path));
    }
    msg
}

/// Status cache: exited containers never change, so their status is fetched once.
#[derive(Debug, Default)]
pub struct StatusCache {
    entries: HashMap<String, (i32, PodContainer)>,
}

impl StatusCache {
    fn get(&self, id: &str, state: i32) -> Option<&PodContainer> {
        self.entries
            .get(id)
            .filter(|(s, _)| *s == state)
            .map(|(_, c)| c)
    }

    fn put(&mut self, id: &str, state: i32, c: PodContainer) {
        self.entries.insert(id.to_string(), (state, c));
    }

    fn retain(&mut self, ids: &[&str]) {
        self.entries.retain(|id, _| ids.contains(&id.as_str()));
    }
}

/// Reads the pod's sandboxes and containers from the runtime.
pub async fn inspect(
    cri: &Cri,
    uid: &str,
    cache: &mut StatusCache,
) -> Result<RuntimePod, CriError> {
    let selector = cri::labels(&[(LABEL_POD_UID, uid)]);
    let sandboxes = cri.list_pod_sandboxes(selector.clone()).await?;
    let listed = cri.list_containers(selector).await?;
    let mut containers = Vec::new();
    for c in &listed {
        if let Some(hit) = cache.get(&c.id, c.state) {
            containers.push(hit.clone());
            continue;
        }
        let st = match cri.container_status(&c.id).await {
            Ok(st) => st,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let name = c
            .labels
            .get(LABEL_CONTAINER_NAME)
            .cloned()
            .or_else(|| c.metadata.as_ref().map(|m| m.name.clone()))
            .unwrap_or_default();
        let annotations = if st.annotations.is_empty() {
            c.annotations.clone()
        } else {
            st.annotations.clone()
        };
        let state = run_state(cri::container_state(st.state));
        let message = if state == RunState::Exited {
            let m = termination_message(&annotations, st.exit_code, &st.log_path);
            if m.is_empty() { st.message.clone() } else { m }
        } else {
            String::new()
        };
        let pc = PodContainer {
            name,
            sandbox_id: c.pod_sandbox_id.clone(),
            attempt: c.metadata.as_ref().map_or(0, |m| m.attempt),
            annotations: annotations.clone(),
            log_path: st.log_path.clone(),
            status: RuntimeContainer {
                id: c.id.clone(),
                state,
                created_at: timestamp(st.created_at),
                started_at: timestamp(st.started_at),
                finished_at: timestamp(st.finished_at),
                exit_code: st.exit_code,
                reason: st.reason.clone(),
                message,
                image: st
                    .image
                    .as_ref()
                    .map(|i| i.image.clone())
                    .unwrap_or_default(),
                image_ref: st.image_ref.clone(),
                restart_count: annotations
                    .get(ANN_RESTART_COUNT)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            },
        };
        cache.put(&c.id, c.state, pc.clone());
        containers.push(pc);
    }
    let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    cache.retain(&ids);
    Ok(RuntimePod {
        sandboxes,
        containers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_and_tails() {
        assert_eq!(
            log_content("2024-01-01T00:00:00.000000000Z stdout F hello world"),
            "hello world"
        );
        assert_eq!(log_content("2024 stderr P part"), "part");
        assert_eq!(log_content("plain line"), "plain line");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!("2024-01-01T00:00:00Z stdout F line {i}\n"));
        }
        std::fs::write(&log, text).unwrap();
        let tail = log_tail(&log);
        assert!(tail.starts_with("line 20\n"));
        assert!(tail.ends_with("line 99\n"));

        let msg_file = dir.path().join("msg");
        std::fs::write(&msg_file, "bye").unwrap();
        let mut ann = HashMap::new();
        ann.insert(
            ANN_TERMINATION_HOST_FILE.to_string(),
            msg_file.display().to_string(),
        );
        assert_eq!(termination_message(&ann, 1, ""), "bye");
        std::fs::write(&msg_file, "").unwrap();
        ann.insert(
            ANN_TERMINATION_POLICY.to_string(),
            "FallbackToLogsOnError".into(),
        );
        assert!(termination_message(&ann, 1, &log.display().to_string()).ends_with("line 99\n"));
        assert_eq!(termination_message(&ann, 0, &log.display().to_string()), "");
        assert_eq!(timestamp(0), None);
        assert!(timestamp(1_700_000_000_000_000_000).is_some());
    }
}
