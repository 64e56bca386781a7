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

    for (key, patch_v) in patch {
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
            if !is_delete_list {
                if let Some(v) = sanitize_new(patch_v, depth + 1)? {
                    original.insert(k, v);
                }
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
                })
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
                })
            }
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => {
                return Err(StrategicPatchError::BadArgType {
                    expected: GO_SLICE,
                    actual: go_type_name(other),
                })
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
                })
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
                        })
                    }
                },
                Some(REPLACE_DIRECTIVE) => replace = true,
                Some(MERGE_DIRECTIVE) => return Err(StrategicPatchError::MergeDirectiveInList),
                _ => {
                    return Err(StrategicPatchError::BadPatchType {
                        directive: go_fmt(directive),
                        map: go_fmt_map(&m),
                    })
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
                            actual: "<nil>",
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
                ))
            }
            Some(_) => {}
        }
    }
    prev.ok_or(StrategicPatchError::NoElements)
}

fn go_type_name(v: &Value) -> &'static str {
    match kind_of(v) {
        Kind::Null => "<nil>",
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
