//! Container lifecycle hooks (`postStart`, `preStop`): `exec` through CRI `ExecSync`,
//! `httpGet` against the pod, and `sleep`, with upstream's failure messages
//! (`Exec lifecycle hook ([cmd]) for Container "c" in Pod "p_ns(uid)" failed - error: …`).

use crate::cri::Cri;
use crate::handlers::{self, Outcome};
use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};
use std::time::Duration;

/// Upstream's `format.Pod`: `name_namespace(uid)`.
pub fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// Runs a hook; `Err` carries upstream's message.
pub async fn run_hook(
    handler: &LifecycleHandler,
    cri: &Cri,
    pod: &Pod,
    container: &Container,
    container_id: &str,
    pod_ip: &str,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(e) = &handler.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return match handlers::exec(cri, container_id, &cmd, timeout).await {
            Outcome::Success(_) => Ok(()),
            Outcome::Failure(out) => Err(format!(
                "Exec lifecycle hook ([{}]) for Container {:?} in Pod {:?} failed - error: command '{}' exited with non-zero code: {out}, message: {out:?}",
                cmd.join(" "),
                container.name,
                format_pod(pod),
                cmd.join(" ")
            )),
        };
    }
    if let Some(h) = &handler.http_get {
        return match handlers::http_get(h, pod_ip, container, timeout).await {
            Outcome::Success(_) => Ok(()),
            Outcome::Failure(msg) => Err(format!(
                "HTTP lifecycle hook ({}) for Container {:?} in Pod {:?} failed - error: {msg}",
                h.path.clone().unwrap_or_default(),
                container.name,
                format_pod(pod)
            )),
        };
    }
    if let Some(s) = &handler.sleep {
        let d = Duration::from_secs(s.seconds.max(0) as u64).min(timeout);
        tokio::time::sleep(d).await;
        return Ok(());
    }
    // tcpSocket hooks are accepted and ignored, as upstream does.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_pods() {
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}}),
        )
        .unwrap();
        assert_eq!(format_pod(&pod), "p_ns(u)");
    }
}
