//! A CRI v1 client (crate `k8s-cri`, tonic) over the runtime's unix socket: one HTTP/2
//! channel shared by the runtime and image services, connected lazily and reconnected by
//! tonic when the runtime restarts. Every call has a deadline (upstream's
//! `--runtime-request-timeout`, 2 minutes) and fails with a [`CriError`] naming the call.

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as api;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

/// Deadline of an ordinary call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest message accepted (ExecSync output is capped at 16 MiB by the runtime).
const MAX_MESSAGE: usize = 32 << 20;

/// A failed CRI call.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The runtime answered with an error.
    #[error("{call}: {}", .status.message())]
    Status {
        call: &'static str,
        status: Box<tonic::Status>,
    },
    /// No answer within the deadline.
    #[error("{call}: timed out after {}s", .after.as_secs())]
    Timeout { call: &'static str, after: Duration },
    /// The socket path is not a valid endpoint.
    #[error("invalid runtime endpoint: {0}")]
    Endpoint(String),
}

impl CriError {
    /// The gRPC code, when the runtime answered.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            CriError::Status { status, .. } => Some(status.code()),
            _ => None,
        }
    }

    /// Whether the object the call named does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(tonic::Code::NotFound)
            || matches!(self, CriError::Status { status, .. } if status.message().contains("not found"))
    }

    /// The runtime's own message (without the call name).
    pub fn message(&self) -> String {
        match self {
            CriError::Status { status, .. } => status.message().to_string(),
            other => other.to_string(),
        }
    }
}

/// Connects to a unix socket for tonic.
#[derive(Clone)]
struct UnixConnector(Arc<PathBuf>);

impl tower::Service<http::Uri> for UnixConnector {
    type Response = TokioIo<UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move { Ok(TokioIo::new(UnixStream::connect(&*path).await?)) })
    }
}

/// A CRI client. Cheap to clone.
#[derive(Clone)]
pub struct Cri {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    socket: Arc<PathBuf>,
}

async fn call<T, F>(name: &'static str, timeout: Duration, f: F) -> Result<T, CriError>
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(timeout, f).await;
    crate::metrics::observe(
        name,
        started.elapsed().as_secs_f64(),
        matches!(result, Ok(Ok(_))),
    );
    match result {
        Ok(Ok(resp)) => Ok(resp.into_inner()),
        Ok(Err(status)) => Err(CriError::Status {
            call: name,
            status: Box::new(status),
        }),
        Err(_) => Err(CriError::Timeout {
            call: name,
            after: timeout,
        }),
    }
}

/// A label selector for list filters.
pub fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Cri {
    /// A client for the runtime listening on `socket` (connected on first use).
    pub fn new(socket: &Path) -> Result<Cri, CriError> {
        let socket = Arc::new(socket.to_path_buf());
        let endpoint = Endpoint::from_static("http://localhost")
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        let channel = endpoint.connect_with_connector_lazy(UnixConnector(socket.clone()));
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE),
            images: ImageServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE),
            socket,
        })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits until the runtime answers `Version`, up to `within`.
    pub async fn wait_ready(&self, within: Duration) -> Result<api::VersionResponse, CriError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.version().await {
                Ok(v) => return Ok(v),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// `Version`.
    pub async fn version(&self) -> Result<api::VersionResponse, CriError> {
        let mut c = self.runtime.clone();
        call(
            "Version",
            Duration::from_secs(10),
            c.version(api::VersionRequest {
                version: "v1".into(),
            }),
        )
        .await
    }

    /// `Status`: the runtime's conditions (RuntimeReady, NetworkReady).
    pub async fn status(&self) -> Result<api::StatusResponse, CriError> {
        let mut c = self.runtime.clone();
        call(
            "Status",
            Duration::from_secs(10),
            c.status(api::StatusRequest { verbose: false }),
        )
        .await
    }

    /// `RunPodSandbox` with the runtime `handler` (a RuntimeClass's; empty: the default):
    /// returns the sandbox ID.
    pub async fn run_pod_sandbox(
        &self,
        config: api::PodSandboxConfig,
        handler: &str,
    ) -> Result<String, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "RunPodSandbox",
            REQUEST_TIMEOUT * 2,
            c.run_pod_sandbox(api::RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: handler.to_string(),
            }),
        )
        .await?;
        Ok(r.pod_sandbox_id)
    }

    /// `StopPodSandbox` (not found counts as stopped).
    pub async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "StopPodSandbox",
            REQUEST_TIMEOUT,
            c.stop_pod_sandbox(api::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            }),
        )
        .await;
        match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `RemovePodSandbox` (not found counts as removed).
    pub async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "RemovePodSandbox",
            REQUEST_TIMEOUT,
            c.remove_pod_sandbox(api::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            }),
        )
        .await;
        match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `PodSandboxStatus`.
    pub async fn pod_sandbox_status(&self, id: &str) -> Result<api::PodSandboxStatus, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "PodSandboxStatus",
            REQUEST_TIMEOUT,
            c.pod_sandbox_status(api::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: false,
            }),
        )
        .await?;
        r.status.ok_or(CriError::Status {
            call: "PodSandboxStatus",
            status: Box::new(tonic::Status::not_found("no status in the answer")),
        })
    }

    /// `ListPodSandbox` with a label selector (empty for all).
    pub async fn list_pod_sandboxes(
        &self,
        label_selector: HashMap<String, String>,
    ) -> Result<Vec<api::PodSandbox>, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "ListPodSandbox",
            REQUEST_TIMEOUT,
            c.list_pod_sandbox(api::ListPodSandboxRequest {
                filter: Some(api::PodSandboxFilter {
                    label_selector,
                    ..Default::default()
                }),
            }),
        )
        .await?;
        Ok(r.items)
    }

    /// `CreateContainer`: returns the container ID.
    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: api::ContainerConfig,
        sandbox_config: api::PodSandboxConfig,
    ) -> Result<String, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "CreateContainer",
            REQUEST_TIMEOUT,
            c.create_container(api::CreateContainerRequest {
                pod_sandbox_id: sandbox_id.into(),
                config: Some(config),
                sandbox_config: Some(sandbox_config),
            }),
        )
        .await?;
        Ok(r.container_id)
    }

    /// `StartContainer`.
    pub async fn start_container(&self, id: &str) -> Result<(), CriError> {
        let mut c = self.runtime.clone();
        call(
            "StartContainer",
            REQUEST_TIMEOUT,
            c.start_container(api::StartContainerRequest {
                container_id: id.into(),
            }),
        )
        .await
        .map(|_| ())
    }

    /// `StopContainer` with a grace period of `timeout_s` seconds (SIGTERM, then SIGKILL).
    pub async fn stop_container(&self, id: &str, timeout_s: i64) -> Result<(), CriError> {
        let mut c = self.runtime.clone();
        let deadline = REQUEST_TIMEOUT + Duration::from_secs(timeout_s.max(0) as u64);
        let r = call(
            "StopContainer",
            deadline,
            c.stop_container(api::StopContainerRequest {
                container_id: id.into(),
                timeout: timeout_s.max(0),
            }),
        )
        .await;
        match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `RemoveContainer` (not found counts as removed).
    pub async fn remove_container(&self, id: &str) -> Result<(), CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "RemoveContainer",
            REQUEST_TIMEOUT,
            c.remove_container(api::RemoveContainerRequest {
                container_id: id.into(),
            }),
        )
        .await;
        match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// `ListContainers` with a label selector (empty for all).
    pub async fn list_containers(
        &self,
        label_selector: HashMap<String, String>,
    ) -> Result<Vec<api::Container>, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "ListContainers",
            REQUEST_TIMEOUT,
            c.list_containers(api::ListContainersRequest {
                filter: Some(api::ContainerFilter {
                    label_selector,
                    ..Default::default()
                }),
            }),
        )
        .await?;
        Ok(r.containers)
    }

    /// `ContainerStatus`.
    pub async fn container_status(&self, id: &str) -> Result<api::ContainerStatus, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "ContainerStatus",
            REQUEST_TIMEOUT,
            c.container_status(api::ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            }),
        )
        .await?;
        r.status.ok_or(CriError::Status {
            call: "ContainerStatus",
            status: Box::new(tonic::Status::not_found("no status in the answer")),
        })
    }

    /// `ListContainerStats` of every container (cumulative CPU, memory; for `/stats/summary`).
    pub async fn list_container_stats(&self) -> Result<Vec<api::ContainerStats>, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "ListContainerStats",
            Duration::from_secs(30),
            c.list_container_stats(api::ListContainerStatsRequest { filter: None }),
        )
        .await?;
        Ok(r.stats)
    }

    /// `ListPodSandboxStats` of every sandbox (containerd 1.6 answers `Unimplemented`).
    pub async fn list_pod_sandbox_stats(&self) -> Result<Vec<api::PodSandboxStats>, CriError> {
        let mut c = self.runtime.clone();
        let r = call(
            "ListPodSandboxStats",
            Duration::from_secs(30),
            c.list_pod_sandbox_stats(api::ListPodSandboxStatsRequest { filter: None }),
        )
        .await?;
        Ok(r.stats)
    }

    /// `ExecSync`: runs `cmd` in the container, up to `timeout`.
    pub async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<api::ExecSyncResponse, CriError> {
        let mut c = self.runtime.clone();
        call(
            "ExecSync",
            timeout + Duration::from_secs(5),
            c.exec_sync(api::ExecSyncRequest {
                container_id: id.into(),
                cmd,
                timeout: timeout.as_secs().max(1) as i64,
            }),
        )
        .await
    }

    /// `ListImages`.
    pub async fn list_images(&self) -> Result<Vec<api::Image>, CriError> {
        let mut c = self.images.clone();
        let r = call(
            "ListImages",
            REQUEST_TIMEOUT,
            c.list_images(api::ListImagesRequest { filter: None }),
        )
        .await?;
        Ok(r.images)
    }

    /// `ImageStatus`: `None` when the image is not present.
    pub async fn image_status(&self, image: &str) -> Result<Option<api::Image>, CriError> {
        let mut c = self.images.clone();
        let r = call(
            "ImageStatus",
            REQUEST_TIMEOUT,
            c.image_status(api::ImageStatusRequest {
                image: Some(image_spec(image)),
                verbose: false,
            }),
        )
        .await?;
        Ok(r.image)
    }

    /// `PullImage`: returns the image reference.
    pub async fn pull_image(
        &self,
        image: &str,
        auth: Option<api::AuthConfig>,
        sandbox_config: Option<api::PodSandboxConfig>,
    ) -> Result<String, CriError> {
        let mut c = self.images.clone();
        let r = call(
            "PullImage",
            Duration::from_secs(600),
            c.pull_image(api::PullImageRequest {
                image: Some(image_spec(image)),
                auth,
                sandbox_config,
            }),
        )
        .await?;
        Ok(r.image_ref)
    }
}

/// An `ImageSpec` naming `image`.
pub fn image_spec(image: &str) -> api::ImageSpec {
    api::ImageSpec {
        image: image.into(),
        user_specified_image: image.into(),
        ..Default::default()
    }
}

/// A container state from its wire value.
pub fn container_state(v: i32) -> api::ContainerState {
    api::ContainerState::try_from(v).unwrap_or(api::ContainerState::ContainerUnknown)
}

/// Whether a sandbox's wire state is ready.
pub fn sandbox_ready(v: i32) -> bool {
    api::PodSandboxState::try_from(v) == Ok(api::PodSandboxState::SandboxReady)
}
