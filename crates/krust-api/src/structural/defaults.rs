//! Defaulting (`defaulting.Default`), after removing nulls that are neither nullable nor
//! defaulted (`defaulting.PruneNonNullableNullsWithoutDefaults`).

use super::MAX_DEPTH;
use super::node::Node;
use super::prune::prune_nulls;
use serde_json::Value;

pub(super) fn apply_defaults(obj: &mut Value, schema: &Value) {
    let Some(s) = Node::of(schema) else {
        return;
    };
    prune_nulls(obj, Some(s), 0);
    default(obj, s, 0);
}

/// A value that takes the default of its schema: a null where null is not allowed.
fn non_nullable_null(v: &Value, s: Node<'_>) -> bool {
    v.is_null() && !s.nullable()
}

fn default(x: &mut Value, s: Node<'_>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match x {
        Value::Object(m) => {
            for (k, prop) in s.props() {
                let Some(d) = prop.default() else {
                    continue;
                };
                let missing = m.get(k).is_none_or(|v| non_nullable_null(v, prop));
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            for (k, v) in m.iter_mut() {
                if let Some(p) = s.property(k) {
                    default(v, p, depth + 1);
                } else if let Some(ap) = s.additional_schema() {
                    if non_nullable_null(v, ap) {
                        // Upstream recurses into the value it replaced, i.e. not into the
                        // default.
                        *v = ap.default().cloned().unwrap_or(Value::Null);
                    } else {
                        default(v, ap, depth + 1);
                    }
                }
            }
        }
        Value::Array(a) => {
            let Some(items) = s.items() else {
                return;
            };
            for v in a {
                if non_nullable_null(v, items) {
                    *v = items.default().cloned().unwrap_or(Value::Null);
                }
                default(v, items, depth + 1);
            }
        }
        _ => {}
    }
}
