//! The kubelet's Events (source component `kubelet`), recorded through the controllers'
//! correlating recorder: about a pod, or about one of its containers (`fieldPath`
//! `spec.containers{name}` / `spec.initContainers{name}`, as upstream's container references).

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use krust_client::events::EventRecorder;

pub use krust_client::events::{NORMAL, WARNING};

/// Records Events as the kubelet. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    recorder: EventRecorder,
}

/// The reference to `pod`, or to its container `container` when given.
pub fn pod_ref(pod: &Pod, container: Option<&str>) -> ObjectReference {
    let field_path = container.map(|name| {
        let init = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .is_some_and(|ics| ics.iter().any(|c| c.name == name));
        if init {
            format!("spec.initContainers{{{name}}}")
        } else {
            format!("spec.containers{{{name}}}")
        }
    });
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path,
    }
}

impl Events {
    pub fn new(client: kube::Client) -> Events {
        Events {
            recorder: EventRecorder::new(client, "kubelet"),
        }
    }

    /// Records an event about `pod` (or its container) in the background.
    pub fn pod(
        &self,
        pod: &Pod,
        container: Option<&str>,
        type_: &str,
        reason: &str,
        message: String,
    ) {
        self.recorder
            .emit(pod_ref(pod, container), type_, reason, message);
    }

    /// Records an event about any object in the background.
    pub fn object(&self, object: ObjectReference, type_: &str, reason: &str, message: String) {
        self.recorder.emit(object, type_, reason, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_references() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
            "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}
        }))
        .unwrap();
        let r = pod_ref(&pod, Some("c"));
        assert_eq!(r.field_path.as_deref(), Some("spec.containers{c}"));
        assert_eq!(r.kind.as_deref(), Some("Pod"));
        assert_eq!(
            pod_ref(&pod, Some("i")).field_path.as_deref(),
            Some("spec.initContainers{i}")
        );
        assert_eq!(pod_ref(&pod, None).field_path, None);
    }
}
