//! CREATE, UPDATE (PUT) and PATCH, on the main resource and the `status` and `finalize`
//! subresources: decoding, version conversion, strategies, defaulting, admission, validation,
//! `dryRun`, optimistic concurrency, and the compare-and-swap write.

use super::read::render_one;
use super::{Ctx, decode_object};
use crate::ApiServer;
use crate::admission::{Attributes, Operation};
use crate::negotiate::{BodyFormat, body_format};
use crate::object::{encode_for_storage, generate_name, semantically_equal};
use crate::response::{self, ResponseBody};
use crate::status::ApiError;
use crate::strategy;
use crate::watch_cache::decode_stored;
use http::Response;
use krust_api::meta::{get_str, resource_version};
use krust_api::{FieldError, ResourceInfo, conversion};
use krust_store::{KeyValue, StoreError};
use serde_json::{Value, json};

/// Which part of an object a PUT writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Main,
    Status,
    Finalize,
    /// A CertificateSigningRequest's `approval` subresource.
    Approval,
    /// A Pod's `ephemeralcontainers` subresource.
    EphemeralContainers,
}

impl Mode {
    /// The mode of a write to a subresource (`None`: the main resource) that patches and
    /// applies may reach.
    pub(crate) fn of_subresource(sub: Option<&str>) -> Mode {
        match sub {
            Some("status") => Mode::Status,
            Some("approval") => Mode::Approval,
            Some("ephemeralcontainers") => Mode::EphemeralContainers,
            _ => Mode::Main,
        }
    }
}

const RETRIES: usize = 8;

/// How a write is recorded.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteOpts<'a> {
    pub dry_run: bool,
    /// The field manager to record an `Update` for (`None`: not recorded, e.g. after an apply
    /// that already recorded itself).
    pub manager: Option<&'a str>,
    /// The subresource written (`status`, `scale`, `finalize`), `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// Who is writing (recorded by kinds that keep the requester, e.g. a CSR's `spec.username`).
    pub user: Option<&'a crate::Identity>,
}

/// The schema of a resource: a CRD's `openAPIV3Schema` or a built-in definition.
pub(crate) fn schema_of(info: &ResourceInfo) -> Option<&Value> {
    match &info.custom {
        Some(c) => c.schema.as_ref(),
        None => builtin_schema(
            &info.group,
            &info.version,
            &info.storage_version,
            &info.kind,
        ),
    }
}

/// Typed decoding: every value of `obj` (at `version` of `info`) must have the JSON type its
/// field's Go type decodes, or the request fails with upstream's 400
/// (`Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal ...`).
/// Custom resources get their `metadata` checked here; their schemas are checked by the
/// structural validator.
pub(crate) fn check_types(info: &ResourceInfo, version: &str, obj: &Value) -> Result<(), ApiError> {
    let checked = if info.custom.is_some() {
        krust_api::typecheck::check_metadata(obj)
    } else {
        krust_api::typecheck::check_kind(&info.group, version, &info.kind, obj)
    };
    checked.map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
            e.message,
            kind = info.kind
        ))
    })
}

/// Records an `Update` by the write's field manager in `managedFields`.
fn record_update(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: Option<&str>,
    subresource: Option<&str>,
) {
    let Some(manager) = manager else { return };
    let api_version = info.api_version();
    let now = krust_api::time::now_rfc3339();
    let opts = crate::patch::apply::Options {
        manager,
        subresource,
        schema: schema_of(info),
        api_version: &api_version,
        now: &now,
        status_subresource: info.subresources.status,
    };
    crate::patch::apply::record_update_with(old, new, &opts);
}

/// Server-side field validation (`fieldValidation`): reports unknown and duplicate fields of a
/// create or update body per the directive, and drops unknown fields.
fn validate_fields(
    ctx: &mut Ctx,
    obj: &mut Value,
    raw: Option<&[u8]>,
    options_kind: &str,
) -> Result<(), ApiError> {
    let fv = crate::field_validation::FieldValidation::from_query_for(
        ctx.query.get("fieldValidation"),
        options_kind,
    )?;
    let schema = crate::field_validation::schema_for(&ctx.info);
    let problems = crate::field_validation::check_and_prune(obj, schema.as_deref(), raw);
    let warnings = fv.outcome(problems, &ctx.info.kind, &ctx.info.version)?;
    ctx.warnings.extend(warnings);
    Ok(())
}

/// Field validation of a patched object: a strict failure names the patch, as upstream does.
fn validate_patched_fields(ctx: &mut Ctx, obj: &mut Value, patch: &[u8]) -> Result<(), ApiError> {
    use crate::field_validation::FieldValidation;
    let fv = FieldValidation::from_query_for(ctx.query.get("fieldValidation"), "PatchOptions")?;
    let schema = crate::field_validation::schema_for(&ctx.info);
    let problems = crate::field_validation::check_and_prune(obj, schema.as_deref(), None);
    match fv {
        FieldValidation::Strict if !problems.is_empty() => {
            let p: Value = serde_json::from_slice(patch)
                .or_else(|_| serde_saphyr::from_slice(patch))
                .unwrap_or(Value::Null);
            Err(crate::field_validation::strict_patch_error(&p, &problems))
        }
        FieldValidation::Warn => {
            ctx.warnings.extend(problems);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks and fills `apiVersion` and `kind` against the endpoint.
fn check_type_meta(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = info.api_version();
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the body is not an object"))?;
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(info.kind));
        }
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                info.version, info.kind, info.kind
            )));
        }
    }
    if !map.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: metadata must be an object",
            info.kind, info.version, info.kind
        )));
    }
    if map.get("metadata").is_none() {
        map.insert("metadata".into(), json!({}));
    }
    Ok(())
}

/// Checks the body's namespace against the request's, filling it when empty.
fn check_namespace(
    info: &ResourceInfo,
    path_ns: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if !info.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let Some(ns) = path_ns else {
        return Err(ApiError::not_found_path());
    };
    match meta.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            meta.insert("namespace".into(), json!(ns));
            Ok(())
        }
        Some(b) if b == ns => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
    }
}

fn set_rv(obj: &mut Value, rev: i64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(rev.to_string()));
    }
}

/// Creates an object given at the served version of `info`, with `apiVersion`, `kind` and
/// namespace already checked. Returns the stored (storage-version) object.
pub(crate) async fn create_object(
    server: &ApiServer,
    info: &ResourceInfo,
    namespace: Option<&str>,
    mut obj: Value,
    opts: &WriteOpts<'_>,
) -> Result<Value, ApiError> {
    let dry_run = opts.dry_run;
    check_types(info, &info.version, &obj)?;
    conversion::to_storage(
        &info.group,
        &info.kind,
        &info.version,
        &info.storage_version,
        &mut obj,
    );
    if info.storage_version != info.version {
        check_types(info, &info.storage_version, &obj)?;
    }
    let strategy = strategy::of(info);
    strategy.canonicalize(info, &mut obj);
    let name = get_str(&obj, &["metadata", "name"])
        .unwrap_or("")
        .to_string();
    let generate = get_str(&obj, &["metadata", "generateName"])
        .filter(|g| name.is_empty() && !g.is_empty())
        .map(str::to_string);
    if name.is_empty() && generate.is_none() {
        return Err(ApiError::invalid(
            info,
            "",
            &[FieldError::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    if get_str(&obj, &["metadata", "resourceVersion"]).is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    strategy.apply_defaults(info, &mut obj);
    let attrs = Attributes {
        info,
        operation: Operation::Create,
        namespace,
        name: &name,
        subresource: opts.subresource,
    };
    let chain = &server.state.admission;
    chain.admit(server, &attrs, &mut obj, None).await?;
    krust_api::meta::drop_empty_metadata(&mut obj);
    strategy.prepare_for_create(info, &mut obj, opts.user);
    // Defaults again: reading a stored object back upstream defaults it on decode (e.g. the
    // empty `status.loadBalancer` of a Service whose status the strategy reset).
    strategy.apply_defaults(info, &mut obj);
    chain.validate(server, &attrs, &obj, None).await?;
    let alloc = &server.state.allocator;
    for _ in 0..RETRIES {
        if let Some(g) = &generate
            && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("name".into(), json!(generate_name(g)));
        }
        let name = krust_api::meta::name(&obj).to_string();
        let taken = strategy
            .allocate(alloc, &mut obj, None)
            .map_err(|errs| ApiError::invalid(info, &name, &errs))?;
        let errs = strategy.validate(info, &obj, None);
        if !errs.is_empty() {
            taken.release(alloc);
            return Err(ApiError::invalid(info, &name, &errs));
        }
        record_update(info, None, &mut obj, opts.manager, None);
        if dry_run {
            taken.release(alloc);
            return Ok(obj);
        }
        let key = info.key(namespace, &name);
        match server
            .state
            .backend
            .create(&key, encode_for_storage(&obj)?)
            .await
        {
            Ok(kv) => {
                set_rv(&mut obj, kv.mod_revision);
                return Ok(obj);
            }
            Err(StoreError::AlreadyExists(_)) => {
                taken.release(alloc);
                if generate.is_none() {
                    return Err(ApiError::already_exists(info, &name));
                }
            }
            Err(e) => {
                taken.release(alloc);
                return Err(e.into());
            }
        }
    }
    Err(ApiError::new(
        500,
        "AlreadyExists",
        "failed to generate a unique name after several attempts",
    ))
}

pub(crate) async fn create(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    let format = super::object_format(content_type)?;
    let dry_run = ctx.dry_run()?;
    let mut obj = decode_object(body, format)?;
    check_types(&ctx.info, &ctx.info.version, &obj)?;
    validate_fields(
        ctx,
        &mut obj,
        (format == BodyFormat::Json).then_some(body),
        "CreateOptions",
    )?;
    check_type_meta(&ctx.info, &mut obj)?;
    check_namespace(&ctx.info, ctx.namespace(), &mut obj)?;
    let info = ctx.info.clone();
    let opts = WriteOpts {
        dry_run,
        manager: Some(&ctx.manager),
        subresource: None,
        user: Some(&ctx.identity),
    };
    let stored = create_object(server, &info, ctx.namespace(), obj, &opts).await?;
    let out = render_one(ctx, &stored)?;
    Ok(response::object(201, &out, ctx.output, &ctx.warnings))
}

/// The result of one attempt at an update.
pub(crate) enum Attempt {
    Done(Value),
    /// The stored object changed under us: read again and retry.
    Conflict,
}

/// Writes `new` (storage version, prepared for the given mode) over `old` with compare-and-swap
/// on `cur.mod_revision`. Deletes the object instead when this update removed the last
/// finalizer of an object being deleted.
pub(crate) async fn commit_update(
    server: &ApiServer,
    info: &ResourceInfo,
    cur: &KeyValue,
    old: &Value,
    mut new: Value,
    mode: Mode,
    opts: &WriteOpts<'_>,
) -> Result<Attempt, ApiError> {
    let subresource = opts.subresource;
    let dry_run = opts.dry_run;
    let name = krust_api::meta::name(old).to_string();
    check_types(info, &info.storage_version, &new)?;
    let strategy = strategy::of(info);
    match mode {
        Mode::Main => strategy.prepare_for_update(info, &mut new, old),
        Mode::Status => new = strategy.status_update(info, &new, old),
        Mode::Approval => new = strategy.approval_update(info, &new, old),
        Mode::EphemeralContainers => new = strategy.ephemeral_containers_update(info, &new, old),
        Mode::Finalize => {
            let mut n = old.clone();
            let fins = krust_api::meta::get_path(&new, &["spec", "finalizers"])
                .cloned()
                .unwrap_or(Value::Null);
            krust_api::meta::set_path(&mut n, &["spec", "finalizers"], fins);
            new = n;
        }
    }
    let namespace = krust_api::meta::namespace(old).to_string();
    let attrs = Attributes {
        info,
        operation: Operation::Update,
        namespace: (!namespace.is_empty()).then_some(namespace.as_str()),
        name: &name,
        subresource,
    };
    let chain = &server.state.admission;
    chain.admit(server, &attrs, &mut new, Some(old)).await?;
    krust_api::meta::drop_empty_metadata(&mut new);
    strategy.canonicalize(info, &mut new);
    strategy.apply_defaults(info, &mut new);
    let alloc = &server.state.allocator;
    let taken = if mode == Mode::Main {
        strategy
            .allocate(alloc, &mut new, Some(old))
            .map_err(|errs| ApiError::invalid(info, &name, &errs))?
    } else {
        strategy::Allocation::default()
    };
    let errs = strategy.validate(info, &new, Some(old));
    if !errs.is_empty() {
        taken.release(alloc);
        return Err(ApiError::invalid(info, &name, &errs));
    }
    if let Err(e) = chain.validate(server, &attrs, &new, Some(old)).await {
        taken.release(alloc);
        return Err(e);
    }
    record_update(info, Some(old), &mut new, opts.manager, subresource);
    if semantically_equal(&new, old) {
        taken.release(alloc);
        return Ok(Attempt::Done(old.clone()));
    }
    if dry_run {
        taken.release(alloc);
        return Ok(Attempt::Done(new));
    }
    let finished = krust_api::meta::is_deleting(&new)
        && krust_api::meta::finalizers(&new).is_empty()
        && new["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            == 0
        && new["spec"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty);
    let key = cur.key.clone();
    if finished {
        taken.release(alloc);
        return match server
            .state
            .backend
            .delete(&key, Some(cur.mod_revision))
            .await
        {
            Ok(kv) => {
                strategy.release(alloc, old);
                set_rv(&mut new, kv.mod_revision);
                Ok(Attempt::Done(new))
            }
            Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => Ok(Attempt::Conflict),
            Err(e) => Err(e.into()),
        };
    }
    match server
        .state
        .backend
        .update(&key, encode_for_storage(&new)?, cur.mod_revision)
        .await
    {
        Ok(kv) => {
            strategy.release_dropped(alloc, old, &new);
            set_rv(&mut new, kv.mod_revision);
            Ok(Attempt::Done(new))
        }
        Err(StoreError::Conflict { .. } | StoreError::NotFound(_)) => {
            taken.release(alloc);
            Ok(Attempt::Conflict)
        }
        Err(e) => {
            taken.release(alloc);
            Err(e.into())
        }
    }
}

/// Reads the stored object for an update.
pub(crate) async fn load(
    server: &ApiServer,
    info: &ResourceInfo,
    key: &str,
    name: &str,
) -> Result<(KeyValue, Value), ApiError> {
    let kv = server
        .state
        .backend
        .get(key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, name))?;
    let obj =
        decode_stored(&kv).ok_or_else(|| ApiError::internal("stored object is not valid JSON"))?;
    if let Err(e) = super::read::check_stored(&obj) {
        return Err(super::read::corrupt_object(key, &e.message));
    }
    Ok((kv, obj))
}

pub(crate) async fn update(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
    mode: Mode,
) -> Result<Response<ResponseBody>, ApiError> {
    let format = super::object_format(content_type)?;
    let dry_run = ctx.dry_run()?;
    let mut obj = decode_object(body, format)?;
    check_types(&ctx.info, &ctx.info.version, &obj)?;
    validate_fields(
        ctx,
        &mut obj,
        (format == BodyFormat::Json).then_some(body),
        "UpdateOptions",
    )?;
    check_type_meta(&ctx.info, &mut obj)?;
    check_namespace(&ctx.info, ctx.namespace(), &mut obj)?;
    let name = ctx.name().to_string();
    match krust_api::meta::get_str(&obj, &["metadata", "name"]) {
        None | Some("") => {
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("name".into(), json!(name));
            }
        }
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let info = ctx.info.clone();
    conversion::to_storage(
        &info.group,
        &info.kind,
        &info.version,
        &info.storage_version,
        &mut obj,
    );
    let wanted_rv = resource_version(&obj).to_string();
    let key = ctx.key();
    for _ in 0..RETRIES {
        let (cur, old) = load(server, &info, &key, &name).await?;
        if !wanted_rv.is_empty() && wanted_rv != cur.mod_revision.to_string() {
            return Err(ApiError::conflict(&info, &name));
        }
        check_uid(&info, &obj, &old)?;
        let sub = match mode {
            Mode::Status => Some("status"),
            Mode::Finalize => Some("finalize"),
            Mode::Approval => Some("approval"),
            Mode::EphemeralContainers => Some("ephemeralcontainers"),
            Mode::Main => None,
        };
        let opts = WriteOpts {
            dry_run,
            manager: Some(&ctx.manager),
            subresource: sub,
            user: Some(&ctx.identity),
        };
        match commit_update(server, &info, &cur, &old, obj.clone(), mode, &opts).await? {
            Attempt::Done(stored) => {
                let out = render_one(ctx, &stored)?;
                return Ok(response::object(200, &out, ctx.output, &ctx.warnings));
            }
            Attempt::Conflict if wanted_rv.is_empty() => continue,
            Attempt::Conflict => return Err(ApiError::conflict(&info, &name)),
        }
    }
    Err(ApiError::conflict(&info, &name))
}

fn check_uid(info: &ResourceInfo, new: &Value, old: &Value) -> Result<(), ApiError> {
    let new_uid = krust_api::meta::uid(new);
    let old_uid = krust_api::meta::uid(old);
    if !new_uid.is_empty() && new_uid != old_uid {
        return Err(ApiError::conflict_because(
            info,
            krust_api::meta::name(old),
            &format!(
                "Precondition failed: UID in precondition: {new_uid}, UID in object meta: {old_uid}"
            ),
        ));
    }
    Ok(())
}

/// The OpenAPI definition of a built-in kind at a served version (served versions without a
/// definition of their own, such as `apps/v1beta1`, use the storage version's).
pub(crate) fn builtin_schema(
    group: &str,
    version: &str,
    storage_version: &str,
    kind: &str,
) -> Option<&'static Value> {
    krust_api::openapi::definition_for(group, version, kind)
        .or_else(|| krust_api::openapi::definition_for(group, storage_version, kind))
        .and_then(krust_api::openapi::definition)
}

/// Applies a JSON patch, JSON merge patch or strategic merge patch to a document. `schema` is
/// the document's OpenAPI definition (None for custom resources, which refuse strategic merge
/// patches as upstream does).
pub(crate) fn apply_patch(
    info: &ResourceInfo,
    name: &str,
    doc: &Value,
    patch: &[u8],
    format: BodyFormat,
    schema: Option<&Value>,
) -> Result<Value, ApiError> {
    let mut out = doc.clone();
    match format {
        BodyFormat::MergePatch => {
            let p: Value = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(&mut out, &p);
        }
        BodyFormat::JsonPatch => {
            let p: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut out, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
                .with_name(info, name)
            })?;
        }
        BodyFormat::StrategicMergePatch => {
            if info.custom.is_some() {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json",
                    &[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/apply-patch+yaml",
                    ],
                ));
            }
            let p: Value = serde_json::from_slice(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            out = crate::patch::strategic::apply(doc, &p, schema).map_err(|e| {
                if e.is_bad_request() {
                    ApiError::bad_request(e.to_string())
                } else {
                    ApiError::new(422, "Invalid", e.to_string()).with_name(info, name)
                }
            })?;
        }
        _ => {
            return Err(ApiError::unsupported_media_type(
                "",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ],
            ));
        }
    }
    if !out.is_object() {
        return Err(ApiError::bad_request(
            "the patched document is not an object",
        ));
    }
    Ok(out)
}

fn apply_error(e: crate::patch::apply::ApplyError) -> ApiError {
    use crate::patch::apply::ApplyError;
    match e {
        ApplyError::Conflicts(cs) => {
            let mut err =
                ApiError::new(409, "Conflict", crate::patch::apply::conflict_message(&cs));
            let causes: Vec<Value> = cs
                .iter()
                .map(|c| json!({"reason": "FieldManagerConflict", "message": c.cause_message(), "field": c.field}))
                .collect();
            err.details = Some(json!({"causes": causes}));
            err
        }
        ApplyError::Invalid(m) => ApiError::bad_request(m),
    }
}

/// PATCH with `application/apply-patch+yaml`: server-side apply, creating the object when
/// it does not exist.
async fn server_side_apply(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
) -> Result<Response<ResponseBody>, ApiError> {
    let dry_run = ctx.dry_run()?;
    let Some(manager) = ctx.query.non_empty("fieldManager").map(str::to_string) else {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    };
    let force = ctx.query.flag("force");
    use crate::field_validation::{self as fv, FieldValidation};
    let validation =
        FieldValidation::from_query_for(ctx.query.get("fieldValidation"), "PatchOptions")?;
    let mut applied: Value = fv::parse_apply_yaml(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "error decoding YAML: the apply configuration is not an object",
        ));
    }
    check_types(&ctx.info, &ctx.info.version, &applied)?;
    // Fields the schema does not declare cannot be owned: an apply naming one fails whatever
    // the validation directive, as upstream's typed patch conversion does.
    if let Some(schema) = fv::schema_for(&ctx.info) {
        let unknown = fv::prune_unknown(&mut applied, &schema);
        if !unknown.is_empty() {
            return Err(fv::apply_unknown_error(
                &ctx.info,
                ctx.namespace().unwrap_or_default(),
                ctx.name(),
                &unknown,
            ));
        }
    }
    // Repeated keys: checked after the apply configuration converted, as upstream does.
    if let Some(dup) = fv::yaml_duplicate(body) {
        match validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {dup}"
                )));
            }
            FieldValidation::Warn => ctx.warnings.push(dup),
            FieldValidation::Ignore => {}
        }
    }
    let info = ctx.info.clone();
    check_type_meta(&info, &mut applied)?;
    check_namespace(&info, ctx.namespace(), &mut applied)?;
    let name = ctx.name().to_string();
    match get_str(&applied, &["metadata", "name"]) {
        None | Some("") => {
            krust_api::meta::set_path(&mut applied, &["metadata", "name"], json!(name));
        }
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let sub = ctx.path.subresource.clone();
    let api_version = info.api_version();
    let now = krust_api::time::now_rfc3339();
    let opts = crate::patch::apply::Options {
        manager: &manager,
        subresource: sub.as_deref(),
        schema: schema_of(&info),
        api_version: &api_version,
        now: &now,
        status_subresource: info.subresources.status,
    };
    let key = ctx.key();
    let write = WriteOpts {
        dry_run,
        manager: None,
        subresource: sub.as_deref(),
        user: Some(&ctx.identity),
    };
    for _ in 0..RETRIES {
        let Some(cur) = server.state.backend.get(&key).await? else {
            if sub.is_some() {
                return Err(ApiError::not_found(&info, &name));
            }
            let new = crate::patch::apply::apply_with(None, &applied, force, &opts)
                .map_err(apply_error)?;
            let stored = create_object(server, &info, ctx.namespace(), new, &write).await?;
            let out = render_one(ctx, &stored)?;
            return Ok(response::object(201, &out, ctx.output, &ctx.warnings));
        };
        let old = decode_stored(&cur)
            .ok_or_else(|| ApiError::internal("stored object is not valid JSON"))?;
        if let Err(e) = super::read::check_stored(&old) {
            return Err(super::read::corrupt_object(&key, &e.message));
        }
        let view = crate::object::render(&info, &old);
        let explicit_rv = resource_version(&applied).to_string();
        if !explicit_rv.is_empty() && explicit_rv != cur.mod_revision.to_string() {
            return Err(ApiError::conflict(&info, &name));
        }
        let mut new = crate::patch::apply::apply_with(Some(&view), &applied, force, &opts)
            .map_err(apply_error)?;
        check_types(&info, &info.version, &new)?;
        conversion::to_storage(
            &info.group,
            &info.kind,
            &info.version,
            &info.storage_version,
            &mut new,
        );
        let mode = Mode::of_subresource(sub.as_deref());
        match commit_update(server, &info, &cur, &old, new, mode, &write).await? {
            Attempt::Done(stored) => {
                let out = render_one(ctx, &stored)?;
                return Ok(response::object(200, &out, ctx.output, &ctx.warnings));
            }
            Attempt::Conflict => continue,
        }
    }
    Err(ApiError::conflict(&info, &name))
}

pub(crate) async fn patch(
    server: &ApiServer,
    ctx: &mut Ctx,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Response<ResponseBody>, ApiError> {
    if body_format(content_type) == Some(BodyFormat::ApplyPatch) {
        return server_side_apply(server, ctx, body).await;
    }
    let format = body_format(content_type)
        .filter(|f| {
            matches!(
                f,
                BodyFormat::JsonPatch | BodyFormat::MergePatch | BodyFormat::StrategicMergePatch
            )
        })
        .ok_or_else(|| {
            ApiError::unsupported_media_type(
                content_type.unwrap_or(""),
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            )
        })?;
    let dry_run = ctx.dry_run()?;
    let info = ctx.info.clone();
    let name = ctx.name().to_string();
    let key = ctx.key();
    let sub = ctx.path.subresource.clone();
    for _ in 0..RETRIES {
        let (cur, old) = load(server, &info, &key, &name).await?;
        let (view, schema) = if sub.as_deref() == Some("scale") {
            (
                super::scale::scale_view(&info, &old),
                builtin_schema("autoscaling", "v1", "v1", "Scale"),
            )
        } else {
            (
                crate::object::render(&info, &old),
                builtin_schema(
                    &info.group,
                    &info.version,
                    &info.storage_version,
                    &info.kind,
                ),
            )
        };
        let mut patched = apply_patch(&info, &name, &view, body, format, schema)?;
        if sub.as_deref() == Some("scale") {
            krust_api::typecheck::check_kind("autoscaling", "v1", "Scale", &patched).map_err(
                |e| {
                    ApiError::bad_request(format!(
                        "Scale in version \"v1\" cannot be handled as a Scale: {}",
                        e.message
                    ))
                },
            )?;
        } else {
            check_types(&info, &info.version, &patched)?;
        }
        if sub.as_deref() != Some("scale") {
            validate_patched_fields(ctx, &mut patched, body)?;
        }
        let explicit_rv = resource_version(&patched).to_string();
        if !explicit_rv.is_empty() && explicit_rv != cur.mod_revision.to_string() {
            return Err(ApiError::conflict(&info, &name));
        }
        let (new, mode) = match sub.as_deref() {
            Some("scale") => (
                super::scale::apply_scale(&info, &old, &patched)?,
                Mode::Main,
            ),
            other => {
                let mut p = patched;
                if krust_api::meta::name(&p) != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        krust_api::meta::name(&p)
                    )));
                }
                if info.namespaced
                    && krust_api::meta::namespace(&p) != ctx.namespace().unwrap_or("")
                {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                check_type_meta(&info, &mut p)?;
                conversion::to_storage(
                    &info.group,
                    &info.kind,
                    &info.version,
                    &info.storage_version,
                    &mut p,
                );
                check_uid(&info, &p, &old)?;
                (p, Mode::of_subresource(other))
            }
        };
        let opts = WriteOpts {
            dry_run,
            manager: Some(&ctx.manager),
            subresource: sub.as_deref(),
            user: Some(&ctx.identity),
        };
        match commit_update(server, &info, &cur, &old, new, mode, &opts).await? {
            Attempt::Done(stored) => {
                let out = if sub.as_deref() == Some("scale") {
                    super::scale::scale_view(&info, &stored)
                } else {
                    render_one(ctx, &stored)?
                };
                return Ok(response::object(200, &out, ctx.output, &ctx.warnings));
            }
            Attempt::Conflict => continue,
        }
    }
    Err(ApiError::conflict(&info, &name))
}
