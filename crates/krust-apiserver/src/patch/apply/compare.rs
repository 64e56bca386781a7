//! Comparison of two versions of an object into the field sets that were added, modified and
//! removed (upstream's `TypedValue.Compare`): leaves (scalars, atomic lists and maps, empty
//! maps and lists) that differ are modified; every node present on one side only is added or
//! removed, including the granular maps, lists and list items themselves.

use crate::patch::fieldset::schema::{MAX_DEPTH, Shape, Ty, kind};
use crate::patch::fieldset::{FieldSet, Path, PathElement};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The difference between two versions of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

impl Comparison {
    /// Fields whose value the change set (added or modified).
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    /// Applies `f` to the three sets.
    pub fn map(self, f: impl Fn(&FieldSet) -> FieldSet) -> Comparison {
        Comparison {
            added: f(&self.added),
            modified: f(&self.modified),
            removed: f(&self.removed),
        }
    }
}

/// Compares `lhs` (before) with `rhs` (after).
pub fn compare(lhs: &Value, rhs: &Value, ty: Ty<'_>) -> Comparison {
    let mut out = Comparison::default();
    let mut path = Vec::new();
    walk(Some(lhs), Some(rhs), ty, &mut path, &mut out, 0);
    out
}

fn leaf(l: Option<&Value>, r: Option<&Value>, path: &Path, out: &mut Comparison) {
    match (l, r) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if a != b => out.modified.insert(path),
        _ => {}
    }
}

fn walk(
    l: Option<&Value>,
    r: Option<&Value>,
    ty: Ty<'_>,
    path: &mut Path,
    out: &mut Comparison,
    depth: usize,
) {
    let present = r.filter(|v| !v.is_null()).or(l.filter(|v| !v.is_null()));
    let mismatched = matches!((l, r), (Some(a), Some(b))
        if !a.is_null() && !b.is_null() && kind(a) != kind(b));
    let shape = match present {
        Some(v) if !mismatched && depth <= MAX_DEPTH => ty.shape(v),
        _ => Shape::Leaf,
    };
    match shape {
        Shape::Leaf => return leaf(l, r, path, out),
        Shape::Map => {
            let lm = l.and_then(Value::as_object).filter(|m| !m.is_empty());
            let rm = r.and_then(Value::as_object).filter(|m| !m.is_empty());
            if lm.is_none() && rm.is_none() {
                return leaf(l, r, path, out);
            }
            let keys: BTreeSet<&String> =
                lm.iter().chain(rm.iter()).flat_map(|m| m.keys()).collect();
            for k in keys {
                let (lv, rv) = (lm.and_then(|m| m.get(k)), rm.and_then(|m| m.get(k)));
                path.push(PathElement::Field(k.clone()));
                walk(lv, rv, ty.field(k).ty, path, out, depth + 1);
                path.pop();
            }
        }
        shape @ (Shape::Set | Shape::Assoc(_)) => {
            let la = l.and_then(Value::as_array).filter(|a| !a.is_empty());
            let ra = r.and_then(Value::as_array).filter(|a| !a.is_empty());
            if la.is_none() && ra.is_none() {
                return leaf(l, r, path, out);
            }
            let (li, ri) = (index(ty, &shape, la), index(ty, &shape, ra));
            let elem = ty.elem();
            let pes: BTreeSet<&PathElement> = li.keys().chain(ri.keys()).collect();
            for pe in pes {
                let (lv, rv) = (li.get(pe), ri.get(pe));
                path.push(pe.clone());
                match (lv.map(Vec::as_slice), rv.map(Vec::as_slice)) {
                    (Some([a]), Some([b])) => walk(Some(*a), Some(*b), elem, path, out, depth + 1),
                    (Some([a]), None) => walk(Some(*a), None, elem, path, out, depth + 1),
                    (None, Some([b])) => walk(None, Some(*b), elem, path, out, depth + 1),
                    // Duplicated keys: the items are compared as a whole.
                    (a, b) if a == b => {}
                    _ => out.modified.insert(path),
                }
                path.pop();
            }
        }
    }
    // A granular node that exists on one side only is itself added or removed, except the
    // structs of built-in kinds, which upstream's zero values always hold.
    let builtin_field_struct =
        matches!(path.last(), Some(PathElement::Field(_))) && ty.is_builtin_struct();
    match (l, r) {
        (None, Some(_)) if !builtin_field_struct => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

/// The items of a granular list by path element (several when keys repeat).
fn index<'v>(
    ty: Ty<'_>,
    shape: &Shape<'_>,
    items: Option<&'v Vec<Value>>,
) -> BTreeMap<PathElement, Vec<&'v Value>> {
    let mut map: BTreeMap<PathElement, Vec<&'v Value>> = BTreeMap::new();
    for (i, item) in items.into_iter().flatten().enumerate() {
        map.entry(ty.item_element_lenient(shape, item, i))
            .or_default()
            .push(item);
    }
    map
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compare_reports_added_modified_removed() {
        let schema = krust_api::openapi::definition("io.k8s.api.apps.v1.Deployment");
        let ty = Ty::root(schema);
        let old = json!({
            "metadata": {"name": "d", "labels": {"a": "1", "b": "2"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "x", "image": "i1"}, {"name": "y", "image": "i2"}
            ]}}}
        });
        let new = json!({
            "metadata": {"name": "d", "labels": {"a": "1", "c": "3"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "x", "image": "i1"}, {"name": "z", "image": "i3"}
            ], "securityContext": {"runAsUser": 1}}}}
        });
        let c = compare(&old, &new, ty);
        assert_eq!(
            c.added.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:c": {}}},
                "f:spec": {"f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"z\"}": {".": {}, "f:image": {}, "f:name": {}}},
                    "f:securityContext": {"f:runAsUser": {}}
                }}}
            })
        );
        assert_eq!(
            c.modified.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            c.removed.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {"f:b": {}}},
                "f:spec": {"f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"y\"}": {".": {}, "f:image": {}, "f:name": {}}}
                }}}
            })
        );
        let same = compare(&old, &old, ty);
        assert!(same.added.is_empty() && same.modified.is_empty() && same.removed.is_empty());
    }
}
