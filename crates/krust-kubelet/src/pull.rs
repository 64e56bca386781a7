//! `imagePullPolicy` as upstream's image manager applies it (`EnsureImageExists`): an image
//! present locally is used as is under `IfNotPresent` (`Pulled: Container image "x" already
//! present on machine`); `Never` with a missing image is `ErrImageNeverPull`; otherwise the
//! image is pulled through CRI, a failure being `ErrImagePull` with the runtime's message and
//! the following attempts, within a backoff of 10 s doubling to 5 min per pod and image,
//! `ImagePullBackOff`.

use crate::backoff::Backoff;
use crate::cri::{Cri, CriError};
use crate::events::{Events, NORMAL, WARNING};
use crate::pull_secrets;
use crate::registries::{Registries, registry_of};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::core::v1::{Container, Pod};
use std::path::Path;
use std::time::Instant;

/// Why a container cannot start yet: a waiting reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

impl Waiting {
    pub fn new(reason: &str, message: impl Into<String>) -> Waiting {
        Waiting {
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// The effective pull policy of `image` (upstream's defaulting: `Always` for `:latest` or an
/// untagged image, else `IfNotPresent`).
pub fn pull_policy(c: &Container) -> String {
    if let Some(p) = c.image_pull_policy.as_deref().filter(|p| !p.is_empty()) {
        return p.to_string();
    }
    let image = c.image.as_deref().unwrap_or("");
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, "latest")) | None if !image.contains('@') => "Always".into(),
        _ => "IfNotPresent".into(),
    }
}

/// A gRPC error as Go prints it (`rpc error: code = NotFound desc = …`).
pub fn grpc_error(e: &CriError) -> String {
    match e {
        CriError::Status { status, .. } => format!(
            "rpc error: code = {:?} desc = {}",
            status.code(),
            status.message()
        ),
        other => other.to_string(),
    }
}

/// The pull backoff key of a container's image (per pod and image, as upstream).
pub fn backoff_key(pod: &Pod, c: &Container) -> String {
    format!(
        "{}_{}",
        pod.metadata.uid.as_deref().unwrap_or_default(),
        c.image.as_deref().unwrap_or_default()
    )
}

/// Where a pull may get images from.
pub struct Source<'a> {
    /// The node's registries (none: air-gapped).
    pub registries: &'a Registries,
    /// The file they came from (named in the air-gap message).
    pub registries_file: &'a Path,
    /// The pod's `imagePullSecrets`.
    pub secrets: &'a [Secret],
}

/// The message of a pull that cannot reach any registry.
fn unreachable_message(image: &str, source: &Source<'_>) -> String {
    let registry = registry_of(image);
    let why = if source.registries.is_empty() {
        "this node is air-gapped (no registry is configured)".to_string()
    } else {
        format!("no registry or mirror for {registry:?} is configured")
    };
    format!(
        "{why}: import the image (krust images import), use a tag that is present with imagePullPolicy IfNotPresent, or configure a registry for {registry:?} in {}",
        source.registries_file.display()
    )
}

/// Makes sure the container's image is present; returns the image reference to run.
pub async fn ensure_image(
    cri: &Cri,
    events: &Events,
    backoff: &mut Backoff,
    pod: &Pod,
    c: &Container,
    source: &Source<'_>,
) -> Result<String, Waiting> {
    let image = c.image.clone().unwrap_or_default();
    let name = c.name.as_str();
    if image.is_empty() {
        return Err(Waiting::new(
            "InvalidImageName",
            "the container has no image",
        ));
    }
    let policy = pull_policy(c);
    let present = match cri.image_status(&image).await {
        Ok(Some(img)) => Some(img.id),
        Ok(None) => None,
        Err(e) => {
            return Err(Waiting::new(
                "ErrImageInspect",
                format!("Failed to inspect image {image:?}: {}", grpc_error(&e)),
            ));
        }
    };
    let should_pull = match policy.as_str() {
        "Always" => true,
        "Never" => false,
        _ => present.is_none(),
    };
    if !should_pull {
        if let Some(id) = present {
            events.pod(
                pod,
                Some(name),
                NORMAL,
                "Pulled",
                format!("Container image {image:?} already present on machine"),
            );
            return Ok(id);
        }
        let msg = format!("Container image {image:?} is not present with pull policy of Never");
        events.pod(pod, Some(name), WARNING, "ErrImageNeverPull", msg.clone());
        events.pod(
            pod,
            Some(name),
            WARNING,
            "Failed",
            "Error: ErrImageNeverPull".into(),
        );
        return Err(Waiting::new("ErrImageNeverPull", msg));
    }
    let key = backoff_key(pod, c);
    let now = Instant::now();
    if backoff.in_backoff_since_update(&key, now) {
        let msg = format!("Back-off pulling image {image:?}");
        events.pod(pod, Some(name), NORMAL, "BackOff", msg.clone());
        events.pod(
            pod,
            Some(name),
            WARNING,
            "Failed",
            "Error: ImagePullBackOff".into(),
        );
        return Err(Waiting::new("ImagePullBackOff", msg));
    }
    events.pod(
        pod,
        Some(name),
        NORMAL,
        "Pulling",
        format!("Pulling image {image:?}"),
    );
    let started = Instant::now();
    let auth = pull_secrets::find(source.secrets, &image);
    let pulled = if source.registries.reaches(registry_of(&image)) {
        cri.pull_image(&image, auth, None)
            .await
            .map_err(|e| grpc_error(&e))
    } else {
        Err(unreachable_message(&image, source))
    };
    match pulled {
        Ok(image_ref) => {
            let took = started.elapsed();
            let size = match cri.image_status(&image).await {
                Ok(Some(i)) => i.size,
                _ => 0,
            };
            events.pod(
                pod,
                Some(name),
                NORMAL,
                "Pulled",
                format!(
                    "Successfully pulled image {image:?} in {:.3}s ({:.3}s including waiting). Image size: {size} bytes.",
                    took.as_secs_f64(),
                    took.as_secs_f64()
                ),
            );
            backoff.reset(&key);
            Ok(image_ref)
        }
        Err(msg) => {
            events.pod(
                pod,
                Some(name),
                WARNING,
                "Failed",
                format!("Failed to pull image {image:?}: {msg}"),
            );
            events.pod(
                pod,
                Some(name),
                WARNING,
                "Failed",
                "Error: ErrImagePull".into(),
            );
            backoff.next(&key, Instant::now());
            Err(Waiting::new("ErrImagePull", msg))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(image: &str, policy: Option<&str>) -> Container {
        let mut v = json!({"name": "c", "image": image});
        if let Some(p) = policy {
            v["imagePullPolicy"] = json!(p);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn default_policies() {
        assert_eq!(pull_policy(&c("nginx", None)), "Always");
        assert_eq!(pull_policy(&c("nginx:latest", None)), "Always");
        assert_eq!(pull_policy(&c("nginx:1.7.9", None)), "IfNotPresent");
        assert_eq!(pull_policy(&c("localhost:5000/nginx", None)), "Always");
        assert_eq!(
            pull_policy(&c("localhost:5000/nginx:1", None)),
            "IfNotPresent"
        );
        assert_eq!(pull_policy(&c("nginx@sha256:abc", None)), "IfNotPresent");
        assert_eq!(pull_policy(&c("nginx", Some("Never"))), "Never");
    }
}
