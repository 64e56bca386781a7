//! Object metadata, as upstream's `ValidateObjectMeta` and `ValidateObjectMetaUpdate` check it
//! (plus the generic registry's path-segment rule for names), and the shared checks of labels,
//! annotations, finalizers, owner references and `metav1.LabelSelector`s.

use super::util::{
    Errs, FIELD_IMMUTABLE, NULL, get, get_arr, get_bool, get_str, invalid_each, str_entries,
    type_error,
};
use crate::field_error::{FieldError, Path, go_value};
use crate::selector::LabelSelector;
use crate::validation_names as names;
use serde_json::Value;

/// Upstream's `TotalAnnotationSizeLimitB`.
pub(crate) const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which syntax a kind's object names must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (Namespace, StatefulSet).
    Label,
    /// RFC 1035 label (Service).
    Dns1035,
    /// Only the path-segment rules (RBAC kinds).
    PathSegment,
}

/// The name rule of a kind.
pub(crate) fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") | ("apps", "StatefulSet") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        )
        | ("apiregistration.k8s.io", "APIService") => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Upstream's `maskTrailingDash`: a generateName prefix may end in `-`.
fn mask_trailing_dash(name: &str) -> String {
    if name.len() > 1
        && name.ends_with('-')
        && let Some(head) = name.get(..name.len() - 2)
    {
        return format!("{head}a");
    }
    name.to_string()
}

/// The problems of a name (or, with `prefix`, a generateName) under a rule.
pub(crate) fn name_errors(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    if rule == NameRule::PathSegment {
        if prefix {
            return ["/", "%"]
                .iter()
                .filter(|bad| name.contains(*bad))
                .map(|bad| format!("may not contain '{bad}'"))
                .collect();
        }
        return names::path_segment_name(name);
    }
    let name = if prefix {
        mask_trailing_dash(name)
    } else {
        name.to_string()
    };
    match rule {
        NameRule::Label => names::dns1123_label(&name),
        NameRule::Dns1035 => names::dns1035_label(&name),
        _ => names::dns1123_subdomain(&name),
    }
}

/// `metadata` of an object, or null (a non-object value is reported when `errs` is given).
pub(crate) fn metadata<'a>(errs: &mut Errs, obj: &'a Value) -> &'a Value {
    match get(obj, "metadata") {
        Some(m @ Value::Object(_)) => m,
        Some(other) => {
            errs.push(type_error(&Path::new("metadata"), other, "object"));
            &NULL
        }
        None => &NULL,
    }
}

/// The `metadata.name` problems: required, then the kind's syntax.
fn validate_name(errs: &mut Errs, meta: &Value, path: &Path, rule: NameRule) {
    let name = get_str(errs, meta, "name", path);
    if get(meta, "name").is_some() && name.is_none() {
        return; // wrong type, already reported
    }
    match name.unwrap_or("") {
        "" => errs.push(FieldError::required(
            path.child("name"),
            "name or generateName is required",
        )),
        name => invalid_each(
            errs,
            &path.child("name"),
            name,
            name_errors(rule, name, false),
        ),
    }
}

/// `metadata.namespace`: required (and a DNS label) for namespaced kinds, forbidden otherwise.
fn validate_namespace_field(errs: &mut Errs, meta: &Value, path: &Path, namespaced: bool) {
    let ns = get_str(errs, meta, "namespace", path).unwrap_or("");
    let p = path.child("namespace");
    if namespaced {
        if ns.is_empty() {
            if get(meta, "namespace").is_none_or(Value::is_string) {
                errs.push(FieldError::required(&p, ""));
            }
        } else {
            invalid_each(errs, &p, ns, names::dns1123_label(ns));
        }
    } else if !ns.is_empty() {
        errs.push(FieldError::forbidden(&p, "not allowed on this type"));
    }
}

/// Labels, annotations, owner references and finalizers of `metadata`.
fn validate_meta_common(errs: &mut Errs, meta: &Value, path: &Path) {
    validate_labels(errs, get(meta, "labels"), &path.child("labels"));
    validate_annotations(errs, get(meta, "annotations"), &path.child("annotations"));
    validate_owner_references(errs, meta, path);
    validate_finalizers(errs, get(meta, "finalizers"), &path.child("finalizers"));
}

/// Upstream's `ValidateObjectMeta` on create.
pub(crate) fn validate_object_meta(errs: &mut Errs, obj: &Value, namespaced: bool, rule: NameRule) {
    let path = Path::new("metadata");
    let meta = metadata(errs, obj);
    if let Some(gn) = get_str(errs, meta, "generateName", &path)
        && !gn.is_empty()
    {
        invalid_each(
            errs,
            &path.child("generateName"),
            gn,
            name_errors(rule, gn, true),
        );
    }
    validate_name(errs, meta, &path, rule);
    validate_namespace_field(errs, meta, &path, namespaced);
    validate_meta_common(errs, meta, &path);
}

/// Upstream's `ValidateObjectMetaUpdate` plus the generic registry's common checks: name,
/// namespace, uid and creationTimestamp are immutable, no finalizer may be added while the
/// object is being deleted, and the mutable parts are validated again.
pub(crate) fn validate_object_meta_update(
    errs: &mut Errs,
    obj: &Value,
    old: &Value,
    namespaced: bool,
) {
    let path = Path::new("metadata");
    let meta = metadata(errs, obj);
    let old_meta = metadata(&mut Vec::new(), old);
    let mut scratch = Vec::new();

    if get(old_meta, "deletionTimestamp").is_some() {
        let old_fin = super::util::get_str_list(&mut scratch, old_meta, "finalizers", &path);
        let mut extra: Vec<&str> =
            super::util::get_str_list(&mut scratch, meta, "finalizers", &path)
                .into_iter()
                .filter(|f| !old_fin.contains(f))
                .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list = Value::from(extra);
            errs.push(FieldError::forbidden(
                path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_value(&list)
                ),
            ));
        }
    }

    for key in ["name", "namespace"] {
        let new = get(meta, key).and_then(Value::as_str).unwrap_or("");
        let old = get(old_meta, key).and_then(Value::as_str).unwrap_or("");
        if new != old {
            errs.push(FieldError::invalid(
                path.child(key),
                Value::from(new),
                FIELD_IMMUTABLE,
            ));
        }
    }
    // The server fills these from the stored object when they are left out.
    for key in ["uid", "creationTimestamp"] {
        let Some(new) = get(meta, key) else { continue };
        if Some(new) != get(old_meta, key) {
            errs.push(FieldError::invalid(
                path.child(key),
                new.clone(),
                FIELD_IMMUTABLE,
            ));
        }
    }

    validate_meta_common(errs, meta, &path);
    // The generic registry validates name presence and path-segment syntax on update too.
    validate_name(errs, meta, &path, NameRule::PathSegment);
    validate_namespace_field(errs, meta, &path, namespaced);
}

/// Upstream's `ValidateLabels`: keys are qualified names and values label values; every error
/// is reported on the map's own path.
pub(crate) fn validate_labels(errs: &mut Errs, labels: Option<&Value>, path: &Path) {
    let Some(v) = labels.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(map) = v.as_object() else {
        errs.push(type_error(path, v, "object"));
        return;
    };
    for (k, val) in str_entries(errs, map, path) {
        invalid_each(errs, path, k, names::qualified_name(k));
        invalid_each(errs, path, val, names::label_value(val));
    }
}

/// Upstream's `ValidateAnnotations`: keys are qualified names (case-insensitively) and the total
/// size is at most 256 KiB.
pub(crate) fn validate_annotations(errs: &mut Errs, annotations: Option<&Value>, path: &Path) {
    let Some(v) = annotations.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(map) = v.as_object() else {
        errs.push(type_error(path, v, "object"));
        return;
    };
    let mut total = 0usize;
    for (k, val) in str_entries(errs, map, path) {
        invalid_each(errs, path, k, names::qualified_name(&k.to_lowercase()));
        total += k.len() + val.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(super::util::too_long(
            path.as_str(),
            TOTAL_ANNOTATION_SIZE_LIMIT,
        ));
    }
}

/// Upstream's `ValidateFinalizers`: qualified names, and not both orphan and
/// foregroundDeletion.
pub(crate) fn validate_finalizers(errs: &mut Errs, finalizers: Option<&Value>, path: &Path) {
    let Some(v) = finalizers.filter(|v| !v.is_null()) else {
        return;
    };
    let Some(list) = v.as_array() else {
        errs.push(type_error(path, v, "array"));
        return;
    };
    let mut orphan = false;
    let mut foreground = false;
    for (i, f) in list.iter().enumerate() {
        let Some(f) = f.as_str() else {
            errs.push(type_error(&path.index(i), f, "string"));
            continue;
        };
        invalid_each(errs, path, f, names::qualified_name(f));
        orphan |= f == "orphan";
        foreground |= f == "foregroundDeletion";
    }
    if orphan && foreground {
        errs.push(FieldError::invalid(
            path,
            v.clone(),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Upstream's `ValidateOwnerReferences` (errors are reported on the list's path, without an
/// index, as upstream does).
fn validate_owner_references(errs: &mut Errs, meta: &Value, meta_path: &Path) {
    let path = meta_path.child("ownerReferences");
    let mut first_controller: Option<String> = None;
    for (i, r) in get_arr(errs, meta, "ownerReferences", meta_path)
        .iter()
        .enumerate()
    {
        if !r.is_object() {
            errs.push(type_error(&path.index(i), r, "object"));
            continue;
        }
        let mut scratch = Vec::new();
        let api_version = get_str(errs, r, "apiVersion", &path).unwrap_or("");
        let kind = get_str(errs, r, "kind", &path).unwrap_or("");
        let name = get_str(errs, r, "name", &path).unwrap_or("");
        let uid = get_str(errs, r, "uid", &path).unwrap_or("");
        let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => ("", *v),
            [g, v] => (*g, *v),
            _ => ("", ""),
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(
                path.child("apiVersion"),
                Value::from(api_version),
                "version must not be empty",
            ));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(
                path.child("kind"),
                Value::from(kind),
                "must not be empty",
            ));
        }
        if name.is_empty() {
            errs.push(FieldError::invalid(
                path.child("name"),
                Value::from(name),
                "must not be empty",
            ));
        }
        if uid.is_empty() {
            errs.push(FieldError::invalid(
                path.child("uid"),
                Value::from(uid),
                "must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                &path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if get_bool(&mut scratch, r, "controller", &path) == Some(true) {
            let current = format!("{kind}/{name}");
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    &path,
                    get(meta, "ownerReferences").cloned().unwrap_or(Value::Null),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
        errs.append(&mut scratch);
    }
}

/// Upstream's `ValidateLabelSelector` (values checked strictly). Returns whether the selector
/// converts to a `labels.Selector` (upstream's `LabelSelectorAsSelector` succeeds).
pub(crate) fn validate_label_selector(errs: &mut Errs, sel: &Value, path: &Path) -> bool {
    let before = errs.len();
    if !sel.is_object() {
        errs.push(type_error(path, sel, "object"));
        return false;
    }
    validate_labels(errs, get(sel, "matchLabels"), &path.child("matchLabels"));
    let exprs_path = path.child("matchExpressions");
    for (i, expr) in get_arr(errs, sel, "matchExpressions", path)
        .iter()
        .enumerate()
    {
        let p = exprs_path.index(i);
        if !expr.is_object() {
            errs.push(type_error(&p, expr, "object"));
            continue;
        }
        let op = get_str(errs, expr, "operator", &p).unwrap_or("");
        let values = super::util::get_str_list(errs, expr, "values", &p);
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(
                p.child("operator"),
                Value::from(op),
                "not a valid selector operator",
            )),
        }
        let key = get_str(errs, expr, "key", &p).unwrap_or("");
        invalid_each(errs, &p.child("key"), key, names::qualified_name(key));
        for (j, v) in values.iter().enumerate() {
            invalid_each(errs, &p.child("values").index(j), v, names::label_value(v));
        }
    }
    errs.len() == before
}

/// How a structured selector relates to a label map: whether it is empty (matches
/// everything) and whether it matches. A missing selector matches nothing, as upstream.
pub(crate) fn selector_matches(selector: Option<&Value>, labels: Option<&Value>) -> (bool, bool) {
    match LabelSelector::from_structured(selector) {
        Ok(sel) => (
            sel.is_empty(),
            sel.matches(labels.and_then(Value::as_object)),
        ),
        Err(_) => (false, false),
    }
}

/// The number of requirements of a structured selector (`matchLabels` plus
/// `matchExpressions`).
pub(crate) fn selector_len(sel: &Value) -> usize {
    let labels = get(sel, "matchLabels")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    let exprs = get(sel, "matchExpressions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    labels + exprs
}
