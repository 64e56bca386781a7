//! The krust API server: Kubernetes' REST API over an MVCC [`krust_store::Backend`], as the real
//! `kubectl` and client libraries expect it. It owns discovery, OpenAPI, the REST handlers
//! (get, list, watch, create, update, patch, delete and the `status`/`scale` subresources), the
//! watch cache, admission, authentication results and authorization, and metrics.
//!
//! Transport (TLS, client certificates) belongs to the binary: it hands each request to
//! [`ApiServer::handle`] with the caller's [`Identity`] in the request extensions.

pub(crate) mod admission;
pub mod allocator;
mod apiservice;
pub mod crd;
pub mod discovery;
pub mod field_validation;
mod health;
pub mod in_process;
mod ipaddress;
pub mod metrics;
pub mod metrics_api;
pub mod negotiate;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod request_info;
pub mod rest;
pub mod service_account_token;
pub mod status;
pub(crate) mod strategy;
pub mod tls_verify;
pub mod watch_cache;

mod bootstrap;
mod flowcontrol;
mod response;

use allocator::{Ipv4Net, ServiceAllocator};
use bytes::Bytes;
use http::{Method, Request, Response};
use krust_api::Registry;
use krust_store::Backend;
use request_info::{Query, Route};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use watch_cache::{CacheConfig, WatchCache};

pub use response::ResponseBody;
pub use status::ApiError;

/// The authenticated caller of a request, put into the request extensions by the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(user: impl Into<String>, groups: &[&str]) -> Self {
        Identity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// What `/version` reports.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub major: String,
    pub minor: String,
    pub git_version: String,
    pub git_commit: String,
    pub build_date: String,
}

impl Default for VersionInfo {
    fn default() -> Self {
        VersionInfo {
            major: "1".into(),
            minor: "33".into(),
            git_version: format!("v1.33.0+krust-{}", env!("CARGO_PKG_VERSION")),
            git_commit: "unknown".into(),
            build_date: "1970-01-01T00:00:00Z".into(),
        }
    }
}

/// API server settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub service_cidr: Ipv4Net,
    pub node_port_range: (u16, u16),
    pub version: VersionInfo,
    pub cache: CacheConfig,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Address and port clients reach the API server at (the `kubernetes` Service endpoint).
    pub advertise_address: std::net::Ipv4Addr,
    pub https_port: u16,
    /// The secret of the join token: as a bearer token it authenticates node agents.
    pub join_secret: Option<String>,
    /// The cluster CA certificate, served at `/cacerts` for agents to verify against the
    /// join token's hash.
    pub ca_pem: Option<String>,
    /// The ECDSA P-256 PKCS#8 (DER) key ServiceAccount tokens are signed with; `None` makes
    /// an ephemeral key (tokens die with the process).
    pub service_account_key_pkcs8: Option<Vec<u8>>,
    /// More Prometheus text for `/metrics` (e.g. the in-process kubelet's metrics).
    pub extra_metrics: Option<fn() -> String>,
    /// How the API server calls kubelets (pods/log, exec, attach, portforward); `None`
    /// answers those subresources with 503.
    pub kubelet_client: Option<KubeletClientConfig>,
}

/// The API server's TLS identity towards kubelets.
#[derive(Clone)]
pub struct KubeletClientConfig {
    /// Client certificate (PEM) from the cluster CA; the kubelet accepts no other.
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
    /// CA to verify kubelet serving certificates with; `None` does not verify them
    /// (upstream's default without `--kubelet-certificate-authority`).
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for KubeletClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletClientConfig")
            .field("verify", &self.ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            service_cidr: Ipv4Net {
                addr: std::net::Ipv4Addr::new(10, 43, 0, 0),
                prefix: 16,
            },
            node_port_range: (30000, 32767),
            version: VersionInfo::default(),
            cache: CacheConfig::default(),
            max_body_bytes: 3 * 1024 * 1024,
            bookmark_interval: Duration::from_secs(60),
            advertise_address: std::net::Ipv4Addr::LOCALHOST,
            https_port: 6443,
            join_secret: None,
            ca_pem: None,
            service_account_key_pkcs8: None,
            kubelet_client: None,
            extra_metrics: None,
        }
    }
}

pub(crate) struct State {
    pub registry: RwLock<Registry>,
    pub backend: Arc<dyn Backend>,
    pub cache: WatchCache,
    pub metrics: metrics::Metrics,
    pub allocator: ServiceAllocator,
    pub config: Config,
    pub token_signer: service_account_token::TokenSigner,
    pub token_verifier: service_account_token::TokenVerifier,
    /// The kubelets' figures behind `metrics.k8s.io`.
    pub metrics_api: metrics_api::Scraper,
    /// The admission plugins every write goes through.
    pub admission: admission::AdmissionChain,
}

/// The API server. Cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    pub(crate) state: Arc<State>,
}

impl ApiServer {
    /// Loads the watch cache from storage and creates the built-in objects every cluster has
    /// (namespaces `default`, `kube-system`, `kube-public`, `kube-node-lease`).
    pub async fn new(config: Config, backend: Arc<dyn Backend>) -> Result<Self, ApiError> {
        let cache = WatchCache::start(backend.clone(), config.cache).await?;
        let allocator = ServiceAllocator::new(config.service_cidr, config.node_port_range);
        let (services, _) = cache.list("core/services", "/registry/core/services/");
        for s in &services {
            allocator.observe(s);
        }
        let token_signer = match &config.service_account_key_pkcs8 {
            Some(der) => service_account_token::TokenSigner::from_pkcs8(der),
            None => service_account_token::TokenSigner::generate(),
        }
        .map_err(|e| ApiError::internal(format!("service account signing key: {e}")))?;
        let token_verifier = token_signer.verifier(vec![service_account_token::ISSUER.into()]);
        let server = ApiServer {
            state: Arc::new(State {
                registry: RwLock::new(Registry::builtin()),
                backend,
                cache,
                metrics: metrics::Metrics::new(),
                allocator,
                config,
                token_signer,
                token_verifier,
                metrics_api: metrics_api::Scraper::default(),
                admission: admission::AdmissionChain::default(),
            }),
        };
        tracing::info!(
            plugins = ?server.state.admission.names(),
            "admission plugins enabled, in this order"
        );
        crd::reconcile(&server).await;
        bootstrap::ensure_builtin_objects(&server).await?;
        crd::spawn(server.clone());
        ipaddress::spawn(server.clone());
        Ok(server)
    }

    pub(crate) fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.state
            .registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The Prometheus text of the API server's metrics.
    pub fn metrics_text(&self) -> String {
        let own = self.state.metrics.encode();
        match self.state.config.extra_metrics {
            // Both texts end with `# EOF`: keep one, at the end.
            Some(extra) => format!(
                "{}\n{}\n# EOF\n",
                own.trim_end().trim_end_matches("# EOF").trim_end(),
                extra().trim_end()
            ),
            None => own,
        }
    }

    /// Serves one request. The caller's identity is read from the request extensions.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let route = request_info::parse_path(parts.uri.path());
        let query = Query::parse(parts.uri.query());
        let identity = match parts.extensions.get::<Identity>().cloned() {
            Some(identity) => Some(identity),
            None => self.bearer_identity(&parts.headers).await,
        };
        let public = matches!(route, Route::Health(_) | Route::Version | Route::CaCerts);
        let mut labels = metrics::DurationLabels {
            verb: parts.method.as_str().to_string(),
            group: String::new(),
            version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            scope: String::new(),
            component: "apiserver".into(),
        };
        let result = match (&identity, public) {
            (None, false) => Err(ApiError::unauthorized()),
            _ => {
                self.route(route, &parts, query, identity, body, &mut labels)
                    .await
            }
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => response::error(&e),
        };
        let code = resp.status().as_u16();
        self.state
            .metrics
            .observe(labels, code, started.elapsed().as_secs_f64());
        resp
    }

    async fn route<B>(
        &self,
        route: Route,
        parts: &http::request::Parts,
        query: Query,
        identity: Option<Identity>,
        body: B,
        labels: &mut metrics::DurationLabels,
    ) -> Result<Response<ResponseBody>, ApiError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let read_only = parts.method == Method::GET || parts.method == Method::HEAD;
        match route {
            Route::Health(path) => Ok(health::serve(self, &path, &query).await),
            Route::Version if read_only => Ok(response::json(
                200,
                &discovery::version(&self.state.config.version),
                &[],
            )),
            Route::Metrics if read_only => Ok(response::text(200, self.metrics_text())),
            Route::CaCerts if read_only => match &self.state.config.ca_pem {
                Some(pem) => Ok(response::text(200, pem.clone())),
                None => Err(ApiError::not_found_path()),
            },
            Route::LegacyVersions | Route::GroupList if read_only => {
                let core = matches!(route, Route::LegacyVersions);
                let accept = parts
                    .headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                Ok(match negotiate::discovery_for(accept) {
                    negotiate::Discovery::Aggregated(version) => {
                        let doc = discovery::aggregated(&self.registry(), core, version);
                        let if_none_match = parts
                            .headers
                            .get(http::header::IF_NONE_MATCH)
                            .and_then(|v| v.to_str().ok());
                        response::discovery(&doc, version, if_none_match)
                    }
                    negotiate::Discovery::Legacy if core => {
                        response::json(200, &discovery::legacy_versions(&self.state.config), &[])
                    }
                    negotiate::Discovery::Legacy => {
                        response::json(200, &discovery::group_list(&self.registry()), &[])
                    }
                })
            }
            Route::Group(g) if read_only => discovery::group(&self.registry(), &g)
                .map(|v| response::json(200, &v, &[]))
                .ok_or_else(ApiError::not_found_path),
            Route::ResourceList { group, version } if read_only => {
                discovery::resource_list(&self.registry(), &group, &version)
                    .map(|v| response::json(200, &v, &[]))
                    .ok_or_else(ApiError::not_found_path)
            }
            Route::OpenApiV3Root if read_only => Ok(response::json(
                200,
                &openapi::v3_root(&self.registry()),
                &[],
            )),
            Route::OpenApiV3(gv) if read_only => openapi::v3_group_version(&self.registry(), &gv)
                .map(|v| response::json(200, &v, &[]))
                .ok_or_else(ApiError::not_found_path),
            Route::Resource(path) => {
                let Some(identity) = identity else {
                    return Err(ApiError::unauthorized());
                };
                rest::serve(self, parts, path, query, identity, body, labels).await
            }
            Route::OpenApiV2 if read_only => {
                let accept = parts
                    .headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                openapi::v2_response(&self.registry(), accept)
            }
            Route::NotFound => Err(ApiError::not_found_path()),
            _ => Err(ApiError::method_not_allowed(parts.method.as_str(), "")),
        }
    }

    /// The identity of a bearer token: the join token's secret authenticates node agents,
    /// ServiceAccount JWTs their ServiceAccount.
    async fn bearer_identity(&self, headers: &http::HeaderMap) -> Option<Identity> {
        let token = headers
            .get(http::header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?
            .trim();
        self.token_identity(token).await
    }

    /// The identity a bearer token authenticates as, if any (also what a TokenReview reports).
    pub(crate) async fn token_identity(&self, token: &str) -> Option<Identity> {
        if self.state.token_verifier.is_ours(token) {
            return service_account_token::authenticate(self, token).await;
        }
        let secret = self.state.config.join_secret.as_deref()?;
        let token = token
            .rsplit_once("::server:")
            .map(|(_, s)| s)
            .unwrap_or(token);
        // Compare digests so the comparison time does not depend on where the bytes differ.
        let digest = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b);
        let same = digest(token.as_bytes()).as_ref() == digest(secret.as_bytes()).as_ref();
        same.then(|| {
            Identity::new(
                "system:krust-agent",
                &["system:nodes", "system:authenticated"],
            )
        })
    }
}
