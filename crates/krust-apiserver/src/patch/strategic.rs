//! Strategic merge patch (`application/strategic-merge-patch+json`), with the semantics of
//! upstream's `k8s.io/apimachinery/pkg/util/strategicpatch` as the API server applies it
//! (`StrategicMergeMapPatch`: parallel lists merged, unmatched nulls ignored).
//!
//! The patch is a JSON merge patch whose lists may merge instead of being replaced: a field's
//! OpenAPI node carries `x-kubernetes-patch-strategy` (`merge`, `retainKeys`, `merge,retainKeys`,
//! `replace`) and `x-kubernetes-patch-merge-key`. Lists of objects with strategy `merge` merge
//! item by item on the merge key, lists of primitives with strategy `merge` merge as sets; every
//! other list is replaced. The directives:
//!
//! - `$patch: replace` / `$patch: delete` in an object replace it with the rest of the patch
//!   object / with an empty object (`$patch: merge` there is an error, as upstream);
//! - list items `{"$patch": "delete", <key>: v}` delete the items with that key, an item
//!   `{"$patch": "replace"}` replaces the whole list with the other items;
//! - `$deleteFromPrimitiveList/<field>: [..]` removes values from a primitive list;
//! - `$setElementOrder/<field>: [..]` gives the order of a merged list (items the patch does not
//!   mention keep their relative order and are interleaved as upstream does);
//! - `$retainKeys: [..]` drops the original's keys that are not listed.
//!
//! The ordering of merged lists follows upstream exactly, including its quirks: new items of a
//! merged list come first, and `$setElementOrder` places server-only items using the original
//! list as upstream sees it after deletions and additions reused its slots. Values taken from the
//! patch as they are (new fields, appended items, replaced lists) lose their directive keys and
//! `null` members, which is what upstream's decoding into the typed object does.

use krust_api::openapi;
use serde_json::{Map, Value};

/// How deep patches may nest before they are rejected.
const MAX_DEPTH: usize = 100;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_STRATEGY: &str = "retainKeys";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const GO_MAP: &str = "map[string]interface {}";
const GO_SLICE: &str = "[]interface {}";

/// Why a strategic merge patch cannot be applied (messages as upstream's).
#[derive(Debug, thiserror::Error)]
pub enum StrategicPatchError {
    /// The patch document is not a JSON object.
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    PatchNotObject(&'static str),
    /// The original document is not a JSON object.
    #[error("invalid JSON document")]
    OriginalNotObject,
    /// `$patch` with a value that is not valid where it appears.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType { directive: String, map: String },
    /// `$patch: merge` inside a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// An item of a merged list lacks the merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// A value has the wrong JSON type for its position.
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
    /// A list item that should be an object is not.
    #[error("value for key {0} is not a map")]
    ItemNotAMap(usize),
    /// Malformed `$deleteFromPrimitiveList/...` directive.
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    /// Malformed `$retainKeys` directive, or patch keys missing from it.
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    /// Malformed `$setElementOrder/...` directive.
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    /// The patch list is not ordered as its `$setElementOrder` list.
    #[error("the order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}")]
    SetElementOrderMismatch { patch: String, order: String },
    /// A list of lists.
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// A merged list mixes element types.
    #[error("list element types are not identical: {0}")]
    ListElementTypesNotIdentical(String),
    /// Ordering a list with no elements in the original nor the patch.
    #[error("no elements in any of the given slices")]
    NoElements,
    /// A list of objects with strategy `merge` but no merge key.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyForList(String),
    /// A field's patch strategy cannot be understood.
    #[error("unexpected patch strategy: {0}")]
    UnexpectedPatchStrategy(String),
    /// The patch nests deeper than the engine accepts.
    #[error("strategic merge patch nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl StrategicPatchError {
    /// Whether upstream answers this error with 400 Bad Request (malformed patch format) rather
    /// than 422 / 500.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::PatchNotObject(_)
                | Self::OriginalNotObject
                | Self::BadPatchFormatForPrimitiveList
                | Self::BadPatchFormatForRetainKeys
                | Self::BadPatchFormatForSetElementOrderList
        )
    }
}

type Result<T, E = StrategicPatchError> = std::result::Result<T, E>;

/// Applies a strategic merge patch to `original` (both JSON objects at the same served version).
/// `schema` is the OpenAPI definition of the kind (e.g. krust_api::openapi::definition("io.k8s.api.apps.v1.Deployment")),
/// used to find each field's patch strategy and merge key; fields without metadata (or schema None) behave as in JSON merge patch (lists replaced).
pub fn apply(
    original: &serde_json::Value,
    patch: &serde_json::Value,
    schema: Option<&serde_json::Value>,
) -> Result<serde_json::Value, StrategicPatchError> {
    let patch = match patch {
        Value::Object(m) => m.clone(),
        // Upstream unmarshals `null` into a nil map: the patch changes nothing.
        Value::Null => return Ok(original.clone()),
        other => return Err(StrategicPatchError::PatchNotObject(json_kind_name(other))),
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(StrategicPatchError::OriginalNotObject),
    };
    merge_map(original, patch, schema, 0).map(Value::Object)
}

// ---------------------------------------------------------------------------------------------
// Schema metadata
// ---------------------------------------------------------------------------------------------

/// The patch metadata of one field: the schema to recurse with (the field's type for objects,
/// the element type for lists), the patch strategy without `retainKeys`, and the merge key.
struct PatchMeta<'a> {
    schema: Option<&'a Value>,
    strategy: String,
    merge_key: String,
}

/// The schema node of field `key` of an object schema (a struct's property, or the value schema
/// of a map).
fn field_node<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let resolved = openapi::resolve(schema?);
    if let Some(props) = resolved.get("properties").and_then(Value::as_object) {
        return props.get(key);
    }
    resolved
        .get("additionalProperties")
        .filter(|v| v.is_object())
}

fn lookup<'a>(schema: Option<&'a Value>, key: &str, for_slice: bool) -> Result<PatchMeta<'a>> {
    let Some(node) = field_node(schema, key) else {
        return Ok(PatchMeta {
            schema: None,
            strategy: String::new(),
            merge_key: String::new(),
        });
    };
    let meta = openapi::list_meta(node);
    let strategy = extract_retain_keys_strategy(meta.patch_strategy.as_deref())?;
    Ok(PatchMeta {
        schema: if for_slice {
            openapi::items(node)
        } else {
            Some(node)
        },
        strategy,
        merge_key: meta.merge_key.unwrap_or_default(),
    })
}

/// The strategy of a field besides `retainKeys` (which `$retainKeys` carries in the patch).
fn extract_retain_keys_strategy(strategy: Option<&str>) -> Result<String> {
    let parts: Vec<&str> = match strategy {
        None | Some("") => Vec::new(),
        Some(s) => s.split(',').collect(),
    };
    match parts.as_slice() {
        [] => Ok(String::new()),
        [one] if *one == RETAIN_KEYS_STRATEGY => Ok(String::new()),
        [one] => Ok((*one).to_string()),
        [a, b] if *a == RETAIN_KEYS_STRATEGY => Ok((*b).to_string()),
        [a, b] if *b == RETAIN_KEYS_STRATEGY => Ok((*a).to_string()),
        _ => Err(StrategicPatchError::UnexpectedPatchStrategy(format!(
            "[{}]",
            parts.join(" ")
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Maps
// ---------------------------------------------------------------------------------------------

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Option<&Value>,
    depth: usize,
) -> Result<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return Err(StrategicPatchError::TooDeep);
    }
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return handle_directive_in_merge_map(directive, &patch, depth);
    }

    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, schema, depth)?;

    // Upstream visits the keys in Go's random map order; process the deletion lists last, so a
    // value both added and deleted ends up deleted (upstream's most frequent outcome).
    let (regular, deletions): (Vec<_>, Vec<_>) = patch
        .into_iter()
        .partition(|(k, _)| !k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX));
    for (key, patch_v) in regular.into_iter().chain(deletions) {
        let (k, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?, true)
        } else {
            (key, false)
        };

        // A null deletes the key (and unmatched nulls are dropped).
        if patch_v.is_null() {
            remove_key(&mut original, &k);
            continue;
        }

        let Some(slot) = original.get_mut(&k) else {
            let new = if is_delete_list {
                None
            } else {
                sanitize_new(patch_v, depth + 1)?
            };
            if let Some(v) = new {
                original.insert(k, v);
            }
            continue;
        };

        match (slot, patch_v) {
            (Value::Object(o), Value::Object(p)) => {
                let meta = lookup(schema, &k, false)?;
                let o = std::mem::take(o);
                let merged = if meta.strategy == REPLACE_DIRECTIVE {
                    clean_map(p, depth + 1)?
                } else {
                    merge_map(o, p, meta.schema, depth + 1)?
                };
                original.insert(k, Value::Object(merged));
            }
            (Value::Array(o), Value::Array(p)) => {
                let meta = lookup(schema, &k, true)?;
                let o = std::mem::take(o);
                let (merged, _) = merge_slice_handler(o, p, &meta, &k, is_delete_list, depth + 1)?;
                original.insert(k, Value::Array(merged));
            }
            (slot @ (Value::Object(_) | Value::Array(_)), patch_v) => {
                // Different types: the patch value replaces the original one.
                if !is_delete_list {
                    match sanitize_new(patch_v, depth + 1)? {
                        Some(v) => *slot = v,
                        None => remove_key(&mut original, &k),
                    }
                }
            }
            (slot, patch_v @ (Value::Object(_) | Value::Array(_))) => {
                if !is_delete_list {
                    match sanitize_new(patch_v, depth + 1)? {
                        Some(v) => *slot = v,
                        None => remove_key(&mut original, &k),
                    }
                }
            }
            (slot, patch_v) => *slot = patch_v,
        }
    }
    Ok(original)
}

/// `$patch` in an object: `replace` keeps only the patch, `delete` leaves an empty object.
fn handle_directive_in_merge_map(
    directive: &Value,
    patch: &Map<String, Value>,
    depth: usize,
) -> Result<Map<String, Value>> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            let mut rest = patch.clone();
            remove_key(&mut rest, DIRECTIVE_MARKER);
            clean_map(rest, depth)
        }
        Some(DELETE_DIRECTIVE) => Ok(Map::new()),
        _ => Err(StrategicPatchError::BadPatchType {
            directive: go_fmt(directive),
            map: go_fmt_map(patch),
        }),
    }
}

/// `$retainKeys`: every (non-null, non-directive) patch key must be listed; original keys not
/// listed are dropped.
fn apply_retain_keys_directive(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<()> {
    let Some(retain) = patch.get(RETAIN_KEYS_DIRECTIVE).cloned() else {
        return Ok(());
    };
    remove_key(patch, RETAIN_KEYS_DIRECTIVE);
    let Value::Array(list) = retain else {
        return Err(StrategicPatchError::BadPatchFormatForRetainKeys);
    };
    let listed = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !listed(k) {
            return Err(StrategicPatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Processes each `$setElementOrder/<field>` with the patch list of `<field>`: merges the list
/// and then orders it; both keys are removed from the patch.
fn merge_patch_into_original(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Option<&Value>,
    depth: usize,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for key in keys {
        let Some(order_v) = patch.get(&key).cloned() else {
            continue;
        };
        remove_key(patch, &key);
        let order = match order_v {
            Value::Array(a) => a,
            other => {
                return Err(StrategicPatchError::BadArgType {
                    expected: GO_SLICE,
                    actual: go_type_name(&other),
                });
            }
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = match original.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => {
                return Err(StrategicPatchError::BadArgType {
                    expected: GO_SLICE,
                    actual: go_type_name(other),
                });
            }
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => {
                return Err(StrategicPatchError::BadArgType {
                    expected: GO_SLICE,
                    actual: go_type_name(other),
                });
            }
        };
        let meta = lookup(schema, &field, true)?;
        let merge_key = meta.merge_key.as_str();
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            merge_key,
        )?;
        let kind = slice_element_type(&[
            original_list.as_deref().unwrap_or_default(),
            patch_list.as_deref().unwrap_or_default(),
        ]);

        let (merged, server_order) = match (original_list, patch_list) {
            (Some(o), None) => (o.clone(), o),
            (None, Some(p)) => (remove_directives_list(p, depth + 1)?, Vec::new()),
            (Some(o), Some(p)) => merge_slice_handler(o, p, &meta, &field, false, depth + 1)?,
            (None, None) => continue,
        };

        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives_by_present_in_list(merged, &order)
        } else {
            partition_maps_by_present_in_list(merged, &order, merge_key)?
        };
        let kind = kind?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &server_order,
            merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        remove_key(patch, &field);
    }
    Ok(())
}

/// Checks that the patch list's items (deletions and directives aside) appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        let mut v = Vec::new();
        for item in patch_list {
            let m = as_map(item)?;
            if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE) {
                v.push(item);
            }
        }
        v
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if contains_directive_marker(non_delete[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(non_delete[pi], &order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(StrategicPatchError::SetElementOrderMismatch {
            patch: go_fmt_list(patch_list),
            order: go_fmt_list(order),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------

/// Merges a list field. Returns the merged list and the original list as upstream sees it
/// afterwards (deletions shift items left in place and appended items reuse the freed slots),
/// which `$setElementOrder` uses to place server-only items.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &PatchMeta<'_>,
    field: &str,
    is_delete_list: bool,
    depth: usize,
) -> Result<(Vec<Value>, Vec<Value>)> {
    if meta.strategy == MERGE_DIRECTIVE || is_delete_list {
        merge_slice(original, patch, meta, field, is_delete_list, depth)
    } else {
        let replaced = patch
            .into_iter()
            .map(|v| clean(v, depth))
            .collect::<Result<Vec<_>>>()?;
        Ok((replaced, original))
    }
}

fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: &PatchMeta<'_>,
    field: &str,
    is_delete_list: bool,
    depth: usize,
) -> Result<(Vec<Value>, Vec<Value>)> {
    if depth > MAX_DEPTH {
        return Err(StrategicPatchError::TooDeep);
    }
    if original.is_empty() && patch.is_empty() {
        return Ok((original, Vec::new()));
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let merge_key = meta.merge_key.as_str();

    if kind != Kind::Object {
        if is_delete_list {
            let merged = original
                .iter()
                .filter(|v| !patch.contains(v))
                .cloned()
                .collect();
            return Ok((merged, original));
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        let merged = deduplicate_scalars(both);
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives_by_present_in_list(merged, &patch)
        } else {
            partition_maps_by_present_in_list(merged, &patch, merge_key)?
        };
        let result =
            normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)?;
        return Ok((result, original));
    }

    if merge_key.is_empty() {
        return Err(StrategicPatchError::NoMergeKeyForList(field.to_string()));
    }

    // Special elements: deletions shift the original's items in place, `replace` swaps the
    // list for the patch's other items.
    let mut backing = SliceModel::new(original);
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let m = match item {
            Value::Object(m) => m,
            other => {
                return Err(StrategicPatchError::BadArgType {
                    expected: GO_MAP,
                    actual: go_type_name(&other),
                });
            }
        };
        match m.get(DIRECTIVE_MARKER) {
            None => rest.push(m),
            Some(directive) => match directive.as_str() {
                Some(DELETE_DIRECTIVE) => match m.get(merge_key) {
                    Some(value) => backing.delete_matching(merge_key, value)?,
                    None => {
                        return Err(StrategicPatchError::NoMergeKey {
                            map: go_fmt_map(&m),
                            key: merge_key.to_string(),
                        });
                    }
                },
                Some(REPLACE_DIRECTIVE) => replace = true,
                Some(MERGE_DIRECTIVE) => return Err(StrategicPatchError::MergeDirectiveInList),
                _ => {
                    return Err(StrategicPatchError::BadPatchType {
                        directive: go_fmt(directive),
                        map: go_fmt_map(&m),
                    });
                }
            },
        }
    }

    let patch_order: Vec<Value>;
    let server_order: Vec<Value>;
    let merged: Vec<Value>;
    if replace {
        server_order = rest.into_iter().map(Value::Object).collect();
        patch_order = Vec::new();
        merged = server_order
            .iter()
            .map(|v| clean(v.clone(), depth))
            .collect::<Result<_>>()?;
    } else {
        server_order = backing.visible();
        patch_order = rest.iter().cloned().map(Value::Object).collect();
        for item in rest {
            let Some(value) = item.get(merge_key).cloned() else {
                return Err(StrategicPatchError::NoMergeKey {
                    map: go_fmt_map(&item),
                    key: merge_key.to_string(),
                });
            };
            match backing.find(merge_key, &value)? {
                Some(slot) => {
                    let Value::Object(o) = std::mem::take(slot) else {
                        // `find` only returns objects.
                        return Err(StrategicPatchError::BadArgType {
                            expected: GO_MAP,
                            actual: "%!s(<nil>)",
                        });
                    };
                    *slot = Value::Object(merge_map(o, item, meta.schema, depth + 1)?);
                }
                None => backing.append(clean(Value::Object(item), depth)?),
            }
        }
        merged = backing.visible();
    }

    let (patch_items, server_only) =
        partition_maps_by_present_in_list(merged, &patch_order, merge_key)?;
    let result = normalize_element_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        merge_key,
        kind,
    )?;
    Ok((result, backing.into_backing()))
}

/// A Go slice over a backing array of the original list's length: removing an item shifts the
/// later ones left (leaving the last slot stale), appending writes the next slot while it is
/// within the original length.
struct SliceModel {
    backing: Vec<Value>,
    len: usize,
    overflow: Vec<Value>,
}

impl SliceModel {
    fn new(original: Vec<Value>) -> Self {
        let len = original.len();
        Self {
            backing: original,
            len,
            overflow: Vec::new(),
        }
    }

    fn visible(&self) -> Vec<Value> {
        let n = self.len.min(self.backing.len());
        let mut v: Vec<Value> = self.backing.iter().take(n).cloned().collect();
        v.extend(self.overflow.iter().cloned());
        v
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Value> {
        let n = self.backing.len();
        if i < n {
            self.backing.get_mut(i)
        } else {
            self.overflow.get_mut(i - n)
        }
    }

    fn position(&self, key: &str, value: &Value) -> Result<Option<usize>> {
        let n = self.len.min(self.backing.len());
        for (i, item) in self
            .backing
            .iter()
            .take(n)
            .chain(self.overflow.iter())
            .enumerate()
        {
            let Value::Object(m) = item else {
                return Err(StrategicPatchError::ItemNotAMap(i));
            };
            if m.get(key) == Some(value) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    fn find(&mut self, key: &str, value: &Value) -> Result<Option<&mut Value>> {
        match self.position(key, value)? {
            Some(i) => Ok(self.get_mut(i)),
            None => Ok(None),
        }
    }

    fn delete_matching(&mut self, key: &str, value: &Value) -> Result<()> {
        while let Some(i) = self.position(key, value)? {
            // Deletions happen before any append, so `i < len <= backing.len()`.
            let len = self.len.min(self.backing.len());
            for j in i..len.saturating_sub(1) {
                let next = self.backing[j + 1].clone();
                self.backing[j] = next;
            }
            self.len = self.len.saturating_sub(1);
        }
        Ok(())
    }

    fn append(&mut self, v: Value) {
        if self.len < self.backing.len() {
            self.backing[self.len] = v;
        } else {
            self.overflow.push(v);
        }
        self.len += 1;
    }

    fn into_backing(self) -> Vec<Value> {
        self.backing
    }
}

/// Removes duplicates the way upstream does (a duplicate is overwritten by the last element).
fn deduplicate_scalars(mut s: Vec<Value>) -> Vec<Value> {
    if s.is_empty() {
        return s;
    }
    let mut length = s.len() - 1;
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if s[i] == s[j] {
                s[j] = s[length].clone();
                s.truncate(length);
                length -= 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    s
}

fn partition_primitives_by_present_in_list(
    list: Vec<Value>,
    by: &[Value],
) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| by.contains(v))
}

fn partition_maps_by_present_in_list(
    list: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut patch = Vec::new();
    let mut server_only = Vec::new();
    for v in list {
        let m = as_map(&v)?;
        let Some(key_value) = m.get(merge_key) else {
            return Err(StrategicPatchError::NoMergeKey {
                map: go_fmt_map(m),
                key: merge_key.to_string(),
            });
        };
        if find_map_in_slice(by, merge_key, key_value)?.is_some() {
            patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((patch, server_only))
}

fn find_map_in_slice(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in list.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(StrategicPatchError::ItemNotAMap(i));
        };
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------------------------

/// Sorts the patch items by `patch_order` and the server-only items by `server_order`, then
/// interleaves them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted_slice(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

/// Inserts the (sorted) `left` items into the (sorted) `right` ones: a left item goes first
/// only if both are in `server_order` and it comes earlier there.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Vec<Value> {
    let li: Vec<Option<usize>> = left
        .iter()
        .map(|v| index(server_order, v, merge_key, kind))
        .collect();
    let ri: Vec<Option<usize>> = right
        .iter()
        .map(|v| index(server_order, v, merge_key, kind))
        .collect();
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().zip(li).peekable();
    let mut right = right.into_iter().zip(ri).peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some((_, Some(l))), Some((_, Some(r)))) => l < r,
            (Some(_), Some(_)) => false,
            _ => break,
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((v, _)) = next {
            out.push(v);
        }
    }
    out.extend(left.map(|(v, _)| v));
    out.extend(right.map(|(v, _)| v));
    out
}

/// Sorts `to_sort` by the position of each item in `order` (stably, with upstream's comparator:
/// an item not in `order` compares as "less" than anything), deletions last.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>> {
    let (to_sort, to_delete) = if kind == Kind::Object {
        validate_merge_key_in_list(merge_key, &to_sort)?;
        validate_merge_key_in_list(merge_key, order)?;
        to_sort.into_iter().partition(|v| {
            v.get(DIRECTIVE_MARKER).and_then(Value::as_str) != Some(DELETE_DIRECTIVE)
        })
    } else {
        (to_sort, Vec::new())
    };
    let mut keyed: Vec<(Option<usize>, Value)> = to_sort
        .into_iter()
        .map(|v| (index(order, &v, merge_key, kind), v))
        .collect();
    go_stable_sort(&mut keyed, &|a, b| match (a.0, b.0) {
        (Some(i), Some(j)) => i < j,
        _ => true,
    });
    let mut out: Vec<Value> = keyed.into_iter().map(|(_, v)| v).collect();
    out.extend(to_delete);
    Ok(out)
}

fn validate_merge_key_in_list(merge_key: &str, list: &[Value]) -> Result<()> {
    for item in list {
        let m = as_map(item)?;
        if !m.contains_key(merge_key) {
            return Err(StrategicPatchError::NoMergeKey {
                map: go_fmt_map(m),
                key: merge_key.to_string(),
            });
        }
    }
    Ok(())
}

/// The position of `item` in `list`: by merge key value for objects, by value otherwise.
fn index(list: &[Value], item: &Value, merge_key: &str, kind: Kind) -> Option<usize> {
    let wanted = key_of(item, merge_key, kind);
    list.iter()
        .position(|v| key_of(v, merge_key, kind) == wanted)
}

/// What [`index`] compares: the merge key value of an object (null when missing), or the item.
fn key_of<'v>(v: &'v Value, merge_key: &str, kind: Kind) -> &'v Value {
    static NULL: Value = Value::Null;
    if kind == Kind::Object {
        v.as_object()
            .and_then(|m| m.get(merge_key))
            .unwrap_or(&NULL)
    } else {
        v
    }
}

/// Go's `sort.SliceStable` (insertion sort on blocks of 20, then SymMerge), reproduced because
/// upstream's comparator is not a strict weak order and the result depends on the algorithm.
fn go_stable_sort<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, less);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, less);
    while block < n {
        a = 0;
        b = 2 * block;
        while b <= n {
            sym_merge(data, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sym_merge<T>(data: &mut [T], a: usize, m: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i - 1 {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}

fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    let mut i = m - a;
    let mut j = b - m;
    while i != j {
        if i > j {
            swap_range(data, m - i, m, j);
            i -= j;
        } else {
            swap_range(data, m - i, m + j - i, i);
            j -= i;
        }
    }
    swap_range(data, m - i, m, i);
}

fn swap_range<T>(data: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        data.swap(a + i, b + i);
    }
}

// ---------------------------------------------------------------------------------------------
// Values taken from the patch
// ---------------------------------------------------------------------------------------------

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE_MARKER
        || k == RETAIN_KEYS_DIRECTIVE
        || k.strip_prefix(SET_ELEMENT_ORDER_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
        || k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A patch value for a key the original lacks (or holds with another type): null members are
/// dropped, objects carrying `$patch` are dropped (`None` at the top: the key is not set), and
/// other directive keys removed.
fn sanitize_new(v: Value, depth: usize) -> Result<Option<Value>> {
    if depth > MAX_DEPTH {
        return Err(StrategicPatchError::TooDeep);
    }
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return Ok(None);
            }
            let mut out = Map::new();
            for (k, child) in m {
                if child.is_null() || is_directive_key(&k) {
                    continue;
                }
                if let Some(c) = sanitize_new(child, depth + 1)? {
                    out.insert(k, c);
                }
            }
            Ok(Some(Value::Object(out)))
        }
        Value::Array(a) => remove_directives_list(a, depth).map(|a| Some(Value::Array(a))),
        other => Ok(Some(other)),
    }
}

fn remove_directives_list(list: Vec<Value>, depth: usize) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        if let Some(v) = sanitize_new(item, depth + 1)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// A patch value used as it is (appended item, replaced list or object): directive keys and
/// null members are removed, as decoding into the typed object does upstream.
fn clean(v: Value, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(StrategicPatchError::TooDeep);
    }
    match v {
        Value::Object(m) => clean_map(m, depth).map(Value::Object),
        Value::Array(a) => a
            .into_iter()
            .map(|v| clean(v, depth + 1))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array),
        other => Ok(other),
    }
}

fn clean_map(m: Map<String, Value>, depth: usize) -> Result<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return Err(StrategicPatchError::TooDeep);
    }
    let mut out = Map::new();
    for (k, v) in m {
        if v.is_null() || is_directive_key(&k) {
            continue;
        }
        out.insert(k, clean(v, depth + 1)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Removes a key keeping the order of the others.
fn remove_key(m: &mut Map<String, Value>, key: &str) {
    if m.contains_key(key) {
        m.retain(|k, _| k != key);
    }
}

/// The field name of a `<prefix>/<field>` directive key.
fn extract_key(s: &str, prefix: &str) -> Result<String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX => {
            Err(StrategicPatchError::BadPatchFormatForPrimitiveList)
        }
        _ => Err(StrategicPatchError::BadPatchFormatForSetElementOrderList),
    }
}

fn as_map(v: &Value) -> Result<&Map<String, Value>> {
    v.as_object().ok_or(StrategicPatchError::BadArgType {
        expected: GO_MAP,
        actual: go_type_name(v),
    })
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let l = as_map(left)?;
    let r = as_map(right)?;
    let missing = |m: &Map<String, Value>| StrategicPatchError::NoMergeKey {
        map: go_fmt_map(m),
        key: merge_key.to_string(),
    };
    let lv = l.get(merge_key).ok_or_else(|| missing(l))?;
    let rv = r.get(merge_key).ok_or_else(|| missing(r))?;
    Ok(lv == rv)
}

/// The Go dynamic type of a decoded JSON value (what upstream compares list elements by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    String,
    Array,
    Object,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_i64() => Kind::Int,
        Value::Number(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

/// The common element type of lists; lists of lists, mixed types and no elements are errors.
fn slice_element_type(lists: &[&[Value]]) -> Result<Kind> {
    let mut prev: Option<Kind> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let k = kind_of(item);
        match prev {
            None => {
                if k == Kind::Array {
                    return Err(StrategicPatchError::NoListOfLists);
                }
                if k == Kind::Null {
                    // Upstream cannot type a null element (it panics); refuse the list.
                    return Err(StrategicPatchError::ListElementTypesNotIdentical(
                        go_fmt_lists(lists),
                    ));
                }
                prev = Some(k);
            }
            Some(p) if p != k => {
                return Err(StrategicPatchError::ListElementTypesNotIdentical(
                    go_fmt_lists(lists),
                ));
            }
            Some(_) => {}
        }
    }
    prev.ok_or(StrategicPatchError::NoElements)
}

fn go_type_name(v: &Value) -> &'static str {
    match kind_of(v) {
        // Go's `%s` of a nil `reflect.Type`.
        Kind::Null => "%!s(<nil>)",
        Kind::Bool => "bool",
        Kind::Int => "int64",
        Kind::Float => "float64",
        Kind::String => "string",
        Kind::Array => GO_SLICE,
        Kind::Object => GO_MAP,
    }
}

fn json_kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `%v` of a decoded JSON value (for error messages).
fn go_fmt(v: &Value) -> String {
    let mut s = String::new();
    go_fmt_into(v, &mut s, 0);
    s
}

fn go_fmt_map(m: &Map<String, Value>) -> String {
    let mut s = String::new();
    go_fmt_map_into(m, &mut s, 0);
    s
}

fn go_fmt_list(l: &[Value]) -> String {
    let mut s = String::new();
    go_fmt_list_into(l, &mut s, 0);
    s
}

fn go_fmt_lists(lists: &[&[Value]]) -> String {
    let parts: Vec<String> = lists.iter().map(|l| go_fmt_list(l)).collect();
    format!("[{}]", parts.join(" "))
}

fn go_fmt_into(v: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(f)) => out.push_str(&go_fmt_float(f)),
            (None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(a) => go_fmt_list_into(a, out, depth),
        Value::Object(m) => go_fmt_map_into(m, out, depth),
    }
}

fn go_fmt_list_into(l: &[Value], out: &mut String, depth: usize) {
    out.push('[');
    for (i, v) in l.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        go_fmt_into(v, out, depth + 1);
    }
    out.push(']');
}

fn go_fmt_map_into(m: &Map<String, Value>, out: &mut String, depth: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    out.push_str("map[");
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        if let Some(v) = m.get(k) {
            go_fmt_into(v, out, depth + 1);
        }
    }
    out.push(']');
}

/// Go's `%v` of a float64 (`%g` with the shortest representation: exponent form below 1e-4 and
/// from 1e6 on).
fn go_fmt_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return f.to_string();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        f.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOYMENT_DEF: &str = "io.k8s.api.apps.v1.Deployment";
    const POD_DEF: &str = "io.k8s.api.core.v1.Pod";
    const SERVICE_DEF: &str = "io.k8s.api.core.v1.Service";
    const CONFIG_MAP_DEF: &str = "io.k8s.api.core.v1.ConfigMap";

    const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web","tier":"fe"},"annotations":{"a":"1"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.7","args":["-a","-b"],"ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"},{"name":"data","mountPath":"/data"}]},{"name":"sidecar","image":"busybox"}],"volumes":[{"name":"cfg","configMap":{"name":"cm"}},{"name":"data","emptyDir":{}}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"imagePullSecrets":[{"name":"reg1"}]}}}}"#;
    const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["a","b","c"],"labels":{"x":"1","y":"2"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"name":"a","image":"i"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}}"#;
    const SERVICE: &str = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":8080},{"name":"https","port":443,"targetPort":8443}]}}"#;
    const CONFIG_MAP: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k1":"v1","k2":"v2"}}"#;

    struct Case {
        name: &'static str,
        def: Option<&'static str>,
        original: &'static str,
        patch: &'static str,
        expected: &'static str,
    }

    fn run(def: Option<&str>, original: &str, patch: &str) -> Result<Value, StrategicPatchError> {
        let schema = def.map(|d| openapi::definition(d).expect("definition"));
        let original: Value = serde_json::from_str(original).expect("original");
        let patch: Value = serde_json::from_str(patch).expect("patch");
        apply(&original, &patch, schema)
    }

    /// Expected results produced by the real `kubectl patch --local --type strategic` (which
    /// runs upstream's strategicpatch), plus a few cases where upstream's decoding into the
    /// typed object matters (directive keys and nulls in values taken from the patch).
    #[test]
    fn table() {
        let cases = [
            Case {
                name: "set_image",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"image":"nginx:1.8","name":"nginx"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.8","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "apply_remove_container",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"$patch":"delete","name":"sidecar"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "apply_add_container_keeps_set_order",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"},{"name":"log"}],"containers":[{"name":"log","image":"fluentd"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"},{"image":"fluentd","name":"log"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "patch_new_container_goes_first",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"log","image":"fluentd"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"fluentd","name":"log"},{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "apply_reorder_containers",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"nginx"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"busybox","name":"sidecar"},{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "env_merge_by_name",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"10"},{"name":"C","value":"3"}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"10"},{"name":"C","value":"3"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "set_env_add",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"env":[{"name":"FOO","value":"bar"}],"name":"nginx"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"FOO","value":"bar"},{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "set_env_remove",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"$setElementOrder/env":[{"name":"B"}],"env":[{"$patch":"delete","name":"A"}],"name":"nginx"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "env_value_from_replaces_value",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":null,"valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "ports_merge_by_container_port",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","ports":[{"containerPort":80,"name":"http"},{"containerPort":8080}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"name":"http","protocol":"TCP"},{"containerPort":8080},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "ports_delete_by_container_port",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","$setElementOrder/ports":[{"containerPort":443}],"ports":[{"$patch":"delete","containerPort":80}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "volume_mounts_merge_by_mount_path",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","volumeMounts":[{"mountPath":"/data","readOnly":true},{"mountPath":"/tmp","name":"tmp"}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data","readOnly":true},{"mountPath":"/tmp","name":"tmp"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "volumes_retain_keys_switch_source",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/volumes":[{"name":"cfg"},{"name":"data"}],"volumes":[{"$retainKeys":["name","secret"],"name":"cfg","secret":{"secretName":"s"}}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"name":"cfg","secret":{"secretName":"s"}},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "volumes_merge_without_retain_keys_keeps_both",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"volumes":[{"name":"cfg","secret":{"secretName":"s"}}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg","secret":{"secretName":"s"}},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "strategy_rolling_to_recreate_retain_keys",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"Recreate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "strategy_retain_keys_keeps_listed",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"strategy":{"$retainKeys":["rollingUpdate","type"],"rollingUpdate":{"maxSurge":1}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "tolerations_replaced_without_strategy",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"tolerations":[{"key":"k3","operator":"Exists"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k3","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "args_replaced_without_strategy",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","args":["-c"]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-c"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "image_pull_secrets_merge_by_name",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"imagePullSecrets":[{"name":"reg2"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg2"},{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "nested_lists_in_new_and_old_containers",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"name":"nginx","$setElementOrder/ports":[{"containerPort":80},{"containerPort":443},{"containerPort":9090}],"ports":[{"containerPort":9090,"protocol":"TCP"}]},{"name":"sidecar","ports":[{"containerPort":7070}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"},{"containerPort":9090,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar","ports":[{"containerPort":7070}]}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "labels_null_deletes_and_adds",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"metadata":{"labels":{"tier":null,"env":"prod","missing":null}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","env":"prod"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "labels_patch_replace",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"metadata":{"labels":{"$patch":"replace","only":"me"}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"only":"me"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "map_patch_delete_leaves_empty_object",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"selector":{"$patch":"delete"}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "map_patch_delete_on_missing_key_is_dropped",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"minReadySeconds":5,"revisionHistoryLimitX":{"$patch":"delete"}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"minReadySeconds":5,"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "list_patch_replace_env",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"$patch":"replace"},{"name":"Z","value":"26"}]}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"Z","value":"26"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "delete_item_missing_in_original_is_noop",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"nope"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "rollout_restart",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"},"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "rollout_pause",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"paused":true}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"paused":true,"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "rollout_resume",
                def: Some(DEPLOYMENT_DEF),
                original: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web","tier":"fe"},"annotations":{"a":"1"}},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.7","args":["-a","-b"],"ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"},{"name":"data","mountPath":"/data"}]},{"name":"sidecar","image":"busybox"}],"volumes":[{"name":"cfg","configMap":{"name":"cm"}},{"name":"data","emptyDir":{}}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"imagePullSecrets":[{"name":"reg1"}]}},"paused":true}}"#,
                patch: r#"{"spec":{"paused":null}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "apply_remove_and_add_with_server_only_item",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"log"}],"containers":[{"name":"log","image":"fluentd"},{"$patch":"delete","name":"nginx"}]}}}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"a":"1"},"labels":{"app":"web","tier":"fe"},"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"busybox","name":"sidecar"},{"image":"fluentd","name":"log"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                name: "finalizers_union",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"metadata":{"finalizers":["d","a"]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"finalizers":["d","a","b","c"],"labels":{"x":"1","y":"2"},"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"image":"i","name":"a"}]},"status":{"conditions":[{"status":"True","type":"Ready"},{"status":"True","type":"PodScheduled"}],"phase":"Running"}}"#,
            },
            Case {
                name: "finalizers_delete_from_primitive_list",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["b","zz"]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"finalizers":["a","c"],"labels":{"x":"1","y":"2"},"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"image":"i","name":"a"}]},"status":{"conditions":[{"status":"True","type":"Ready"},{"status":"True","type":"PodScheduled"}],"phase":"Running"}}"#,
            },
            Case {
                name: "finalizers_set_element_order",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"metadata":{"$setElementOrder/finalizers":["c","a","d"],"finalizers":["d"]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"finalizers":["b","c","a","d"],"labels":{"x":"1","y":"2"},"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"image":"i","name":"a"}]},"status":{"conditions":[{"status":"True","type":"Ready"},{"status":"True","type":"PodScheduled"}],"phase":"Running"}}"#,
            },
            Case {
                name: "finalizers_apply_remove_one",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"$setElementOrder/finalizers":["b","c"]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"finalizers":["b","c"],"labels":{"x":"1","y":"2"},"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"image":"i","name":"a"}]},"status":{"conditions":[{"status":"True","type":"Ready"},{"status":"True","type":"PodScheduled"}],"phase":"Running"}}"#,
            },
            Case {
                name: "conditions_merge_by_type",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"X"},{"type":"Initialized","status":"True"}]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"finalizers":["a","b","c"],"labels":{"x":"1","y":"2"},"name":"p","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"image":"i","name":"a"}]},"status":{"conditions":[{"reason":"X","status":"False","type":"Ready"},{"status":"True","type":"Initialized"},{"status":"True","type":"PodScheduled"}],"phase":"Running"}}"#,
            },
            Case {
                name: "owner_references_merge_by_uid",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n","uid":"u2"}]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"finalizers":["a","b","c"],"labels":{"x":"1","y":"2"},"name":"p","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n","uid":"u2"},{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"image":"i","name":"a"}]},"status":{"conditions":[{"status":"True","type":"Ready"},{"status":"True","type":"PodScheduled"}],"phase":"Running"}}"#,
            },
            Case {
                name: "service_ports_merge_by_port",
                def: Some(SERVICE_DEF),
                original: SERVICE,
                patch: r#"{"spec":{"ports":[{"port":443,"targetPort":9443},{"port":8080,"name":"alt"}]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080},{"name":"https","port":443,"targetPort":9443},{"name":"alt","port":8080}],"selector":{"app":"web"}}}"#,
            },
            Case {
                name: "configmap_data_merge",
                def: Some(CONFIG_MAP_DEF),
                original: CONFIG_MAP,
                patch: r#"{"data":{"k1":null,"k3":"v3"}}"#,
                expected: r#"{"apiVersion":"v1","data":{"k2":"v2","k3":"v3"},"kind":"ConfigMap","metadata":{"name":"c"}}"#,
            },
            Case {
                name: "type_change_scalar_to_object",
                def: Some(DEPLOYMENT_DEF),
                original: DEPLOYMENT,
                patch: r#"{"metadata":{"annotations":{"a":null},"labels":"oops"}}"#,
                expected: r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"labels":"oops","name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"args":["-a","-b"],"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"image":"nginx:1.7","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"},{"containerPort":443,"protocol":"TCP"}],"volumeMounts":[{"mountPath":"/etc/cfg","name":"cfg"},{"mountPath":"/data","name":"data"}]},{"image":"busybox","name":"sidecar"}],"imagePullSecrets":[{"name":"reg1"}],"tolerations":[{"key":"k1","operator":"Exists"},{"key":"k2","operator":"Exists"}],"volumes":[{"configMap":{"name":"cm"},"name":"cfg"},{"emptyDir":{},"name":"data"}]}}}}"#,
            },
            Case {
                // Upstream's outcome depends on Go's map order; the deletion applies last here,
                // as in most upstream runs.
                name: "finalizers_added_and_deleted_in_one_patch",
                def: Some(POD_DEF),
                original: POD,
                patch: r#"{"metadata":{"finalizers":["d","a"],"$deleteFromPrimitiveList/finalizers":["d","c"]}}"#,
                expected: r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","finalizers":["a","b"],"labels":{"x":"1","y":"2"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"u1"}]},"spec":{"containers":[{"name":"a","image":"i"}]},"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}}"#,
            },
            Case {
                name: "schema_none_merges_maps_and_replaces_lists",
                def: None,
                original: r#"{"a":[1,2],"l":[{"name":"x","v":1}],"m":{"x":1,"y":2}}"#,
                patch: r#"{"a":[3],"l":[{"name":"x","w":2}],"m":{"x":null,"z":3},"n":null}"#,
                expected: r#"{"a":[3],"l":[{"name":"x","w":2}],"m":{"y":2,"z":3}}"#,
            },
            Case {
                name: "unknown_fields_merge_like_json_merge_patch",
                def: Some(CONFIG_MAP_DEF),
                original: r#"{"metadata":{"name":"c"},"extra":{"keep":1,"list":[1,2]}}"#,
                patch: r#"{"extra":{"add":{"deep":true},"list":[3]}}"#,
                expected: r#"{"metadata":{"name":"c"},"extra":{"keep":1,"list":[3],"add":{"deep":true}}}"#,
            },
            Case {
                // Upstream drops items carrying `$patch` from a new value and nulls; the leftover
                // `$setElementOrder/env` is dropped by its decoding into the typed object.
                name: "new_field_value_loses_directives_and_nulls",
                def: Some(DEPLOYMENT_DEF),
                original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}}"#,
                patch: r#"{"spec":{"template":{"spec":{"initContainers":[{"name":"i","image":"x","env":[{"$patch":"delete","name":"Q"}],"args":null,"$setElementOrder/env":[{"name":"Q"}]}]}}}}"#,
                expected: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a"}],"initContainers":[{"name":"i","image":"x","env":[]}]}}}}"#,
            },
            Case {
                // Upstream appends the raw item; its decoding drops `$patch` keys and nulls.
                name: "appended_item_loses_directive_keys_and_nulls",
                def: Some(DEPLOYMENT_DEF),
                original: r#"{"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}}"#,
                patch: r#"{"spec":{"template":{"spec":{"containers":[{"name":"new","image":"n","env":[{"name":"q","$patch":"delete"}],"args":null}]}}}}"#,
                expected: r#"{"spec":{"template":{"spec":{"containers":[{"name":"new","image":"n","env":[{"name":"q"}]},{"name":"a"}]}}}}"#,
            },
            Case {
                name: "set_element_order_on_missing_list_takes_patch_items",
                def: Some(DEPLOYMENT_DEF),
                original: r#"{"spec":{"template":{"spec":{}}}}"#,
                patch: r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],"containers":[{"name":"b"},{"$patch":"delete","name":"c"},{"name":"a","env":[{"name":"E","$patch":"delete"}]}]}}}}"#,
                expected: r#"{"spec":{"template":{"spec":{"containers":[{"name":"b"},{"name":"a","env":[]}]}}}}"#,
            },
            Case {
                name: "null_patch_changes_nothing",
                def: Some(CONFIG_MAP_DEF),
                original: CONFIG_MAP,
                patch: "null",
                expected: CONFIG_MAP,
            },
            Case {
                name: "top_level_patch_delete_empties_the_object",
                def: Some(CONFIG_MAP_DEF),
                original: CONFIG_MAP,
                patch: r#"{"$patch":"delete"}"#,
                expected: "{}",
            },
        ];
        assert!(cases.len() >= 30);
        let mut names = std::collections::HashSet::new();
        for case in &cases {
            assert!(names.insert(case.name), "duplicate case {}", case.name);
            let got = run(case.def, case.original, case.patch)
                .unwrap_or_else(|e| panic!("{}: unexpected error: {e}", case.name));
            let expected: Value = serde_json::from_str(case.expected).expect("expected");
            assert_eq!(got, expected, "case {}", case.name);
        }
    }

    #[test]
    fn errors() {
        let on_pod = |patch: &str| run(Some(POD_DEF), POD, patch);
        let on_deploy = |patch: &str| run(Some(DEPLOYMENT_DEF), DEPLOYMENT, patch);
        let cases: Vec<(&str, Result<Value, StrategicPatchError>, &str)> = vec![
            (
                "array patch",
                on_pod("[1]"),
                "json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
            ("string patch", on_pod(r#""x""#), "cannot unmarshal string"),
            (
                "$patch merge in map",
                on_pod(r#"{"metadata":{"labels":{"$patch":"merge","x":"1"}}}"#),
                "unknown patch type: merge in map: map[$patch:merge x:1]",
            ),
            (
                "unknown $patch in map",
                on_pod(r#"{"metadata":{"$patch":"nope"}}"#),
                "unknown patch type: nope in map: map[$patch:nope]",
            ),
            (
                "unknown $patch in list",
                on_deploy(
                    r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","$patch":"bogus"}]}}}}"#,
                ),
                "unknown patch type: bogus in map: map[$patch:bogus name:nginx]",
            ),
            (
                "$patch merge in list",
                on_deploy(
                    r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","$patch":"merge"}]}}}}"#,
                ),
                "merging lists cannot yet be specified in the patch",
            ),
            (
                "item without merge key",
                on_deploy(r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#),
                "map: map[image:x] does not contain declared merge key: name",
            ),
            (
                "delete without merge key",
                on_deploy(r#"{"spec":{"template":{"spec":{"containers":[{"$patch":"delete"}]}}}}"#),
                "map: map[$patch:delete] does not contain declared merge key: name",
            ),
            (
                "retainKeys missing a patched key",
                on_deploy(
                    r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":1}}}}"#,
                ),
                "invalid patch format of retainKeys",
            ),
            (
                "retainKeys not a list",
                on_deploy(r#"{"spec":{"strategy":{"$retainKeys":"type"}}}"#),
                "invalid patch format of retainKeys",
            ),
            (
                "setElementOrder mismatch",
                on_deploy(
                    r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"name":"sidecar","image":"x"}]}}}}"#,
                ),
                "doesn't match $setElementOrder list",
            ),
            (
                "setElementOrder without field",
                on_deploy(
                    r#"{"spec":{"template":{"spec":{"$setElementOrder":[{"name":"nginx"}]}}}}"#,
                ),
                "invalid patch format of setElementOrder list",
            ),
            (
                "setElementOrder not a list",
                on_deploy(
                    r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":{"name":"nginx"}}}}}"#,
                ),
                "expected a []interface {}, but received a map[string]interface {}",
            ),
            (
                "setElementOrder primitives for a map list",
                on_deploy(
                    r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":["nginx"]}}}}"#,
                ),
                "value for key 0 is not a map",
            ),
            (
                "deleteFromPrimitiveList without field",
                on_pod(r#"{"metadata":{"$deleteFromPrimitiveListfinalizers":["a"]}}"#),
                "invalid patch format of primitive list",
            ),
            (
                "mixed element types",
                on_pod(r#"{"metadata":{"finalizers":[1]}}"#),
                "list element types are not identical: [[a b c] [1]]",
            ),
            (
                "list of lists",
                run(
                    Some(POD_DEF),
                    r#"{"metadata":{"finalizers":[]}}"#,
                    r#"{"metadata":{"finalizers":[["a"]]}}"#,
                ),
                "lists of lists are not supported",
            ),
            (
                "order of nothing",
                run(
                    Some(POD_DEF),
                    r#"{"metadata":{"finalizers":[]}}"#,
                    r#"{"metadata":{"$setElementOrder/finalizers":["a"]}}"#,
                ),
                "no elements in any of the given slices",
            ),
            (
                "null list element",
                on_pod(r#"{"metadata":{"finalizers":[null]}}"#),
                "list element types are not identical",
            ),
        ];
        for (name, got, want) in cases {
            let err = got.expect_err(name);
            assert!(
                err.to_string().contains(want),
                "{name}: got {err:?}, want {want}"
            );
        }
        assert!(on_pod("[1]").unwrap_err().is_bad_request());
        assert!(
            !on_pod(r#"{"metadata":{"$patch":"nope"}}"#)
                .unwrap_err()
                .is_bad_request()
        );
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut patch = json!({"x": 1});
        let mut original = json!({"x": 0});
        for _ in 0..150 {
            patch = json!({ "n": patch });
            original = json!({ "n": original });
        }
        let err = apply(&original, &patch, None).unwrap_err();
        assert!(matches!(err, StrategicPatchError::TooDeep));
        // A deep value for a new field is rejected too.
        let err = apply(&json!({}), &patch, None).unwrap_err();
        assert!(matches!(err, StrategicPatchError::TooDeep));
        // Depth within bounds is fine.
        let mut ok = json!(1);
        for _ in 0..50 {
            ok = json!({ "n": ok });
        }
        assert_eq!(apply(&json!({}), &ok, None).unwrap(), ok);
    }

    #[test]
    fn never_panics_on_odd_patches() {
        let schema = openapi::definition(DEPLOYMENT_DEF);
        let original: Value = serde_json::from_str(DEPLOYMENT).unwrap();
        let values = [
            json!(null),
            json!(1),
            json!(1.5),
            json!("x"),
            json!(true),
            json!([]),
            json!({}),
            json!([1]),
            json!([null]),
            json!([[1]]),
            json!([{}]),
            json!(["nginx"]),
            json!([{"name": "nginx"}]),
            json!([{"name": "nginx", "$patch": "delete"}]),
            json!([{"$patch": "replace"}]),
            json!([{"name": 1}]),
            json!({"$patch": "delete"}),
            json!({"$patch": "replace", "x": null}),
            json!({"$patch": 3}),
            json!({"$retainKeys": ["x"]}),
        ];
        let keys = [
            "$patch",
            "$retainKeys",
            "$setElementOrder/containers",
            "$setElementOrder/env",
            "$deleteFromPrimitiveList/containers",
            "$deleteFromPrimitiveList/args",
            "$setElementOrder",
            "$deleteFromPrimitiveList",
            "containers",
            "env",
            "args",
            "ports",
            "volumes",
            "strategy",
        ];
        let wrap: [fn(Value) -> Value; 4] = [
            |v| v,
            |v| json!({"spec": v}),
            |v| json!({"spec": {"template": {"spec": v}}}),
            |v| {
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "nginx", "env": [{"name": "A", "value": "x"}], "inner": v}
                ]}}}})
            },
        ];
        for key in keys {
            for value in &values {
                for w in &wrap {
                    let mut m = Map::new();
                    m.insert(key.to_string(), value.clone());
                    let patch = w(Value::Object(m.clone()));
                    let _ = apply(&original, &patch, schema);
                    let _ = apply(&original, &patch, None);
                    // Also nested in a container item, next to its merge key.
                    m.insert("name".into(), json!("nginx"));
                    let patch =
                        json!({"spec": {"template": {"spec": {"containers": [Value::Object(m)]}}}});
                    let _ = apply(&original, &patch, schema);
                }
            }
        }
    }

    #[test]
    fn result_never_contains_directives() {
        fn check(v: &Value) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        assert!(!is_directive_key(k), "directive {k} left in result");
                        check(v);
                    }
                }
                Value::Array(a) => a.iter().for_each(check),
                _ => {}
            }
        }
        let patches = [
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"z","env":[{"$patch":"replace"},{"name":"E","$patch":"delete"}],"$setElementOrder/env":[],"$retainKeys":["x"]}]}}}}"#,
            r#"{"spec":{"template":{"spec":{"tolerations":[{"key":"a","$patch":"delete"}]}}}}"#,
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"$patch":"replace"},{"name":"Z","x":{"$patch":"delete"}}]}]}}}}"#,
            r#"{"metadata":{"labels":{"$patch":"replace","k":"v","$retainKeys":["k"]}}}"#,
            r#"{"spec":{"new":{"$deleteFromPrimitiveList/x":[1],"y":{"$patch":"replace"}}}}"#,
        ];
        for p in patches {
            let got = run(Some(DEPLOYMENT_DEF), DEPLOYMENT, p).unwrap();
            check(&got);
        }
    }

    #[test]
    fn go_stable_sort_matches_std_for_a_strict_order() {
        let mut v: Vec<(u32, usize)> = (0..97).map(|i| ((i * 37 % 11) as u32, i)).collect();
        let mut expected = v.clone();
        expected.sort_by_key(|p| p.0);
        go_stable_sort(&mut v, &|a, b| a.0 < b.0);
        assert_eq!(v, expected);
    }

    #[test]
    fn go_float_format() {
        assert_eq!(go_fmt(&json!(1.5)), "1.5");
        assert_eq!(go_fmt(&json!(1e6)), "1e+06");
        assert_eq!(go_fmt(&json!(0.00001)), "1e-05");
        assert_eq!(
            go_fmt(&json!({"b": [1, "x"], "a": null})),
            "map[a:<nil> b:[1 x]]"
        );
    }
}
