//! Per-kind behaviour of writes, reads and deletes (upstream's REST strategies): canonical
//! forms, defaulting, `PrepareForCreate`/`PrepareForUpdate` (system metadata, status resets,
//! generation bumps), the rules of the `status`, `approval` and `ephemeralcontainers`
//! subresources, validation, Table columns and cells, resource allocation (a Service's
//! cluster IPs and node ports) and its release, and graceful deletion.
//!
//! Every resource has exactly one [`Strategy`], found by [`of`] from its registry entry; the
//! REST handlers call only the trait. The built-in defaulters and printers themselves live in
//! `krust-api` (as upstream keeps them in the scheme and the printers), reached through the
//! trait's default methods.

mod api_service;
mod crd;
mod csr;
mod custom;
mod namespace;
mod node;
mod pod;
mod secret;
mod service;
mod volume;

#[cfg(test)]
mod tests;

pub(crate) use service::Allocation;

use crate::Identity;
use crate::allocator::ServiceAllocator;
use crate::object::new_uid;
use crate::status::ApiError;
use krust_api::meta::get_path;
use krust_api::{FieldError, ResourceInfo, validation};
use serde_json::{Map, Value, json};

/// How one kind is written and deleted. Every method has the behaviour of upstream's generic
/// registry; a kind overrides what its upstream strategy changes.
pub(crate) trait Strategy: Send + Sync {
    /// Brings a decoded object to its canonical form before anything else looks at it (a
    /// Secret's `stringData` folded into `data`; a custom resource pruned and defaulted by
    /// its schema).
    fn canonicalize(&self, _info: &ResourceInfo, _obj: &mut Value) {}

    /// Upstream's `PrepareForCreate`: system metadata filled, fields clients may not set reset.
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, _user: Option<&Identity>) {
        prepare_metadata_for_create(info, obj);
        if info.subresources.status
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
        }
    }

    /// Upstream's `PrepareForUpdate` of the main resource: what an update may not change is
    /// carried over, `generation` bumped on spec changes.
    fn prepare_for_update(&self, info: &ResourceInfo, new: &mut Value, old: &Value) {
        prepare_for_update(info, new, old);
    }

    /// The object after a write to the `status` subresource.
    fn status_update(&self, _info: &ResourceInfo, body: &Value, old: &Value) -> Value {
        status_update(body, old, STATUS_WRITABLE_META)
    }

    /// Upstream's defaulting (the scheme's defaulters) of a storage-version object.
    fn apply_defaults(&self, info: &ResourceInfo, obj: &mut Value) {
        krust_api::defaults::apply_defaults(&info.group, &info.kind, obj);
    }

    /// The Table column definitions (`kubectl get`), as upstream's printers declare them.
    fn table_columns(&self, info: &ResourceInfo) -> Vec<Value> {
        krust_api::table::columns(printer_group(info), &info.kind)
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format,
                       "description": c.description, "priority": c.priority})
            })
            .collect()
    }

    /// The cells of one stored object's Table row.
    fn table_cells(&self, info: &ResourceInfo, obj: &Value) -> Vec<Value> {
        krust_api::table::cells(printer_group(info), &info.kind, obj)
    }

    /// The object after a write to the `approval` subresource (kinds that have one).
    fn approval_update(&self, _info: &ResourceInfo, _body: &Value, old: &Value) -> Value {
        old.clone()
    }

    /// The object after a write to the `ephemeralcontainers` subresource (Pods).
    fn ephemeral_containers_update(
        &self,
        _info: &ResourceInfo,
        _body: &Value,
        old: &Value,
    ) -> Value {
        old.clone()
    }

    /// Every validation error of a storage-version object on create (`old` = None) or update.
    fn validate(&self, info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        validation::validate(&info.group, &info.kind, info.namespaced, obj, old)
    }

    /// Takes what the object needs from the allocator (given back by the caller when the
    /// write fails).
    fn allocate(
        &self,
        _alloc: &ServiceAllocator,
        _obj: &mut Value,
        _old: Option<&Value>,
    ) -> Result<Allocation, Vec<FieldError>> {
        Ok(Allocation::default())
    }

    /// After a committed update: gives back what `old` held and `new` no longer does.
    fn release_dropped(&self, _alloc: &ServiceAllocator, _old: &Value, _new: &Value) {}

    /// After a committed delete: gives back everything the object held.
    fn release(&self, _alloc: &ServiceAllocator, _obj: &Value) {}

    /// Refuses deletes the kind never allows (the `default` namespace...).
    fn check_delete(&self, _info: &ResourceInfo, _name: &str) -> Result<(), ApiError> {
        Ok(())
    }

    /// The grace period a delete gets (`requested`: the DeleteOptions'); 0 deletes at once
    /// unless finalizers or [`Strategy::pending_finalization`] keep the object.
    fn deletion_grace(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// Whether a kind-specific finalization keeps the object after a delete (a Namespace's
    /// `spec.finalizers`).
    fn pending_finalization(&self, _obj: &Value) -> bool {
        false
    }

    /// Changes made to an object whose deletion has begun (a Namespace turns `Terminating`).
    fn mark_deleting(&self, _obj: &mut Value) {}

    /// Whether an immediate delete answers with the deleted object rather than a `Status`.
    fn delete_returns_object(&self) -> bool {
        false
    }
}

/// The strategy of kinds without behaviour of their own.
struct Generic;

impl Strategy for Generic {}

/// The strategy of one resource.
pub(crate) fn of(info: &ResourceInfo) -> &'static dyn Strategy {
    if info.custom.is_some() {
        return &custom::CustomResource;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") => &namespace::NamespaceStrategy,
        ("", "Pod") => &pod::PodStrategy,
        ("", "Node") => &node::NodeStrategy,
        ("", "Service") => &service::ServiceStrategy,
        ("", "Secret") => &secret::SecretStrategy,
        ("", "PersistentVolume" | "PersistentVolumeClaim") => &volume::VolumeStrategy,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => &crd::CrdStrategy,
        ("certificates.k8s.io", "CertificateSigningRequest") => &csr::CsrStrategy,
        ("apiregistration.k8s.io", "APIService") => &api_service::ApiServiceStrategy,
        _ => &Generic,
    }
}

const SYSTEM_META_ON_CREATE: &[&str] = &[
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "resourceVersion",
    "selfLink",
    "generation",
];

/// Fills the system metadata of a new object: uid, creation time, generation.
fn prepare_metadata_for_create(info: &ResourceInfo, obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in SYSTEM_META_ON_CREATE {
            meta.remove(*k);
        }
        meta.insert("uid".into(), Value::String(new_uid()));
        meta.insert(
            "creationTimestamp".into(),
            Value::String(krust_api::time::now_rfc3339()),
        );
        if info.tracks_generation {
            meta.insert("generation".into(), json!(1));
        }
        if !info.namespaced {
            meta.remove("namespace");
        }
    }
}

/// The group whose printer fits the stored object (`events.k8s.io` Events are stored in the
/// core shape).
fn printer_group(info: &ResourceInfo) -> &str {
    if info.storage_key_group() == "core" {
        ""
    } else {
        &info.group
    }
}

/// The generic `PrepareForUpdate`: carries over what an update may not change, keeps the
/// stored status of kinds with a status subresource, and bumps `generation` on spec changes.
fn prepare_for_update(info: &ResourceInfo, new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    meta.insert(k.into(), v.clone());
                }
                None => {
                    meta.remove(k);
                }
            }
        }
        let uid_empty = meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if uid_empty && let Some(u) = old_meta.get("uid") {
            meta.insert("uid".into(), u.clone());
        }
        meta.remove("selfLink");
    }
    if info.subresources.status {
        keep_field(new, old, "status");
    }
    if info.tracks_generation && spec_changed(new, old) {
        bump_generation(new, old);
    }
}

/// Sets `new[field]` to `old[field]` (removing it when `old` has none).
fn keep_field(new: &mut Value, old: &Value, field: &str) {
    let Some(map) = new.as_object_mut() else {
        return;
    };
    match old.get(field) {
        Some(s) => {
            map.insert(field.into(), s.clone());
        }
        None => {
            map.remove(field);
        }
    }
}

fn spec_view(v: &Value) -> Map<String, Value> {
    let mut m = v.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "status", "apiVersion", "kind"] {
        m.remove(k);
    }
    m
}

fn spec_changed(new: &Value, old: &Value) -> bool {
    spec_view(new) != spec_view(old)
}

fn bump_generation(new: &mut Value, old: &Value) {
    let g = get_path(old, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("generation".into(), json!(g + 1));
    }
}

/// Metadata a write to `status` may change on a built-in kind (upstream's status strategies
/// keep everything in the body's metadata but what the system owns).
const STATUS_WRITABLE_META: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// The object after a write to its `status` subresource: the stored object with the body's
/// status and the body's values of the `writable` metadata fields. Everything else in the
/// body is ignored.
fn status_update(body: &Value, old: &Value, writable: &[&str]) -> Value {
    let mut new = old.clone();
    if let (Some(meta), Some(body_meta)) = (
        new.get_mut("metadata").and_then(Value::as_object_mut),
        body.get("metadata").and_then(Value::as_object),
    ) {
        for key in writable {
            match body_meta.get(*key) {
                Some(v) if !v.is_null() => {
                    meta.insert(key.to_string(), v.clone());
                }
                _ => {
                    meta.remove(*key);
                }
            }
        }
    }
    keep_field(&mut new, body, "status");
    if let (Some(meta), Some(rv)) = (
        new.get_mut("metadata").and_then(Value::as_object_mut),
        get_path(body, &["metadata", "resourceVersion"]).cloned(),
    ) {
        meta.insert("resourceVersion".into(), rv);
    }
    new
}
