//! Server-side apply and `managedFields` maintenance, with the semantics of upstream's field
//! manager (k8s.io/apiserver `fieldmanager`) over structured-merge-diff.
//!
//! - [`apply`] merges an applied configuration into the live object (set lists by value, map
//!   lists by key, granular maps by key, everything else replaced), removes what the applier
//!   applied before but no longer applies (unless another manager owns it), detects conflicts
//!   with the other managers (a changed field they own; `force` takes it from them instead),
//!   and records the applier's `Apply` entry.
//! - [`record_update`] records a create, update or non-apply patch: the fields whose value
//!   changed become owned by the writer's `Update` entry and leave every other entry; removed
//!   fields leave every entry.
//!
//! Fields no manager ever owns: `apiVersion`, `kind`, `metadata` itself, and the server-set
//! metadata (`name`, `namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//! `deletionTimestamp`, `selfLink`, `managedFields`). On the main resource of a kind with a
//! status subresource, `status` is not owned either; on the `status` subresource only `status`
//! and `metadata` are.
//!
//! Like upstream, the `kubectl` manager gets the client-side-apply migration: conflicts on
//! fields whose live value still matches the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation are forced, and that annotation is kept in sync with what `kubectl` applies.
//! An object without managed fields that is applied to gets a `before-first-apply` entry
//! owning its existing fields; one that is updated stays untracked.

mod compare;
mod managed;
mod merge;

use crate::patch::fieldset::schema::Ty;
use crate::patch::fieldset::{FieldSet, PathElement, render_path};
use compare::{Comparison, compare};
use managed::Entry;
use serde_json::{Map, Value};

pub use managed::{ANCIENT_CHANGES, MAX_UPDATE_MANAGERS};

/// The annotation client-side `kubectl apply` keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager that owns the fields of an object that had no managed fields when it was
/// first applied to.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The kind of write a managedFields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// A field another manager owns and the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// The field, rendered like upstream (`.spec.replicas`,
    /// `.spec.template.spec.containers[name="nginx"].image`).
    pub field: String,
    /// The operation of the other manager's entry.
    pub operation: Operation,
    /// The API version of the other manager's entry.
    pub api_version: String,
    /// The subresource of the other manager's entry.
    pub subresource: Option<String>,
}

impl Conflict {
    /// The manager as upstream prints it: `"mgr"`, plus ` with subresource "status"`, plus
    /// ` using apps/v1` for `Update` entries.
    pub fn manager_description(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The message of this conflict's `details.causes` entry (reason `FieldManagerConflict`,
    /// field [`Conflict::field`]): `conflict with "mgr" using apps/v1`.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }

    fn identity(&self) -> (&str, Operation, &str, Option<&str>) {
        (
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }
}

/// The message of the 409 Status upstream returns for conflicts:
/// `Apply failed with 1 conflict: conflict with "mgr" using apps/v1: .spec.replicas`, or for
/// several, `Apply failed with 2 conflicts: conflicts with "mgr" using apps/v1:\n- .a\n- .b`
/// (one group per manager, managers in order).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.field
        );
    }
    let mut sorted: Vec<&Conflict> = conflicts.iter().collect();
    sorted.sort_by(|a, b| a.identity().cmp(&b.identity()));
    let mut lines = Vec::new();
    let mut current = None;
    for c in sorted {
        if current != Some(c.identity()) {
            lines.push(format!("conflicts with {}:", c.manager_description()));
            current = Some(c.identity());
        }
        lines.push(format!("- {}", c.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Fields other managers own would change (and `force` was not set).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The applied configuration is not a valid apply patch (a 400 or 422).
    #[error("{0}")]
    Invalid(String),
}

/// Everything about a write besides the objects.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The subresource written (`status`, `scale`), `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// The kind's schema (a built-in definition or a CRD's `openAPIV3Schema`).
    pub schema: Option<&'a Value>,
    /// The API version of the request (`apps/v1`).
    pub api_version: &'a str,
    /// The current time, RFC 3339 (`2024-01-01T00:00:00Z`).
    pub now: &'a str,
    /// Whether the kind has a `status` subresource: then the main resource never owns `status`.
    pub status_subresource: bool,
}

impl<'a> Options<'a> {
    /// Options for the main resource of a kind with a status subresource.
    pub fn new(
        manager: &'a str,
        schema: Option<&'a Value>,
        api_version: &'a str,
        now: &'a str,
    ) -> Self {
        Options {
            manager,
            subresource: None,
            schema,
            api_version,
            now,
            status_subresource: true,
        }
    }

    fn ty(&self) -> Ty<'a> {
        Ty::root(self.schema)
    }

    /// The fields of `set` this write may own.
    fn ownable(&self, set: &FieldSet) -> FieldSet {
        let mut set = strip(set);
        match self.subresource {
            Some("status") => {
                set.retain_top(|pe| is_field(pe, "status") || is_field(pe, "metadata"))
            }
            _ if self.status_subresource => set.retain_top(|pe| !is_field(pe, "status")),
            _ => {}
        }
        set
    }
}

fn is_field(pe: &PathElement, name: &str) -> bool {
    matches!(pe, PathElement::Field(n) if n == name)
}

/// Removes the fields no manager ever owns.
fn strip(set: &FieldSet) -> FieldSet {
    let f = |s: &str| PathElement::Field(s.to_string());
    let mut exact = FieldSet::new();
    for top in ["apiVersion", "kind", "metadata"] {
        exact.insert(&[f(top)]);
    }
    let mut below = FieldSet::new();
    for meta in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "selfLink",
        "clusterName",
        "managedFields",
    ] {
        below.insert(&[f("metadata"), f(meta)]);
    }
    set.difference(&exact).recursive_difference(&below)
}

/// Takes `metadata.managedFields` out of an object.
fn take_managed_fields(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
}

/// Stores entries as `metadata.managedFields` (none: the field is removed).
fn put_managed_fields(obj: &mut Value, entries: &[Entry]) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match managed::encode(entries) {
        Some(encoded) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("managedFields".to_string(), encoded);
            }
        }
        None => {
            if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
    }
}

/// Server-side apply of `applied` (the user's configuration, JSON, at `api_version`) by
/// `manager` onto `live` (`None` = create) for the main resource of a kind with a status
/// subresource. Returns the new object with `metadata.managedFields` updated, or the conflicts
/// (when `!force`).
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    schema: Option<&Value>,
    api_version: &str,
    now: &str,
) -> Result<Value, ApplyError> {
    apply_with(
        live,
        applied,
        force,
        &Options::new(manager, schema, api_version, now),
    )
}

/// [`apply`] with all options (subresource, kinds without a status subresource).
pub fn apply_with(
    live: Option<&Value>,
    applied: &Value,
    force: bool,
    opts: &Options<'_>,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "the apply configuration must be a JSON object".into(),
        ));
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::Invalid(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let ty = opts.ty();
    let config_set =
        opts.ownable(&FieldSet::of_applied(applied, opts.schema).map_err(ApplyError::Invalid)?);

    let (live_obj, mut entries) = match live {
        None => (Value::Object(Map::new()), Vec::new()),
        Some(l) => {
            let mut obj = l.clone();
            let entries =
                managed::decode(take_managed_fields(&mut obj).as_ref()).unwrap_or_default();
            (obj, entries)
        }
    };
    if live.is_some() && entries.is_empty() {
        // Fields that predate field tracking belong to a placeholder updater.
        let existing = opts.ownable(&compare(&Value::Object(Map::new()), &live_obj, ty).changed());
        if !existing.is_empty() {
            entries.push(Entry {
                manager: BEFORE_FIRST_APPLY.to_string(),
                operation: Operation::Update,
                api_version: opts.api_version.to_string(),
                time: Some(opts.now.to_string()),
                subresource: opts.subresource.map(str::to_string),
                set: existing,
            });
        }
    }

    let mut result = match live {
        None => applied.clone(),
        Some(_) => merge::merge(Some(&live_obj), applied, ty).map_err(ApplyError::Invalid)?,
    };
    let me = entries.iter().position(|e| {
        e.is(
            opts.manager,
            Operation::Apply,
            opts.subresource,
            opts.api_version,
        )
    });
    let last = me.map(|i| entries[i].set.clone()).unwrap_or_default();
    let owned = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != me)
        .fold(config_set.clone(), |acc, (_, e)| acc.union(&e.set));
    merge::prune(&mut result, ty, &last, &owned);

    let cmp = compare(&live_obj, &result, ty).map(|s| opts.ownable(s));
    let changed = cmp.changed();
    let mut conflicts: Vec<(usize, FieldSet)> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != me)
        .map(|(i, e)| (i, e.set.intersection(&changed)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    if !conflicts.is_empty() && !force {
        let allowed = (opts.manager == "kubectl")
            .then(|| last_applied_allowed(&live_obj, opts))
            .flatten();
        let allowed = allowed.as_ref();
        let remaining: Vec<Conflict> = conflicts
            .iter()
            .flat_map(|(i, set)| {
                let e = &entries[*i];
                set.paths().into_iter().filter_map(move |p| {
                    (!allowed.is_some_and(|a| a.has(&p))).then(|| Conflict {
                        manager: e.manager.clone(),
                        field: render_path(&p),
                        operation: e.operation,
                        api_version: e.api_version.clone(),
                        subresource: e.subresource.clone(),
                    })
                })
            })
            .collect();
        if !remaining.is_empty() {
            let mut remaining = remaining;
            remaining.sort_by(|a, b| a.identity().cmp(&b.identity()));
            return Err(ApplyError::Conflicts(remaining));
        }
    }

    // Forced (or allowed) conflicts and removed fields leave the other managers.
    for (i, set) in conflicts.drain(..) {
        entries[i].set = entries[i].set.difference(&set);
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != me {
            e.set = e.set.difference(&cmp.removed);
        }
    }
    let object_changed = result != live_obj;
    match me {
        Some(i) => {
            let e = &mut entries[i];
            if object_changed || e.set != config_set || e.api_version != opts.api_version {
                e.time = Some(opts.now.to_string());
            }
            e.set = config_set;
            e.api_version = opts.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: opts.manager.to_string(),
            operation: Operation::Apply,
            api_version: opts.api_version.to_string(),
            time: Some(opts.now.to_string()),
            subresource: opts.subresource.map(str::to_string),
            set: config_set,
        }),
    }
    entries.retain(|e| !e.set.is_empty());
    managed::cap_updates(&mut entries, MAX_UPDATE_MANAGERS);

    if opts.manager == "kubectl" {
        sync_last_applied(&mut result, applied);
    }
    put_managed_fields(&mut result, &entries);
    Ok(result)
}

/// The conflicts `kubectl` may force when migrating from client-side apply: the fields of the
/// last-applied annotation whose live value still equals the annotation's.
fn last_applied_allowed(live: &Value, opts: &Options<'_>) -> Option<FieldSet> {
    let text = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(opts.api_version) {
        return None;
    }
    let set = FieldSet::of_object(&last, opts.schema);
    let cmp: Comparison = compare(&last, live, opts.ty());
    Some(
        set.difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Keeps the client-side apply annotation (when the object has one) equal to what `kubectl`
/// applied, so a later client-side apply computes the right patch.
fn sync_last_applied(result: &mut Value, applied: &Value) {
    let has = result
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has {
        return;
    }
    let mut config = applied.clone();
    if let Some(annotations) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    let Ok(mut text) = serde_json::to_string(&config) else {
        return;
    };
    text.push('\n');
    if let Some(annotations) = result
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(text));
    }
}

/// Records an Update by `manager` (POST, PUT, non-apply PATCH) of the main resource of a kind
/// with a status subresource, or of `subresource`: fields changed between `old` (`None` =
/// create) and `new` become owned by `manager`'s `Update` entry and leave the other entries.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    schema: Option<&Value>,
    api_version: &str,
    now: &str,
) {
    let opts = Options {
        subresource,
        ..Options::new(manager, schema, api_version, now)
    };
    record_update_with(old, new, &opts);
}

/// [`record_update`] with all options.
///
/// The entries start from `new`'s `managedFields` when the writer sent valid, non-empty ones
/// for the main resource (so clients can edit them, e.g. kubectl's client-side-apply upgrade),
/// from nothing when it sent `[]` or `[{}]` (a reset), and from `old`'s otherwise. An existing
/// object without entries stays untracked.
pub fn record_update_with(old: Option<&Value>, new: &mut Value, opts: &Options<'_>) {
    if !new.is_object() {
        return;
    }
    let ty = opts.ty();
    let sent = take_managed_fields(new);
    let old_obj = old.map(|o| {
        let mut o = o.clone();
        let mf = take_managed_fields(&mut o);
        (o, mf)
    });
    let from_old = || {
        old_obj
            .as_ref()
            .and_then(|(_, mf)| managed::decode(mf.as_ref()).ok())
            .unwrap_or_default()
    };
    let mut entries = if opts.subresource.is_some() {
        from_old()
    } else if managed::is_reset(sent.as_ref()) {
        Vec::new()
    } else {
        match managed::decode(sent.as_ref()) {
            Ok(e) if !e.is_empty() => e,
            _ => from_old(),
        }
    };
    if entries.is_empty() && old.is_some() {
        return;
    }
    let empty = Value::Object(Map::new());
    let before = old_obj.as_ref().map_or(&empty, |(o, _)| o);
    let cmp = compare(before, new, ty).map(|s| opts.ownable(s));
    let changed = cmp.changed();
    for e in &mut entries {
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    if !changed.is_empty() {
        let mine = entries.iter_mut().find(|e| {
            e.is(
                opts.manager,
                Operation::Update,
                opts.subresource,
                opts.api_version,
            )
        });
        match mine {
            Some(e) => {
                e.set.union_with(&changed);
                e.time = Some(opts.now.to_string());
            }
            None => entries.push(Entry {
                manager: opts.manager.to_string(),
                operation: Operation::Update,
                api_version: opts.api_version.to_string(),
                time: Some(opts.now.to_string()),
                subresource: opts.subresource.map(str::to_string),
                set: changed,
            }),
        }
    }
    entries.retain(|e| !e.set.is_empty());
    managed::cap_updates(&mut entries, MAX_UPDATE_MANAGERS);
    put_managed_fields(new, &entries);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2024-01-01T00:00:00Z";
    const T1: &str = "2024-01-01T00:01:00Z";
    const T2: &str = "2024-01-01T00:02:00Z";

    fn deploy_schema() -> Option<&'static Value> {
        krust_api::openapi::definition("io.k8s.api.apps.v1.Deployment")
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": image}]}
                }
            }
        })
    }

    fn apply_deploy(
        live: Option<&Value>,
        cfg: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, ApplyError> {
        apply(live, cfg, manager, force, deploy_schema(), "apps/v1", now)
    }

    /// The entries of an object as (manager, operation, subresource, fieldsV1).
    fn entries(obj: &Value) -> Vec<(String, String, Option<String>, Value)> {
        obj["metadata"]["managedFields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["manager"].as_str().unwrap().to_string(),
                            e["operation"].as_str().unwrap().to_string(),
                            e.get("subresource")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                            e["fieldsV1"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn fields_of(obj: &Value, manager: &str, operation: &str) -> Value {
        entries(obj)
            .into_iter()
            .find(|(m, o, _, _)| m == manager && o == operation)
            .map(|(_, _, _, f)| f)
            .unwrap_or(Value::Null)
    }

    fn without_managed_fields(obj: &Value) -> Value {
        let mut o = obj.clone();
        take_managed_fields(&mut o);
        o
    }

    /// A deployment created by `kubectl create` / client-side apply: an Update entry.
    fn created_by(manager: &str, obj: &Value) -> Value {
        let mut obj = obj.clone();
        record_update(
            None,
            &mut obj,
            manager,
            None,
            deploy_schema(),
            "apps/v1",
            T0,
        );
        obj
    }

    #[test]
    fn apply_creates_with_one_apply_entry() {
        let cfg = deployment(3, "nginx:1.14.2");
        let out = apply_deploy(None, &cfg, "kubectl", false, T0).unwrap();
        assert_eq!(without_managed_fields(&out), cfg);
        assert_eq!(
            out["metadata"]["managedFields"],
            json!([{
                "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                                ".": {}, "f:image": {}, "f:name": {}
                            }}}
                        }
                    }
                },
                "manager": "kubectl",
                "operation": "Apply",
                "time": T0
            }])
        );
    }

    #[test]
    fn apply_rejects_invalid_configurations() {
        let mut cfg = deployment(1, "x");
        cfg["metadata"]["managedFields"] = json!([]);
        let err = apply_deploy(None, &cfg, "m", false, T0).unwrap_err();
        assert_eq!(err.to_string(), "metadata.managedFields must be nil");
        let mut cfg = deployment(1, "x");
        cfg["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "a"}]);
        let err = apply_deploy(None, &cfg, "m", false, T0).unwrap_err();
        assert!(
            matches!(&err, ApplyError::Invalid(m) if m.contains("duplicate entries for key [name=\"a\"]"))
        );
        assert!(matches!(
            apply_deploy(None, &json!([]), "m", false, T0),
            Err(ApplyError::Invalid(_))
        ));
    }

    #[test]
    fn apply_removes_fields_dropped_from_the_configuration() {
        let mut cfg = deployment(3, "nginx");
        cfg["metadata"]["labels"]["tier"] = json!("web");
        cfg["spec"]["minReadySeconds"] = json!(5);
        let live = apply_deploy(None, &cfg, "kubectl", false, T0).unwrap();
        // Defaulting adds a field nobody owns; it survives.
        let mut live = live;
        live["spec"]["revisionHistoryLimit"] = json!(10);
        let cfg2 = deployment(3, "nginx");
        let out = apply_deploy(Some(&live), &cfg2, "kubectl", false, T1).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "nginx"}));
        assert!(out["spec"].get("minReadySeconds").is_none());
        assert_eq!(out["spec"]["revisionHistoryLimit"], json!(10));
        assert_eq!(
            fields_of(&out, "kubectl", "Apply")["f:metadata"],
            json!({"f:labels": {"f:app": {}}})
        );
        assert_eq!(out["metadata"]["managedFields"][0]["time"], json!(T1));
        // Applying the same configuration again changes nothing, not even the time.
        let again = apply_deploy(Some(&out), &cfg2, "kubectl", false, T2).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn apply_shares_fields_with_the_same_value() {
        let live = apply_deploy(None, &deployment(3, "nginx"), "alice", false, T0).unwrap();
        let bob_cfg = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx", "labels": {"app": "nginx", "team": "bob"}},
            "spec": {"replicas": 3}
        });
        let shared = apply_deploy(Some(&live), &bob_cfg, "bob", false, T1).unwrap();
        assert_eq!(
            shared["metadata"]["labels"],
            json!({"app": "nginx", "team": "bob"})
        );
        assert_eq!(
            fields_of(&shared, "bob", "Apply"),
            json!({"f:metadata": {"f:labels": {"f:app": {}, "f:team": {}}}, "f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            fields_of(&shared, "alice", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
        // Alice stops applying replicas: Bob still owns it, so it stays; only her claim goes.
        let mut alice_cfg = deployment(3, "nginx");
        alice_cfg["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
        let out = apply_deploy(Some(&shared), &alice_cfg, "alice", false, T2).unwrap();
        assert_eq!(out["spec"]["replicas"], json!(3));
        assert!(
            fields_of(&out, "alice", "Apply")["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        // Changing a shared field conflicts with the other owner.
        let err =
            apply_deploy(Some(&shared), &deployment(4, "nginx"), "alice", false, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"bob\": .spec.replicas"
        );
    }

    #[test]
    fn apply_conflicts_with_an_updater_and_reports_upstream_messages() {
        let live = created_by("kubectl-client-side-apply", &deployment(3, "nginx"));
        let err =
            apply_deploy(Some(&live), &deployment(5, "nginx"), "helm", false, T1).unwrap_err();
        let ApplyError::Conflicts(conflicts) = &err else {
            panic!("{err}")
        };
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
        assert_eq!(conflicts[0].field, ".spec.replicas");
        assert_eq!(
            conflicts[0].cause_message(),
            "conflict with \"kubectl-client-side-apply\" using apps/v1"
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let err =
            apply_deploy(Some(&live), &deployment(5, "nginx:2"), "helm", false, T1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n\
             - .spec.replicas\n\
             - .spec.template.spec.containers[name=\"nginx\"].image"
        );
        // The same values: no conflict, shared ownership.
        let out = apply_deploy(Some(&live), &deployment(3, "nginx"), "helm", false, T1).unwrap();
        assert_eq!(
            fields_of(&out, "kubectl-client-side-apply", "Update")["f:spec"]["f:replicas"],
            json!({})
        );
        assert_eq!(
            fields_of(&out, "helm", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
    }

    #[test]
    fn conflict_message_groups_managers() {
        let c = |manager: &str, field: &str, operation| Conflict {
            manager: manager.to_string(),
            field: field.to_string(),
            operation,
            api_version: "v1".to_string(),
            subresource: None,
        };
        let msg = conflict_message(&[
            c("z", ".data.b", Operation::Update),
            c("a", ".data.a", Operation::Apply),
            c("z", ".data.c", Operation::Update),
        ]);
        assert_eq!(
            msg,
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.a\nconflicts with \"z\" using v1:\n- .data.b\n- .data.c"
        );
        let status = Conflict {
            subresource: Some("status".into()),
            ..c("kcm", ".status.x", Operation::Update)
        };
        assert_eq!(
            status.cause_message(),
            "conflict with \"kcm\" with subresource \"status\" using v1"
        );
    }

    #[test]
    fn apply_force_takes_ownership() {
        let live = created_by("kube-controller-manager", &deployment(3, "nginx"));
        let out = apply_deploy(Some(&live), &deployment(5, "nginx"), "helm", true, T1).unwrap();
        assert_eq!(out["spec"]["replicas"], json!(5));
        assert_eq!(
            fields_of(&out, "helm", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
        let kcm = fields_of(&out, "kube-controller-manager", "Update");
        assert!(kcm["f:spec"].get("f:replicas").is_none());
        // Unchanged fields stay shared.
        assert!(kcm["f:spec"]["f:template"].is_object());
    }

    #[test]
    fn apply_merges_map_lists_by_key() {
        let live = apply_deploy(None, &deployment(1, "nginx"), "alice", false, T0).unwrap();
        let sidecar = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "sidecar", "image": "envoy", "ports": [{"containerPort": 9901}]}
            ]}}}
        });
        let out = apply_deploy(Some(&live), &sidecar, "bob", false, T1).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "nginx", "image": "nginx"},
                {"name": "sidecar", "image": "envoy", "ports": [{"containerPort": 9901}]}
            ])
        );
        assert_eq!(
            fields_of(&out, "bob", "Apply")["f:spec"]["f:template"]["f:spec"],
            json!({"f:containers": {"k:{\"name\":\"sidecar\"}": {
                ".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":9901,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
            }}})
        );
        // Bob drops his container: only it goes.
        let mut none = sidecar.clone();
        none["spec"]["template"]["spec"]["containers"] = json!([]);
        let out = apply_deploy(Some(&out), &none, "bob", false, T2).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "nginx", "image": "nginx"}])
        );
        assert!(entries(&out).iter().all(|(m, ..)| m != "bob"));
    }

    #[test]
    fn apply_merges_set_lists_by_value() {
        let cm = |finalizers: Value| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "finalizers": finalizers}})
        };
        let schema = krust_api::openapi::definition("io.k8s.api.core.v1.ConfigMap");
        let live = apply(
            None,
            &cm(json!(["a.io/one"])),
            "one",
            false,
            schema,
            "v1",
            T0,
        )
        .unwrap();
        let live = apply(
            Some(&live),
            &cm(json!(["b.io/two", "a.io/one"])),
            "two",
            false,
            schema,
            "v1",
            T1,
        )
        .unwrap();
        assert_eq!(
            live["metadata"]["finalizers"],
            json!(["b.io/two", "a.io/one"])
        );
        assert_eq!(
            fields_of(&live, "two", "Apply"),
            json!({"f:metadata": {"f:finalizers": {"v:\"a.io/one\"": {}, "v:\"b.io/two\"": {}}}})
        );
        // "one" drops its finalizer: "two" still owns it.
        let out = apply(Some(&live), &cm(json!([])), "one", false, schema, "v1", T2).unwrap();
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["b.io/two", "a.io/one"])
        );
        // "two" drops "a.io/one": nobody owns it any more, so it goes.
        let out = apply(
            Some(&out),
            &cm(json!(["b.io/two"])),
            "two",
            false,
            schema,
            "v1",
            T2,
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b.io/two"]));
    }

    #[test]
    fn apply_replaces_atomic_lists() {
        let with_args = |args: Value| {
            let mut d = deployment(1, "nginx");
            d["spec"]["template"]["spec"]["containers"][0]["args"] = args;
            d
        };
        let live = apply_deploy(None, &with_args(json!(["a", "b"])), "alice", false, T0).unwrap();
        let out = apply_deploy(Some(&live), &with_args(json!(["c"])), "alice", false, T1).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["c"])
        );
        let owned = &fields_of(&out, "alice", "Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"]
            ["k:{\"name\":\"nginx\"}"];
        assert_eq!(owned["f:args"], json!({}));
        // Another applier setting the list to something else conflicts on the whole list.
        let err = apply_deploy(Some(&out), &with_args(json!(["d"])), "bob", false, T2).unwrap_err();
        assert!(
            err.to_string()
                .ends_with(".spec.template.spec.containers[name=\"nginx\"].args")
        );
    }

    #[test]
    fn apply_never_owns_status_or_server_metadata_on_the_main_resource() {
        let mut cfg = deployment(1, "nginx");
        cfg["status"] = json!({"replicas": 1});
        cfg["metadata"]["uid"] = json!("u");
        cfg["metadata"]["resourceVersion"] = json!("1");
        let out = apply_deploy(None, &cfg, "m", false, T0).unwrap();
        let owned = fields_of(&out, "m", "Apply");
        assert!(owned.get("f:status").is_none());
        assert_eq!(owned["f:metadata"], json!({"f:labels": {"f:app": {}}}));
    }

    #[test]
    fn record_update_moves_ownership() {
        let live = apply_deploy(None, &deployment(3, "nginx"), "kubectl", false, T0).unwrap();
        // An HPA-like controller changes replicas through PUT.
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(6);
        record_update(
            Some(&live),
            &mut new,
            "kube-controller-manager",
            None,
            deploy_schema(),
            "apps/v1",
            T1,
        );
        assert_eq!(
            fields_of(&new, "kube-controller-manager", "Update"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert!(
            fields_of(&new, "kubectl", "Apply")["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        assert_eq!(new["metadata"]["managedFields"][1]["time"], json!(T1));
        // The next apply by kubectl with its old value conflicts with the controller.
        let err =
            apply_deploy(Some(&new), &deployment(3, "nginx"), "kubectl", false, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kube-controller-manager\" using apps/v1: .spec.replicas"
        );
        // A second update by the same manager merges into its entry.
        let mut newer = new.clone();
        newer["metadata"]["labels"]["scaled"] = json!("yes");
        record_update(
            Some(&new),
            &mut newer,
            "kube-controller-manager",
            None,
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert_eq!(
            fields_of(&newer, "kube-controller-manager", "Update"),
            json!({"f:metadata": {"f:labels": {"f:scaled": {}}}, "f:spec": {"f:replicas": {}}})
        );
        assert_eq!(entries(&newer).len(), 2);
        // Removing a field removes it from every owner.
        let mut removed = newer.clone();
        removed["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app");
        record_update(
            Some(&newer),
            &mut removed,
            "editor",
            None,
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert_eq!(
            fields_of(&removed, "kubectl", "Apply")["f:metadata"],
            Value::Null
        );
        assert_eq!(fields_of(&removed, "editor", "Update"), Value::Null);
        // A no-op update records nothing.
        let mut same = removed.clone();
        record_update(
            Some(&removed),
            &mut same,
            "noop",
            None,
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert_eq!(same, removed);
    }

    #[test]
    fn record_update_on_create_matches_kubectl_create() {
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "uid": "u", "resourceVersion": "1",
                         "creationTimestamp": T0, "labels": {"a": "b"}},
            "data": {"key": "value"}
        });
        let mut new = obj.clone();
        let schema = krust_api::openapi::definition("io.k8s.api.core.v1.ConfigMap");
        record_update(None, &mut new, "kubectl-create", None, schema, "v1", T0);
        assert_eq!(
            new["metadata"]["managedFields"],
            json!([{
                "apiVersion": "v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {".": {}, "f:key": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}},
                "manager": "kubectl-create", "operation": "Update", "time": T0
            }])
        );
    }

    #[test]
    fn record_update_status_subresource_entries() {
        let live = apply_deploy(None, &deployment(1, "nginx"), "kubectl", false, T0).unwrap();
        let mut new = live.clone();
        new["status"] =
            json!({"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
        record_update(
            Some(&live),
            &mut new,
            "kube-controller-manager",
            Some("status"),
            deploy_schema(),
            "apps/v1",
            T1,
        );
        let status_entry = entries(&new)
            .into_iter()
            .find(|(m, ..)| m == "kube-controller-manager")
            .unwrap();
        assert_eq!(status_entry.2.as_deref(), Some("status"));
        assert_eq!(
            status_entry.3,
            json!({"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {
                ".": {}, "f:status": {}, "f:type": {}
            }}, "f:replicas": {}}})
        );
        assert_eq!(
            new["metadata"]["managedFields"][1]["subresource"],
            json!("status")
        );
        // Subresource writes cannot edit managedFields.
        let mut edited = new.clone();
        edited["metadata"]["managedFields"] = json!([{}]);
        edited["status"]["replicas"] = json!(2);
        record_update(
            Some(&new),
            &mut edited,
            "kube-controller-manager",
            Some("status"),
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert_eq!(entries(&edited).len(), 2);
        // The main resource never records status changes.
        let mut main = new.clone();
        main["status"]["replicas"] = json!(3);
        record_update(
            Some(&new),
            &mut main,
            "someone",
            None,
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert!(entries(&main).iter().all(|(m, ..)| m != "someone"));
        // Applying status through the main resource does not take it from the status writer.
        let mut cfg = deployment(1, "nginx");
        cfg["status"] = json!({"replicas": 7});
        let out = apply_deploy(Some(&new), &cfg, "kubectl", false, T2).unwrap();
        assert_eq!(entries(&out).len(), 2);
        // Apply to the status subresource owns status only.
        let status_cfg = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
                                "spec": {"replicas": 9}, "status": {"observedGeneration": 1}});
        let opts = Options {
            subresource: Some("status"),
            ..Options::new("status-applier", deploy_schema(), "apps/v1", T2)
        };
        let out = apply_with(Some(&new), &status_cfg, false, &opts).unwrap();
        assert_eq!(
            fields_of(&out, "status-applier", "Apply"),
            json!({"f:status": {"f:observedGeneration": {}}})
        );
    }

    #[test]
    fn record_update_honours_managed_fields_edits_and_resets() {
        let live = created_by("kubectl-client-side-apply", &deployment(3, "nginx"));
        // kubectl's client-side-apply upgrade renames the entry with a JSON patch.
        let mut patched = live.clone();
        patched["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        patched["metadata"]["managedFields"][0]["operation"] = json!("Apply");
        record_update(
            Some(&live),
            &mut patched,
            "kubectl",
            None,
            deploy_schema(),
            "apps/v1",
            T1,
        );
        assert_eq!(entries(&patched).len(), 1);
        assert_eq!(entries(&patched)[0].0, "kubectl");
        assert_eq!(entries(&patched)[0].1, "Apply");
        // A client that drops managedFields keeps the stored ones.
        let mut dropped = patched.clone();
        take_managed_fields(&mut dropped);
        dropped["spec"]["paused"] = json!(true);
        record_update(
            Some(&patched),
            &mut dropped,
            "kubectl-edit",
            None,
            deploy_schema(),
            "apps/v1",
            T1,
        );
        assert_eq!(entries(&dropped).len(), 2);
        // `[{}]` resets them, and the object stays untracked afterwards.
        let mut reset = dropped.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        reset["spec"]["paused"] = json!(false);
        record_update(
            Some(&dropped),
            &mut reset,
            "kubectl-edit",
            None,
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert!(reset["metadata"].get("managedFields").is_none());
        let mut later = reset.clone();
        later["spec"]["replicas"] = json!(1);
        record_update(
            Some(&reset),
            &mut later,
            "x",
            None,
            deploy_schema(),
            "apps/v1",
            T2,
        );
        assert!(later["metadata"].get("managedFields").is_none());
        // Applying to an untracked object conflicts with the fields it already has.
        let err =
            apply_deploy(Some(&later), &deployment(2, "nginx"), "helm", false, T2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"before-first-apply\" using apps/v1: .spec.replicas"
        );
        let out = apply_deploy(Some(&later), &deployment(1, "nginx"), "helm", false, T2).unwrap();
        assert!(
            entries(&out)
                .iter()
                .any(|(m, o, ..)| m == BEFORE_FIRST_APPLY && o == "Update")
        );
    }

    #[test]
    fn kubectl_server_side_apply_migrates_from_client_side_apply() {
        // `kubectl apply` (client side) created the object and keeps its last configuration.
        let mut csa = deployment(3, "nginx");
        let last_applied = serde_json::to_string(&csa).unwrap() + "\n";
        csa["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last_applied});
        let live = created_by("kubectl-client-side-apply", &csa);
        // `kubectl apply --server-side` with a new replica count: the conflict with the
        // client-side applier is on a field still at its last-applied value, so it is forced.
        let out = apply_deploy(Some(&live), &deployment(5, "nginx"), "kubectl", false, T1).unwrap();
        assert_eq!(out["spec"]["replicas"], json!(5));
        assert_eq!(
            fields_of(&out, "kubectl", "Apply")["f:spec"]["f:replicas"],
            json!({})
        );
        let csa_fields = fields_of(&out, "kubectl-client-side-apply", "Update");
        assert!(csa_fields["f:spec"].get("f:replicas").is_none());
        assert_eq!(
            csa_fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"]
                ["f:image"],
            json!({})
        );
        // The annotation follows what kubectl applied.
        let annotation = out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
            .as_str()
            .unwrap();
        let synced: Value = serde_json::from_str(annotation).unwrap();
        assert_eq!(synced, deployment(5, "nginx"));
        // Another manager's change is not covered by the annotation: a real conflict...
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(4);
        record_update(
            Some(&live),
            &mut scaled,
            "kube-controller-manager",
            None,
            deploy_schema(),
            "apps/v1",
            T1,
        );
        let err =
            apply_deploy(Some(&scaled), &deployment(5, "nginx"), "kubectl", false, T2).unwrap_err();
        assert!(
            err.to_string().contains(
                "conflict with \"kube-controller-manager\" using apps/v1: .spec.replicas"
            )
        );
        // ...which --force-conflicts resolves.
        let out =
            apply_deploy(Some(&scaled), &deployment(5, "nginx"), "kubectl", true, T2).unwrap();
        assert_eq!(out["spec"]["replicas"], json!(5));
        assert_eq!(
            fields_of(&out, "kube-controller-manager", "Update"),
            Value::Null
        );
        // Other managers get no migration.
        assert!(apply_deploy(Some(&live), &deployment(5, "nginx"), "helm", false, T1).is_err());
    }

    #[test]
    fn apply_with_custom_resource_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {
                    "hosts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["path"],
                               "items": {"type": "object", "properties": {"path": {"type": "string"}, "to": {"type": "string"}}}},
                    "tags": {"type": "array", "items": {"type": "string"}}
                }}
            }
        });
        let cr = |hosts: Value, routes: Value| {
            json!({"apiVersion": "example.com/v1", "kind": "Web", "metadata": {"name": "w"},
                   "spec": {"hosts": hosts, "routes": routes, "tags": ["x"]}})
        };
        let live = apply(
            None,
            &cr(json!(["a"]), json!([{"path": "/", "to": "x"}])),
            "one",
            false,
            Some(&schema),
            "example.com/v1",
            T0,
        )
        .unwrap();
        assert_eq!(
            fields_of(&live, "one", "Apply"),
            json!({"f:spec": {
                "f:hosts": {"v:\"a\"": {}},
                "f:routes": {"k:{\"path\":\"/\"}": {".": {}, "f:path": {}, "f:to": {}}},
                "f:tags": {}
            }})
        );
        let mut cfg = cr(json!(["b"]), json!([{"path": "/b", "to": "y"}]));
        cfg["spec"]["tags"] = json!(["y"]);
        let err = apply(
            Some(&live),
            &cfg,
            "two",
            false,
            Some(&schema),
            "example.com/v1",
            T1,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"one\": .spec.tags"
        );
        cfg["spec"].as_object_mut().unwrap().remove("tags");
        let out = apply(
            Some(&live),
            &cfg,
            "two",
            false,
            Some(&schema),
            "example.com/v1",
            T1,
        )
        .unwrap();
        assert_eq!(out["spec"]["hosts"], json!(["a", "b"]));
        assert_eq!(
            out["spec"]["routes"],
            json!([{"path": "/", "to": "x"}, {"path": "/b", "to": "y"}])
        );
        // Without a schema, lists are atomic and maps granular.
        let live = apply(
            None,
            &cr(json!(["a"]), json!([])),
            "one",
            false,
            None,
            "example.com/v1",
            T0,
        )
        .unwrap();
        assert_eq!(
            fields_of(&live, "one", "Apply"),
            json!({"f:spec": {".": {}, "f:hosts": {}, "f:routes": {}, "f:tags": {}}})
        );
        let err = apply(Some(&live), &cfg, "two", false, None, "example.com/v1", T1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"one\":\n- .spec.hosts\n- .spec.routes"
        );
    }
}
