//! REST handling of resource requests: resolving the resource, negotiating the output,
//! authorizing, and dispatching to the verb handlers in `rest/`.

mod binding;
mod delete;
mod eviction;
mod proxy;
mod read;
mod review;
mod scale;

mod table;
mod token;
mod watch;
mod write;

pub(crate) use delete::delete_object;
pub(crate) use proxy::{kubelet_endpoint, kubelet_get};
pub(crate) use write::{WriteOpts, create_object};

use crate::negotiate::{BodyFormat, Output};
use crate::request_info::{Query, ResourcePath};
use crate::response::ResponseBody;
use crate::status::ApiError;
use crate::{ApiServer, Identity, metrics};
use bytes::Bytes;
use http::{Method, Response};
use http_body_util::{BodyExt, Limited};
use krust_api::ResourceInfo;
use serde_json::Value;
use std::sync::Arc;

/// Everything a verb handler needs to know about the request.
pub(crate) struct Ctx {
    pub info: Arc<ResourceInfo>,
    pub path: ResourcePath,
    pub query: Query,
    pub output: Output,
    pub identity: Identity,
    pub warnings: Vec<String>,
    /// The field manager of writes: `fieldManager`, else the User-Agent's product name.
    pub manager: String,
}

impl Ctx {
    /// The watch cache's name for this resource (`apps/deployments`).
    pub fn cache_resource(&self) -> String {
        cache_resource(&self.info)
    }

    pub fn namespace(&self) -> Option<&str> {
        self.path.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }

    pub fn key(&self) -> String {
        self.info.key(self.namespace(), self.name())
    }

    /// `dryRun=All` (any other value is rejected).
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

/// The watch cache's name for a resource (`apps/deployments`, `core/pods`).
pub(crate) fn cache_resource(info: &ResourceInfo) -> String {
    format!("{}/{}", info.storage_key_group(), info.plural)
}

/// Control-plane identities that upstream's bootstrap policy lets do what their job needs;
/// until RBAC is served they may do anything.
const CONTROL_PLANE_USERS: &[&str] = &["system:kube-controller-manager", "system:kube-scheduler"];

fn authorize(
    identity: &Identity,
    verb: &str,
    info: &ResourceInfo,
    path: &ResourcePath,
) -> Result<(), ApiError> {
    // Until RBAC and the Node authorizer are served, node agents (group system:nodes) may do
    // what a kubelet does, which krust does not yet narrow down.
    if identity
        .groups
        .iter()
        .any(|g| g == "system:masters" || g == "system:nodes")
        || CONTROL_PLANE_USERS.contains(&identity.user.as_str())
    {
        return Ok(());
    }
    // Upstream's system:basic-user role (bound to system:authenticated): everyone may ask who
    // they are and what they may do.
    if verb == "create"
        && path.subresource.is_none()
        && matches!(
            (info.group.as_str(), info.plural.as_str()),
            ("authentication.k8s.io", "selfsubjectreviews")
                | (
                    "authorization.k8s.io",
                    "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
                )
        )
    {
        return Ok(());
    }
    let resource = match &path.subresource {
        Some(s) => format!("{}/{}", info.plural, s),
        None => info.plural.clone(),
    };
    let scope = match &path.namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".into(),
    };
    let what = match &path.name {
        Some(n) => format!("{} \"{}\"", info.qualified_resource(), n),
        None => info.qualified_resource(),
    };
    Err(ApiError::forbidden_message(format!(
        "{what} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\"{scope}",
        identity.user, info.group
    )))
}

/// Reads a request body, refusing more than `limit` bytes with 413.
pub(crate) async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::too_large())
            } else {
                Err(ApiError::bad_request(format!(
                    "reading the request body: {e}"
                )))
            }
        }
    }
}

/// The format of an object body (create, update, subresource writes): JSON, YAML or
/// protobuf; anything else is 415.
pub(crate) fn object_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    crate::negotiate::body_format(content_type)
        .filter(|f| {
            matches!(
                f,
                BodyFormat::Json | BodyFormat::Yaml | BodyFormat::Protobuf
            )
        })
        .ok_or_else(|| {
            ApiError::unsupported_media_type(
                content_type.unwrap_or(""),
                &[
                    "application/json",
                    "application/yaml",
                    "application/vnd.kubernetes.protobuf",
                ],
            )
        })
}

/// Decodes a JSON or YAML object body.
pub(crate) fn decode_object(bytes: &[u8], format: BodyFormat) -> Result<Value, ApiError> {
    let v: Value = match format {
        BodyFormat::Json => serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        BodyFormat::Yaml => serde_saphyr::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?,
        BodyFormat::Protobuf => krust_api::protobuf::decode_object(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")))?,
        _ => {
            return Err(ApiError::unsupported_media_type(
                "",
                &["application/json", "application/yaml"],
            ));
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: the body is not a JSON object",
        ));
    }
    Ok(v)
}

/// Upstream's verb name for metrics and authorization.
fn verb_of(method: &Method, path: &ResourcePath, query: &Query) -> &'static str {
    match *method {
        Method::GET | Method::HEAD => {
            if path.name.is_some() {
                "get"
            } else if query.flag("watch") {
                "watch"
            } else {
                "list"
            }
        }
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => {
            if path.name.is_some() {
                "delete"
            } else {
                "deletecollection"
            }
        }
        _ => "unknown",
    }
}

pub(crate) async fn serve<B>(
    server: &ApiServer,
    parts: &http::request::Parts,
    path: ResourcePath,
    query: Query,
    identity: Identity,
    body: B,
    labels: &mut metrics::DurationLabels,
) -> Result<Response<ResponseBody>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let info = server
        .registry()
        .get(&path.group, &path.version, &path.resource)
        .ok_or_else(ApiError::not_found_path)?;
    if path.namespace.is_some() && !info.namespaced {
        return Err(ApiError::not_found_path());
    }
    let verb = verb_of(&parts.method, &path, &query);
    labels.verb = verb.to_uppercase();
    labels.group = info.group.clone();
    labels.version = info.version.clone();
    labels.resource = info.plural.clone();
    labels.subresource = path.subresource.clone().unwrap_or_default();
    labels.scope = match (&path.namespace, &path.name, info.namespaced) {
        (_, Some(_), _) => "resource",
        (Some(_), None, _) => "namespace",
        (None, None, _) => "cluster",
    }
    .into();
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let output = crate::negotiate::output_for(accept)
        .ok_or_else(|| ApiError::not_acceptable(accept.unwrap_or("")))?;
    authorize(&identity, verb, &info, &path)?;
    let manager = query
        .non_empty("fieldManager")
        .map(str::to_string)
        .or_else(|| {
            parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .and_then(|ua| ua.split('/').next())
                .filter(|m| !m.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    let mut ctx = Ctx {
        manager,
        warnings: info.deprecation_warning.iter().cloned().collect(),
        info,
        path,
        query,
        output,
        identity,
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let sub = ctx.path.subresource.clone();
    let has_name = ctx.path.name.is_some();
    let limit = server.state.config.max_body_bytes;
    match (&parts.method, has_name, sub.as_deref()) {
        // metrics.k8s.io: computed from the kubelets' summaries, never stored.
        _ if crate::metrics_api::handles(&ctx) => {
            crate::metrics_api::serve(server, &ctx, parts).await
        }
        (&Method::GET | &Method::HEAD, false, None) => {
            if ctx.query.flag("watch") {
                watch::serve(server, &mut ctx).await
            } else {
                read::list(server, &mut ctx).await
            }
        }
        (&Method::GET | &Method::HEAD, true, None | Some("status")) => {
            read::get(server, &mut ctx).await
        }
        (&Method::GET | &Method::HEAD, true, Some("ephemeralcontainers"))
            if has_extra(&ctx.info, "ephemeralcontainers") =>
        {
            read::get(server, &mut ctx).await
        }
        (&Method::GET | &Method::HEAD, true, Some("scale"))
            if ctx.info.subresources.scale.is_some() =>
        {
            scale::get(server, &mut ctx).await
        }
        (&Method::POST, false, None) if ctx.info.verbs == ["create"] => {
            let body = read_body(body, limit).await?;
            review::create(server, &mut ctx, &body, content_type.as_deref()).await
        }
        (&Method::POST, false, None) => {
            let body = read_body(body, limit).await?;
            write::create(server, &mut ctx, &body, content_type.as_deref()).await
        }
        (_, _, _) if ctx.info.verbs == ["create"] => Err(ApiError::method_not_allowed(
            parts.method.as_str(),
            &ctx.info.kind,
        )),
        (&Method::POST, true, Some("eviction"))
            if ctx.info.group.is_empty() && ctx.info.kind == "Pod" =>
        {
            let body = read_body(body, limit).await?;
            eviction::create(server, &mut ctx, &body, content_type.as_deref()).await
        }
        (&Method::POST, true, Some("binding"))
            if ctx.info.group.is_empty() && ctx.info.kind == "Pod" =>
        {
            let body = read_body(body, limit).await?;
            binding::create(server, &mut ctx, &body, content_type.as_deref()).await
        }
        (&Method::POST, true, Some("token"))
            if ctx.info.group.is_empty() && ctx.info.kind == "ServiceAccount" =>
        {
            token::create(
                server,
                &mut ctx,
                &read_body(body, limit).await?,
                content_type.as_deref(),
            )
            .await
        }
        // pods/log, exec, attach, portforward: proxied to the node's kubelet.
        (m, true, Some("log" | "exec" | "attach" | "portforward")) if proxy::handles(&ctx, m) => {
            proxy::serve(server, &ctx, parts).await
        }
        (&Method::PUT, true, None) => {
            let body = read_body(body, limit).await?;
            write::update(
                server,
                &mut ctx,
                &body,
                content_type.as_deref(),
                write::Mode::Main,
            )
            .await
        }
        (&Method::PUT, true, Some(s)) if put_mode(&ctx.info, s).is_some() => {
            let mode = put_mode(&ctx.info, s).unwrap_or(write::Mode::Main);
            let body = read_body(body, limit).await?;
            write::update(server, &mut ctx, &body, content_type.as_deref(), mode).await
        }
        (&Method::PUT, true, Some("scale")) if ctx.info.subresources.scale.is_some() => {
            let body = read_body(body, limit).await?;
            scale::update(server, &mut ctx, &body, content_type.as_deref()).await
        }
        (
            &Method::PATCH,
            true,
            None | Some("status" | "scale" | "approval" | "ephemeralcontainers"),
        ) => {
            let ok = match sub.as_deref() {
                Some("status") => ctx.info.subresources.status,
                Some(s @ ("approval" | "ephemeralcontainers")) => has_extra(&ctx.info, s),
                Some("scale") => ctx.info.subresources.scale.is_some(),
                _ => true,
            };
            if !ok {
                return Err(ApiError::not_found_path());
            }
            let body = read_body(body, limit).await?;
            write::patch(server, &mut ctx, &body, content_type.as_deref()).await
        }
        (&Method::DELETE, true, None) => {
            let body = read_body(body, limit).await?;
            delete::delete(server, &mut ctx, &body).await
        }
        (&Method::DELETE, false, None) => {
            let body = read_body(body, limit).await?;
            delete::delete_collection(server, &mut ctx, &body).await
        }
        (_, _, Some(s)) if !known_subresource(&ctx.info, s) => Err(ApiError::not_found_path()),
        (m, _, _) => Err(ApiError::method_not_allowed(m.as_str(), &ctx.info.kind)),
    }
}

/// The write mode of a PUT to subresource `sub` of `info`'s objects, if it has one that
/// takes the whole object (`scale` has its own handler).
fn put_mode(info: &ResourceInfo, sub: &str) -> Option<write::Mode> {
    match sub {
        "status" if info.subresources.status => Some(write::Mode::Status),
        "finalize" if info.kind == "Namespace" && info.group.is_empty() => {
            Some(write::Mode::Finalize)
        }
        "approval" | "ephemeralcontainers" if has_extra(info, sub) => {
            Some(write::Mode::of_subresource(Some(sub)))
        }
        _ => None,
    }
}

fn has_extra(info: &ResourceInfo, sub: &str) -> bool {
    info.subresources.extra.iter().any(|e| e == sub)
}

fn known_subresource(info: &ResourceInfo, s: &str) -> bool {
    (s == "status" && info.subresources.status)
        || (s == "scale" && info.subresources.scale.is_some())
        || info.subresources.extra.iter().any(|e| e == s)
}

/// Parses a `resourceVersion` query value: `None` for empty, an error for non-numbers.
pub(crate) fn parse_rv(v: Option<&str>) -> Result<Option<i64>, ApiError> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}"))),
    }
}
