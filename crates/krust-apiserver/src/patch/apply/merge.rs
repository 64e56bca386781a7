//! Merging an applied configuration into the live object, and pruning the fields an applier
//! stopped applying.
//!
//! Merge: leaves (scalars, atomic lists and maps) take the configuration's value; granular maps
//! and structs merge key by key; set lists merge by value and map lists by key fields, keeping
//! live-only items where they were and the configuration's order for the items it names.
//!
//! Prune: a node the applier owned by its previous apply (a member, or for a field any path
//! below it) that no manager owns now (the new configuration included) is removed with
//! everything below it.

use crate::patch::fieldset::schema::{MAX_DEPTH, Shape, Ty, kind};
use crate::patch::fieldset::{FieldSet, Path, PathElement, render_path};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Merges `rhs` (applied) into `lhs` (live); `None` for `lhs` means absent.
pub fn merge(lhs: Option<&Value>, rhs: &Value, ty: Ty<'_>) -> Result<Value, String> {
    let mut path = Vec::new();
    merge_at(lhs, rhs, ty, &mut path, 0)
}

fn merge_at(
    lhs: Option<&Value>,
    rhs: &Value,
    ty: Ty<'_>,
    path: &mut Path,
    depth: usize,
) -> Result<Value, String> {
    let lhs = lhs.filter(|l| !l.is_null());
    if depth > MAX_DEPTH {
        return Ok(rhs.clone());
    }
    if rhs.is_null() {
        // A null configuration keeps a granular live value that has content.
        return Ok(match lhs {
            Some(l) if ty.shape(l) != Shape::Leaf && !is_empty_container(l) => l.clone(),
            _ => Value::Null,
        });
    }
    let Some(l) = lhs.filter(|l| kind(l) == kind(rhs)) else {
        return Ok(rhs.clone());
    };
    match (ty.shape(rhs), l, rhs) {
        (Shape::Map, Value::Object(lm), Value::Object(rm)) => {
            let mut out = lm.clone();
            for (k, rv) in rm {
                path.push(PathElement::Field(k.clone()));
                let merged = merge_at(lm.get(k), rv, ty.field(k).ty, path, depth + 1)?;
                path.pop();
                out.insert(k.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (shape @ (Shape::Set | Shape::Assoc(_)), Value::Array(la), Value::Array(ra)) => {
            if la.is_empty() && ra.is_empty() {
                return Ok(rhs.clone());
            }
            merge_list(la, ra, &shape, ty, path, depth).map(Value::Array)
        }
        _ => Ok(rhs.clone()),
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn merge_list(
    la: &[Value],
    ra: &[Value],
    shape: &Shape<'_>,
    ty: Ty<'_>,
    path: &mut Path,
    depth: usize,
) -> Result<Vec<Value>, String> {
    let elem = ty.elem();
    let mut rhs_items = Vec::with_capacity(ra.len());
    let mut rhs_index = BTreeSet::new();
    for (i, item) in ra.iter().enumerate() {
        let pe = ty
            .item_element(shape, item)
            .map_err(|e| format!("{}: element {i}: {e}", render_path(path)))?;
        if !rhs_index.insert(pe.clone()) {
            return Err(format!(
                "{}: duplicate entries for key {}",
                render_path(path),
                pe.render()
            ));
        }
        rhs_items.push((pe, item));
    }
    let lhs_items: Vec<(PathElement, &Value)> = la
        .iter()
        .enumerate()
        .map(|(i, item)| (ty.item_element_lenient(shape, item, i), item))
        .collect();
    let mut lhs_first: BTreeMap<&PathElement, &Value> = BTreeMap::new();
    for (pe, item) in &lhs_items {
        lhs_first.entry(pe).or_insert(item);
    }

    // Live-only items stay where they are; when the walk over the live list reaches an item
    // the configuration names, the configuration's items are emitted (in its order) up to and
    // including that one.
    let mut out = Vec::with_capacity(la.len().max(ra.len()));
    let mut emitted = BTreeSet::new();
    let (mut li, mut ri) = (0, 0);
    while li < lhs_items.len() || ri < rhs_items.len() {
        if let Some((pe, item)) = lhs_items.get(li) {
            if emitted.contains(pe) {
                li += 1;
                continue;
            }
            if !rhs_index.contains(pe) {
                out.push((*item).clone());
                li += 1;
                continue;
            }
        }
        let Some((pe, item)) = rhs_items.get(ri) else {
            li += 1;
            continue;
        };
        path.push(pe.clone());
        let merged = merge_at(lhs_first.get(pe).copied(), item, elem, path, depth + 1)?;
        path.pop();
        out.push(merged);
        emitted.insert(pe.clone());
        ri += 1;
    }
    Ok(out)
}

/// Removes from `v` what the applier applied last time (`last`) and nobody owns now (`owned`,
/// the union of every manager's set after this apply).
pub fn prune(v: &mut Value, ty: Ty<'_>, last: &FieldSet, owned: &FieldSet) {
    prune_at(v, ty, last, Some(owned), 0);
}

fn prune_at(v: &mut Value, ty: Ty<'_>, last: &FieldSet, owned: Option<&FieldSet>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let owns = |pe: &PathElement| owned.is_some_and(|o| o.has_member(pe));
    let owns_below = |pe: &PathElement| owned.is_some_and(|o| o.touches(pe));
    match (ty.shape(v), v) {
        (Shape::Map, Value::Object(obj)) => {
            let keys: Vec<String> = obj.keys().cloned().collect();
            for k in keys {
                let pe = PathElement::Field(k.clone());
                if !last.touches(&pe) {
                    continue;
                }
                if !owns_below(&pe) {
                    obj.remove(&k);
                    continue;
                }
                if let (Some(l), Some(child)) = (last.child(&pe), obj.get_mut(&k)) {
                    prune_at(
                        child,
                        ty.field(&k).ty,
                        l,
                        owned.and_then(|o| o.child(&pe)),
                        depth + 1,
                    );
                }
            }
        }
        (shape @ (Shape::Set | Shape::Assoc(_)), Value::Array(items)) => {
            let elem = ty.elem();
            let old = std::mem::take(items);
            for (i, mut item) in old.into_iter().enumerate() {
                let pe = ty.item_element_lenient(&shape, &item, i);
                if last.has_member(&pe) && !owns(&pe) {
                    continue;
                }
                if let Some(l) = last.child(&pe) {
                    prune_at(
                        &mut item,
                        elem,
                        l,
                        owned.and_then(|o| o.child(&pe)),
                        depth + 1,
                    );
                }
                items.push(item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_spec() -> Ty<'static> {
        Ty::root(krust_api::openapi::definition("io.k8s.api.core.v1.Pod"))
    }

    #[test]
    fn merge_keeps_live_only_items_in_place() {
        let live = json!({"spec": {"containers": [
            {"name": "a", "image": "1"}, {"name": "b", "image": "2"}, {"name": "c", "image": "3"}
        ]}});
        let cfg = json!({"spec": {"containers": [{"name": "c", "image": "4"}, {"name": "d"}]}});
        let merged = merge(Some(&live), &cfg, pod_spec()).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"containers": [
                {"name": "a", "image": "1"}, {"name": "b", "image": "2"},
                {"name": "c", "image": "4"}, {"name": "d"}
            ]}})
        );
        let reordered = json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}});
        let merged = merge(Some(&live), &reordered, pod_spec()).unwrap();
        let names: Vec<&str> = merged["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["b", "a", "c"]);
    }

    #[test]
    fn merge_null_keeps_granular_live_values() {
        let live = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"nodeName": "n"}});
        let cfg = json!({"metadata": {"labels": null}, "spec": {"nodeName": null}});
        let merged = merge(Some(&live), &cfg, pod_spec()).unwrap();
        assert_eq!(
            merged,
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"nodeName": null}})
        );
    }

    #[test]
    fn prune_removes_unowned_fields_only() {
        let mut v = json!({"metadata": {"labels": {"a": "1", "b": "2", "c": "3"}}});
        let last = FieldSet::from_fields_v1(&json!({
            "f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}}
        }))
        .unwrap();
        let owned =
            FieldSet::from_fields_v1(&json!({"f:metadata": {"f:labels": {"f:b": {}}}})).unwrap();
        prune(&mut v, pod_spec(), &last, &owned);
        assert_eq!(v, json!({"metadata": {"labels": {"b": "2", "c": "3"}}}));
    }
}
