//! Compiled selectors over typed label maps: `metav1.LabelSelector` (matchLabels and
//! matchExpressions, with upstream's nil-matches-nothing and empty-matches-everything rules) and
//! `v1.NodeSelector` terms (ORed terms of ANDed requirements, operators In, NotIn, Exists,
//! DoesNotExist, Gt, Lt, and `matchFields` on `metadata.name`). Invalid input never panics: an
//! invalid label selector matches nothing, an invalid node selector term matches no node.

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// A label map (`metadata.labels`).
pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum SetOp {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: SetOp,
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.key);
        match self.op {
            SetOp::In => v.is_some_and(|v| self.values.iter().any(|x| x == v)),
            SetOp::NotIn => v.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            SetOp::Exists => v.is_some(),
            SetOp::DoesNotExist => v.is_none(),
        }
    }
}

/// A compiled `metav1.LabelSelector`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    nothing: bool,
    reqs: Vec<Requirement>,
}

impl Selector {
    /// Matches nothing (upstream's `labels.Nothing()`).
    pub fn nothing() -> Selector {
        Selector {
            nothing: true,
            reqs: Vec::new(),
        }
    }

    /// Matches everything.
    pub fn everything() -> Selector {
        Selector {
            nothing: false,
            reqs: Vec::new(),
        }
    }

    /// Compiles a structured selector: `None` matches nothing, `{}` everything, an invalid
    /// operator nothing.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Selector {
        let Some(sel) = sel else {
            return Selector::nothing();
        };
        let mut reqs = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Requirement {
                key: k.clone(),
                op: SetOp::In,
                values: vec![v.clone()],
            });
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" if !values.is_empty() => SetOp::In,
                "NotIn" if !values.is_empty() => SetOp::NotIn,
                "Exists" if values.is_empty() => SetOp::Exists,
                "DoesNotExist" if values.is_empty() => SetOp::DoesNotExist,
                _ => return Selector::nothing(),
            };
            reqs.push(Requirement {
                key: e.key.clone(),
                op,
                values,
            });
        }
        Selector {
            nothing: false,
            reqs,
        }
    }

    /// Adds `key in (value)` (used for `matchLabelKeys`).
    pub fn require(&mut self, key: &str, value: &str) {
        self.reqs.push(Requirement {
            key: key.to_string(),
            op: SetOp::In,
            values: vec![value.to_string()],
        });
    }

    /// Adds `key notin (value)` (used for `mismatchLabelKeys`).
    pub fn require_not(&mut self, key: &str, value: &str) {
        self.reqs.push(Requirement {
            key: key.to_string(),
            op: SetOp::NotIn,
            values: vec![value.to_string()],
        });
    }

    /// Whether the selector has no requirements and is not `nothing` (matches everything).
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.reqs.is_empty()
    }

    /// Whether the selector matches nothing at all, or has no requirements (upstream's
    /// `selector.Empty()` for PDBs, where both match no pod).
    pub fn is_empty_or_nothing(&self) -> bool {
        self.nothing || self.reqs.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        !self.nothing && self.reqs.iter().all(|r| r.matches(labels))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NodeOp {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct NodeRequirement {
    key: String,
    op: NodeOp,
}

impl NodeRequirement {
    fn compile(r: &NodeSelectorRequirement) -> Option<NodeRequirement> {
        let values = r.values.clone().unwrap_or_default();
        let single_int = || -> Option<i64> {
            if values.len() != 1 {
                return None;
            }
            values[0].trim().parse::<i64>().ok()
        };
        let op = match r.operator.as_str() {
            "In" if !values.is_empty() => NodeOp::In(values.clone()),
            "NotIn" if !values.is_empty() => NodeOp::NotIn(values.clone()),
            "Exists" if values.is_empty() => NodeOp::Exists,
            "DoesNotExist" if values.is_empty() => NodeOp::DoesNotExist,
            "Gt" => NodeOp::Gt(single_int()?),
            "Lt" => NodeOp::Lt(single_int()?),
            _ => return None,
        };
        Some(NodeRequirement {
            key: r.key.clone(),
            op,
        })
    }

    fn compile_field(r: &NodeSelectorRequirement) -> Option<NodeRequirement> {
        if r.key != "metadata.name" {
            return None;
        }
        let values = r.values.clone().unwrap_or_default();
        if values.len() != 1 {
            return None;
        }
        let op = match r.operator.as_str() {
            "In" => NodeOp::In(values),
            "NotIn" => NodeOp::NotIn(values),
            _ => return None,
        };
        Some(NodeRequirement {
            key: r.key.clone(),
            op,
        })
    }

    fn matches_value(&self, v: Option<&str>) -> bool {
        match &self.op {
            NodeOp::In(vals) => v.is_some_and(|v| vals.iter().any(|x| x == v)),
            NodeOp::NotIn(vals) => v.is_none_or(|v| !vals.iter().any(|x| x == v)),
            NodeOp::Exists => v.is_some(),
            NodeOp::DoesNotExist => v.is_none(),
            NodeOp::Gt(b) => v
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *b),
            NodeOp::Lt(b) => v
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *b),
        }
    }
}

/// A compiled `v1.NodeSelectorTerm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeTerm {
    valid: bool,
    exprs: Vec<NodeRequirement>,
    fields: Vec<NodeRequirement>,
}

impl NodeTerm {
    /// Compiles a term; an invalid one (or one without requirements) matches no node.
    pub fn compile(t: &NodeSelectorTerm) -> NodeTerm {
        let mut valid = true;
        let mut exprs = Vec::new();
        let mut fields = Vec::new();
        for r in t.match_expressions.iter().flatten() {
            match NodeRequirement::compile(r) {
                Some(r) => exprs.push(r),
                None => valid = false,
            }
        }
        for r in t.match_fields.iter().flatten() {
            match NodeRequirement::compile_field(r) {
                Some(r) => fields.push(r),
                None => valid = false,
            }
        }
        if exprs.is_empty() && fields.is_empty() {
            valid = false;
        }
        NodeTerm {
            valid,
            exprs,
            fields,
        }
    }

    /// Whether a node with this name and labels satisfies the term.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.valid
            && self
                .exprs
                .iter()
                .all(|r| r.matches_value(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| r.matches_value(Some(node_name)))
    }

    /// The node names an `In` on `metadata.name` restricts this term to, if it does.
    fn field_node_names(&self) -> Option<Vec<String>> {
        let mut out: Option<Vec<String>> = None;
        for f in &self.fields {
            if let NodeOp::In(vals) = &f.op {
                out = Some(match out {
                    None => vals.clone(),
                    Some(prev) => prev.into_iter().filter(|n| vals.contains(n)).collect(),
                });
            }
        }
        out
    }
}

/// A compiled `v1.NodeSelector`: a node matches when any term matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSelectorTerms {
    terms: Vec<NodeTerm>,
}

impl NodeSelectorTerms {
    /// Compiles a node selector.
    pub fn compile(ns: &NodeSelector) -> NodeSelectorTerms {
        NodeSelectorTerms {
            terms: ns
                .node_selector_terms
                .iter()
                .map(NodeTerm::compile)
                .collect(),
        }
    }

    /// Whether any term matches the node.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.terms.iter().any(|t| t.matches(node_name, labels))
    }

    /// Upstream's NodeAffinity PreFilter result: when every term names its nodes with
    /// `matchFields` `metadata.name In`, only those nodes can match.
    pub fn node_names(&self) -> Option<Vec<String>> {
        let mut all: Vec<String> = Vec::new();
        for t in &self.terms {
            let names = t.field_node_names()?;
            for n in names {
                if !all.contains(&n) {
                    all.push(n);
                }
            }
        }
        if self.terms.is_empty() {
            return None;
        }
        Some(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() {
                None
            } else {
                Some(values.iter().map(|s| s.to_string()).collect())
            },
        }
    }

    #[test]
    fn label_selector_table() {
        let l = labels(&[("app", "web"), ("tier", "fe")]);
        let expr = |k: &str, op: &str, v: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: k.into(),
                operator: op.into(),
                values: if v.is_empty() {
                    None
                } else {
                    Some(v.iter().map(|s| s.to_string()).collect())
                },
            }]),
            match_labels: None,
        };
        let cases: Vec<(&str, Option<LabelSelector>, bool)> = vec![
            ("nil matches nothing", None, false),
            (
                "empty matches everything",
                Some(LabelSelector::default()),
                true,
            ),
            (
                "matchLabels",
                Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                    match_expressions: None,
                }),
                true,
            ),
            ("In", Some(expr("app", "In", &["db", "web"])), true),
            ("NotIn", Some(expr("app", "NotIn", &["web"])), false),
            (
                "NotIn missing key",
                Some(expr("x", "NotIn", &["web"])),
                true,
            ),
            ("Exists", Some(expr("tier", "Exists", &[])), true),
            (
                "DoesNotExist",
                Some(expr("tier", "DoesNotExist", &[])),
                false,
            ),
            ("invalid op", Some(expr("tier", "Gt", &["1"])), false),
            ("In without values", Some(expr("tier", "In", &[])), false),
        ];
        for (name, sel, want) in cases {
            assert_eq!(
                Selector::from_label_selector(sel.as_ref()).matches(&l),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn node_selector_table() {
        let l = labels(&[("zone", "a"), ("cores", "8")]);
        let term = |exprs: Vec<NodeSelectorRequirement>, fields: Vec<NodeSelectorRequirement>| {
            NodeSelectorTerm {
                match_expressions: Some(exprs),
                match_fields: Some(fields),
            }
        };
        let cases: Vec<(&str, NodeSelectorTerm, bool)> = vec![
            (
                "In",
                term(vec![req("zone", "In", &["a", "b"])], vec![]),
                true,
            ),
            (
                "NotIn",
                term(vec![req("zone", "NotIn", &["a"])], vec![]),
                false,
            ),
            (
                "Exists",
                term(vec![req("zone", "Exists", &[])], vec![]),
                true,
            ),
            (
                "DoesNotExist",
                term(vec![req("gpu", "DoesNotExist", &[])], vec![]),
                true,
            ),
            ("Gt", term(vec![req("cores", "Gt", &["4"])], vec![]), true),
            (
                "Gt equal",
                term(vec![req("cores", "Gt", &["8"])], vec![]),
                false,
            ),
            ("Lt", term(vec![req("cores", "Lt", &["16"])], vec![]), true),
            (
                "Lt not int",
                term(vec![req("zone", "Lt", &["16"])], vec![]),
                false,
            ),
            (
                "Gt two values",
                term(vec![req("cores", "Gt", &["1", "2"])], vec![]),
                false,
            ),
            (
                "matchFields name",
                term(vec![], vec![req("metadata.name", "In", &["n1"])]),
                true,
            ),
            (
                "matchFields other name",
                term(vec![], vec![req("metadata.name", "In", &["n2"])]),
                false,
            ),
            (
                "matchFields NotIn",
                term(vec![], vec![req("metadata.name", "NotIn", &["n2"])]),
                true,
            ),
            (
                "matchFields bad key",
                term(vec![], vec![req("metadata.uid", "In", &["n1"])]),
                false,
            ),
            ("empty term", term(vec![], vec![]), false),
            (
                "AND within term",
                term(
                    vec![req("zone", "In", &["a"]), req("cores", "Lt", &["4"])],
                    vec![],
                ),
                false,
            ),
        ];
        for (name, t, want) in cases {
            assert_eq!(NodeTerm::compile(&t).matches("n1", &l), want, "{name}");
        }
        let ns = NodeSelectorTerms::compile(&NodeSelector {
            node_selector_terms: vec![
                term(vec![req("zone", "In", &["b"])], vec![]),
                term(vec![req("zone", "In", &["a"])], vec![]),
            ],
        });
        assert!(ns.matches("n1", &l), "terms are ORed");
        assert_eq!(ns.node_names(), None);
        let ds = NodeSelectorTerms::compile(&NodeSelector {
            node_selector_terms: vec![term(vec![], vec![req("metadata.name", "In", &["n7"])])],
        });
        assert_eq!(ds.node_names(), Some(vec!["n7".to_string()]));
    }
}
