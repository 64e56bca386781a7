//! The pod lifecycle event generator (upstream's generic PLEG): relists every container and
//! sandbox of the runtime once a second and reports the pods (by UID label) whose containers
//! or sandboxes appeared, disappeared or changed state, so their workers sync at once instead
//! of polling the runtime themselves.

use crate::cri::{self, Cri};
use crate::runtime::LABEL_POD_UID;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::mpsc;

/// Relist period (upstream's 1 s).
pub const RELIST_PERIOD: Duration = Duration::from_secs(1);

type Fingerprint = BTreeMap<String, i32>;

/// The per-pod state of one relist.
pub fn fingerprints(
    sandboxes: &[k8s_cri::v1::PodSandbox],
    containers: &[k8s_cri::v1::Container],
) -> HashMap<String, Fingerprint> {
    let mut out: HashMap<String, Fingerprint> = HashMap::new();
    for s in sandboxes {
        if let Some(uid) = s.labels.get(LABEL_POD_UID) {
            out.entry(uid.clone())
                .or_default()
                .insert(format!("s:{}", s.id), s.state);
        }
    }
    for c in containers {
        if let Some(uid) = c.labels.get(LABEL_POD_UID) {
            out.entry(uid.clone())
                .or_default()
                .insert(format!("c:{}", c.id), c.state);
        }
    }
    out
}

/// The UIDs whose state differs between two relists.
pub fn changed(
    before: &HashMap<String, Fingerprint>,
    after: &HashMap<String, Fingerprint>,
) -> Vec<String> {
    let mut out: Vec<String> = after
        .iter()
        .filter(|(uid, fp)| before.get(*uid) != Some(*fp))
        .map(|(uid, _)| uid.clone())
        .collect();
    out.extend(
        before
            .keys()
            .filter(|uid| !after.contains_key(*uid))
            .cloned(),
    );
    out.sort();
    out
}

/// Relists forever, sending the UIDs of changed pods.
pub async fn run(cri: Cri, tx: mpsc::UnboundedSender<String>) {
    let mut previous: HashMap<String, Fingerprint> = HashMap::new();
    let mut tick = tokio::time::interval(RELIST_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sandboxes = cri.list_pod_sandboxes(cri::labels(&[])).await;
        let containers = cri.list_containers(cri::labels(&[])).await;
        let (Ok(sandboxes), Ok(containers)) = (sandboxes, containers) else {
            continue;
        };
        let now = fingerprints(&sandboxes, &containers);
        for uid in changed(&previous, &now) {
            if tx.send(uid).is_err() {
                return;
            }
        }
        previous = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::{Container, PodSandbox};

    fn container(id: &str, uid: &str, state: i32) -> Container {
        Container {
            id: id.into(),
            state,
            labels: [(LABEL_POD_UID.to_string(), uid.to_string())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn reports_changed_pods() {
        let sb = PodSandbox {
            id: "s1".into(),
            labels: [(LABEL_POD_UID.to_string(), "a".to_string())].into(),
            ..Default::default()
        };
        let one = fingerprints(
            std::slice::from_ref(&sb),
            &[container("c1", "a", 1), container("c2", "b", 1)],
        );
        let two = fingerprints(&[sb], &[container("c1", "a", 2), container("c3", "c", 0)]);
        assert_eq!(changed(&one, &two), vec!["a", "b", "c"]);
        assert!(changed(&two, &two).is_empty());
    }
}
