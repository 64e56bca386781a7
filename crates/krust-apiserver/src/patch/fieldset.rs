//! Field sets: the sets of field paths that server-side apply records per manager in
//! `metadata.managedFields`, and their upstream wire form, `FieldsV1`.
//!
//! A path is a sequence of [`PathElement`]s: a struct field or map key (`f:name`), an item of
//! a map list named by its key fields (`k:{"name":"nginx"}`), an item of a set list named by
//! its value (`v:"finalizer"`), or a list index (`i:0`, which Kubernetes never produces).
//! In `FieldsV1` each element is an object key; `{}` marks a member of the set, and `"."`
//! marks the node itself as a member when it also has members below it:
//!
//! ```json
//! {"f:metadata":{"f:labels":{".":{},"f:app":{}}},
//!  "f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{}}}}}
//! ```
//!
//! [`FieldSet::of_object`] computes the set of an object the way upstream's `ToFieldSet`
//! does (every leaf, every list item, every map key that is not a struct field, every empty
//! map or null), driven by the list and map types of [`schema`].

pub mod schema;

use schema::{MAX_DEPTH, Shape, Ty};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or a map key.
    Field(String),
    /// An item of a map list: the canonical JSON object of its key fields.
    Key(String),
    /// An item of a set list: its canonical JSON value.
    Value(String),
    /// An item by position.
    Index(u64),
}

/// A path from the root of an object.
pub type Path = Vec<PathElement>;

/// An invalid `FieldsV1` document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid FieldsV1: {0}")]
pub struct FieldSetError(pub String);

impl PathElement {
    /// The `FieldsV1` key of this element (`f:name`, `k:{...}`, `v:...`, `i:N`).
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(key) => format!("k:{key}"),
            PathElement::Value(value) => format!("v:{value}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key.
    pub fn decode(s: &str) -> Result<PathElement, FieldSetError> {
        let err = |m: &str| FieldSetError(format!("{m}: {s:?}"));
        if let Some(name) = s.strip_prefix("f:") {
            return Ok(PathElement::Field(name.to_string()));
        }
        if let Some(key) = s.strip_prefix("k:") {
            let v: Value = serde_json::from_str(key).map_err(|_| err("invalid key"))?;
            if !v.is_object() {
                return Err(err("key is not an object"));
            }
            return Ok(PathElement::Key(schema::canonical(&v)));
        }
        if let Some(value) = s.strip_prefix("v:") {
            let v: Value = serde_json::from_str(value).map_err(|_| err("invalid value"))?;
            return Ok(PathElement::Value(schema::canonical(&v)));
        }
        if let Some(index) = s.strip_prefix("i:") {
            return index
                .parse()
                .map(PathElement::Index)
                .map_err(|_| err("invalid index"));
        }
        Err(err("unknown path element"))
    }

    /// Whether this names a list item (as opposed to a field or map key).
    pub fn is_item(&self) -> bool {
        !matches!(self, PathElement::Field(_))
    }

    /// The upstream rendering used in conflict messages: `.name`, `[name="nginx"]`,
    /// `[containerPort=80,protocol="TCP"]`, `[="value"]`, `[0]`.
    pub fn render(&self) -> String {
        match self {
            PathElement::Field(name) => format!(".{name}"),
            PathElement::Key(key) => match serde_json::from_str::<Value>(key) {
                Ok(Value::Object(fields)) => {
                    let parts: Vec<String> = fields
                        .iter()
                        .map(|(k, v)| format!("{k}={}", render_value(v)))
                        .collect();
                    format!("[{}]", parts.join(","))
                }
                _ => format!("[{key}]"),
            },
            PathElement::Value(value) => match serde_json::from_str::<Value>(value) {
                Ok(v) => format!("[={}]", render_value(&v)),
                Err(_) => format!("[={value}]"),
            },
            PathElement::Index(i) => format!("[{i}]"),
        }
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(render_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", render_value(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => schema::canonical(other),
    }
}

/// The upstream rendering of a path: `.spec.template.spec.containers[name="nginx"].image`.
pub fn render_path(path: &[PathElement]) -> String {
    path.iter().map(PathElement::render).collect()
}

/// A set of field paths, stored as a trie: `members` are the paths that end here, `children`
/// the subsets below each element. Children are never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set has no paths.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// The elements whose paths end at this node.
    pub fn members(&self) -> &BTreeSet<PathElement> {
        &self.members
    }

    /// The subset below `pe` (paths relative to `pe`).
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// Whether `pe` is a member at this node.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// Whether `pe` is a member or has members below it at this node.
    pub fn touches(&self, pe: &PathElement) -> bool {
        self.members.contains(pe) || self.children.contains_key(pe)
    }

    /// Adds a path (the empty path is ignored: the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the set contains `path`.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// All paths of the set: the members of a node before the paths below it, each group in
    /// element order (upstream's iteration order).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.collect_paths(&mut prefix, &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The number of paths in the set.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// The paths in `self` or `other`.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// Adds the paths of `other` to `self`.
    pub fn union_with(&mut self, other: &FieldSet) {
        self.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            match self.children.get_mut(pe) {
                Some(mine) => mine.union_with(child),
                None => {
                    self.children.insert(pe.clone(), child.clone());
                }
            }
        }
    }

    /// The paths in both `self` and `other`.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let common = child.intersection(other.children.get(pe)?);
                (!common.is_empty()).then(|| (pe.clone(), common))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths in `self` but not in `other` (exact paths: a member of `other` does not remove
    /// the paths below it from `self`).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(o) => child.difference(o),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The paths in `self` that are neither in `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(pe, _)| !other.members.contains(*pe))
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(o) => child.recursive_difference(o),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Keeps only the top-level elements (and everything below them) for which `keep` holds.
    pub fn retain_top(&mut self, mut keep: impl FnMut(&PathElement) -> bool) {
        self.members.retain(&mut keep);
        self.children.retain(|pe, _| keep(pe));
    }

    /// Parses upstream's `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldSetError> {
        let obj = v
            .as_object()
            .ok_or_else(|| FieldSetError("not an object".to_string()))?;
        Self::parse_node(obj, 0).map(|(set, _)| set)
    }

    /// Parses the object of one node; returns its subset and whether it holds `"."`.
    fn parse_node(
        obj: &Map<String, Value>,
        depth: usize,
    ) -> Result<(FieldSet, bool), FieldSetError> {
        if depth > MAX_DEPTH {
            return Err(FieldSetError("nested too deeply".to_string()));
        }
        let mut set = FieldSet::new();
        let mut is_member = false;
        for (k, child) in obj {
            let child = child
                .as_object()
                .ok_or_else(|| FieldSetError(format!("value of {k:?} is not an object")))?;
            if k == "." {
                is_member = true;
                continue;
            }
            let pe = PathElement::decode(k)?;
            if child.is_empty() {
                set.members.insert(pe);
                continue;
            }
            let (sub, member) = Self::parse_node(child, depth + 1)?;
            if member {
                set.members.insert(pe.clone());
            }
            if !sub.is_empty() {
                set.children.insert(pe, sub);
            }
        }
        Ok((set, is_member))
    }

    /// Serializes to upstream's `FieldsV1` JSON.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.encode_node(false))
    }

    fn encode_node(&self, is_member: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if is_member {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        for m in &self.members {
            if self.children.get(m).is_none_or(FieldSet::is_empty) {
                out.insert(m.encode(), Value::Object(Map::new()));
            }
        }
        for (pe, child) in &self.children {
            if child.is_empty() {
                continue;
            }
            out.insert(
                pe.encode(),
                Value::Object(child.encode_node(self.members.contains(pe))),
            );
        }
        out
    }

    /// The set of fields `obj` sets, by upstream's rules: every scalar, atomic list and atomic
    /// map; every item of a set or map list (the item itself, written `"."`, besides its
    /// fields); every key of a map (not of a struct); every empty map and null. Items whose
    /// key cannot be computed are named by index.
    pub fn of_object(obj: &Value, schema: Option<&Value>) -> FieldSet {
        let mut set = FieldSet::new();
        let mut path = Vec::new();
        // Lenient mode never fails.
        let _ = walk_to_set(obj, Ty::root(schema), &mut path, &mut set, false, 0);
        set
    }

    /// Like [`FieldSet::of_object`], for an applied configuration: map-list items must carry
    /// their key fields and no two items of a granular list may have the same key.
    pub fn of_applied(obj: &Value, schema: Option<&Value>) -> Result<FieldSet, String> {
        let mut set = FieldSet::new();
        let mut path = Vec::new();
        walk_to_set(obj, Ty::root(schema), &mut path, &mut set, true, 0)?;
        Ok(set)
    }
}

fn walk_to_set(
    v: &Value,
    ty: Ty<'_>,
    path: &mut Path,
    set: &mut FieldSet,
    strict: bool,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        set.insert(path);
        return Ok(());
    }
    match (ty.shape(v), v) {
        (Shape::Map, Value::Object(obj)) => {
            for (k, child) in obj {
                let field = ty.field(k);
                path.push(PathElement::Field(k.clone()));
                walk_to_set(child, field.ty, path, set, strict, depth + 1)?;
                let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
                if empty || !field.declared {
                    set.insert(path);
                }
                path.pop();
            }
        }
        (shape @ (Shape::Set | Shape::Assoc(_)), Value::Array(items)) => {
            let elem = ty.elem();
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = if strict {
                    ty.item_element(&shape, item)
                        .map_err(|e| format!("{}: element {i}: {e}", render_path(path)))?
                } else {
                    ty.item_element_lenient(&shape, item, i)
                };
                if strict && !seen.insert(pe.clone()) {
                    return Err(format!(
                        "{}: duplicate entries for key {}",
                        render_path(path),
                        pe.render()
                    ));
                }
                path.push(pe);
                walk_to_set(item, elem, path, set, strict, depth + 1)?;
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment_schema() -> &'static Value {
        krust_api::openapi::definition("io.k8s.api.apps.v1.Deployment").unwrap()
    }

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    /// The managed fields `kubectl create deployment` / client-side apply leave (as shown by
    /// `kubectl get deploy -o yaml --show-managed-fields`).
    fn csa_deployment_fields() -> Value {
        json!({
            "f:metadata": {
                "f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}},
                "f:labels": {".": {}, "f:app": {}}
            },
            "f:spec": {
                "f:progressDeadlineSeconds": {},
                "f:replicas": {},
                "f:revisionHistoryLimit": {},
                "f:selector": {},
                "f:strategy": {
                    "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                    "f:type": {}
                },
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {
                            "k:{\"name\":\"nginx\"}": {
                                ".": {},
                                "f:image": {},
                                "f:imagePullPolicy": {},
                                "f:name": {},
                                "f:ports": {
                                    ".": {},
                                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                        ".": {},
                                        "f:containerPort": {},
                                        "f:protocol": {}
                                    }
                                },
                                "f:resources": {},
                                "f:terminationMessagePath": {},
                                "f:terminationMessagePolicy": {}
                            }
                        },
                        "f:dnsPolicy": {},
                        "f:restartPolicy": {},
                        "f:schedulerName": {},
                        "f:securityContext": {},
                        "f:terminationGracePeriodSeconds": {}
                    }
                }
            }
        })
    }

    #[test]
    fn fieldset_round_trips_upstream_fields_v1() {
        let examples = [
            csa_deployment_fields(),
            // The ConfigMap of the Server-Side Apply documentation.
            json!({"f:metadata": {"f:labels": {"f:test-label": {}}}, "f:data": {"f:key": {}}}),
            // A status writer's conditions (map list keyed by type).
            json!({
                "f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
                "f:status": {
                    "f:conditions": {
                        ".": {},
                        "k:{\"type\":\"Available\"}": {
                            ".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {},
                            "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}
                        },
                        "k:{\"type\":\"Progressing\"}": {
                            ".": {}, "f:lastTransitionTime": {}, "f:lastUpdateTime": {},
                            "f:message": {}, "f:reason": {}, "f:status": {}, "f:type": {}
                        }
                    },
                    "f:observedGeneration": {}
                }
            }),
            // Finalizers are a set list.
            json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"example.com/cleanup\"": {}}}}),
            json!({"f:spec": {"f:items": {"i:0": {}, "i:3": {"f:x": {}}}}}),
            json!({}),
        ];
        for example in examples {
            let set = FieldSet::from_fields_v1(&example).unwrap();
            assert_eq!(set.to_fields_v1(), example);
        }
    }

    #[test]
    fn fieldset_parses_members_and_children() {
        let set = FieldSet::from_fields_v1(&csa_deployment_fields()).unwrap();
        let containers = [f("spec"), f("template"), f("spec"), f("containers")];
        let nginx = PathElement::Key(r#"{"name":"nginx"}"#.to_string());
        let mut item = containers.to_vec();
        item.push(nginx.clone());
        assert!(set.has(&item));
        let mut image = item.clone();
        image.push(f("image"));
        assert!(set.has(&image));
        assert!(!set.has(&[f("spec")]));
        assert!(set.has(&[f("spec"), f("replicas")]));
        assert_eq!(
            render_path(&image),
            r#".spec.template.spec.containers[name="nginx"].image"#
        );
        let port = PathElement::decode(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        assert_eq!(port.render(), r#"[containerPort=80,protocol="TCP"]"#);
        assert_eq!(port.encode(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(
            PathElement::decode(r#"v:"a""#).unwrap().render(),
            r#"[="a"]"#
        );
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
    }

    #[test]
    fn fieldset_operations() {
        let a = FieldSet::from_fields_v1(&json!({
            "f:spec": {"f:replicas": {}, "f:template": {".": {}, "f:x": {}}}
        }))
        .unwrap();
        let b = FieldSet::from_fields_v1(&json!({
            "f:spec": {"f:replicas": {}, "f:paused": {}, "f:template": {}}
        }))
        .unwrap();
        assert_eq!(
            a.union(&b).to_fields_v1(),
            json!({"f:spec": {"f:paused": {}, "f:replicas": {}, "f:template": {".": {}, "f:x": {}}}})
        );
        assert_eq!(
            a.intersection(&b).to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}, "f:template": {}}})
        );
        assert_eq!(
            a.difference(&b).to_fields_v1(),
            json!({"f:spec": {"f:template": {"f:x": {}}}})
        );
        assert!(a.recursive_difference(&b).is_empty());
        assert!(a.difference(&a).is_empty());
        assert!(!a.is_empty());
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.paths(),
            vec![
                vec![f("spec"), f("replicas")],
                vec![f("spec"), f("template")],
                vec![f("spec"), f("template"), f("x")],
            ]
        );
    }

    #[test]
    fn fieldset_of_an_applied_deployment() {
        let obj = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "nginx", "labels": {"app": "nginx"}, "finalizers": ["a/b"]},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.14.2",
                            "ports": [{"containerPort": 80}],
                            "args": ["a", "b"]
                        }],
                        "securityContext": {}
                    }
                }
            }
        });
        let set = FieldSet::of_object(&obj, Some(deployment_schema()));
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:apiVersion": {},
                "f:kind": {},
                "f:metadata": {
                    "f:finalizers": {"v:\"a/b\"": {}},
                    "f:labels": {"f:app": {}},
                    "f:name": {}
                },
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                "k:{\"name\":\"nginx\"}": {
                                    ".": {},
                                    "f:args": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {
                                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                            ".": {},
                                            "f:containerPort": {}
                                        }
                                    }
                                }
                            },
                            "f:securityContext": {}
                        }
                    }
                }
            })
        );
        assert_eq!(
            FieldSet::of_applied(&obj, Some(deployment_schema())).unwrap(),
            set
        );
    }

    #[test]
    fn fieldset_of_an_untyped_object() {
        let obj =
            json!({"spec": {"a": 1, "list": [1, 2], "m": {}}, "metadata": {"finalizers": ["x"]}});
        let set = FieldSet::of_object(&obj, None);
        assert_eq!(
            set.to_fields_v1(),
            json!({
                "f:metadata": {"f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {".": {}, "f:a": {}, "f:list": {}, "f:m": {}}
            })
        );
    }

    #[test]
    fn fieldset_rejects_bad_applied_lists() {
        let schema = Some(deployment_schema());
        let dup = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "a", "image": "y"}
        ]}}}});
        let err = FieldSet::of_applied(&dup, schema).unwrap_err();
        assert_eq!(
            err,
            r#".spec.template.spec.containers: duplicate entries for key [name="a"]"#
        );
        let keyless = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert!(
            FieldSet::of_applied(&keyless, schema)
                .unwrap_err()
                .contains("omits key field")
        );
        // Lenient mode names the item by index instead.
        let set = FieldSet::of_object(&keyless, schema);
        assert!(set.to_fields_v1().to_string().contains("i:0"));
    }

    #[test]
    fn fieldset_bounds_recursion() {
        let mut v = json!(1);
        for _ in 0..(MAX_DEPTH * 2) {
            v = json!({ "a": v });
        }
        let set = FieldSet::of_object(&v, None);
        assert!(!set.is_empty());
        let mut fields = json!({});
        for _ in 0..(MAX_DEPTH * 2) {
            fields = json!({ "f:a": fields });
        }
        assert!(FieldSet::from_fields_v1(&fields).is_err());
    }
}
