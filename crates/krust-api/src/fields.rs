//! Field selectors: parsing (`a=b,c!=d`, with `\` escapes) and the fields each kind supports
//! (`metadata.name` and `metadata.namespace` everywhere, plus upstream's per-kind fields).

use crate::meta::get_path;
use serde_json::Value;

/// One `field=value` or `field!=value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A conjunction of field terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

/// A field selector that cannot be parsed or names an unsupported field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSelectorError(pub String);

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> Result<String, FieldSelectorError> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('\\' | ',' | '=')) => out.push(n),
                Some(n) => {
                    return Err(FieldSelectorError(format!(
                        "invalid field selector: invalid escape sequence: \\{n}"
                    )));
                }
                None => {
                    return Err(FieldSelectorError(
                        "invalid field selector: unterminated escape sequence".into(),
                    ));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses the query-string form.
    pub fn parse(s: &str) -> Result<Self, FieldSelectorError> {
        let mut requirements = Vec::new();
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        for term in split_unescaped(s, ',') {
            let (field, value, negated) = if let Some(i) = find_unescaped(&term, "!=") {
                (&term[..i], &term[i + 2..], true)
            } else if let Some(i) = find_unescaped(&term, "==") {
                (&term[..i], &term[i + 2..], false)
            } else if let Some(i) = find_unescaped(&term, "=") {
                (&term[..i], &term[i + 1..], false)
            } else {
                return Err(FieldSelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: field.trim().to_string(),
                value: unescape(value.trim())?,
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value a term requires for `field` with `=` (used to narrow lists by name).
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && !r.negated)
            .map(|r| r.value.as_str())
    }

    /// Rejects fields the kind does not support, with upstream's message.
    pub fn check_supported(&self, group: &str, kind: &str) -> Result<(), FieldSelectorError> {
        for r in &self.requirements {
            if !supported(group, kind, &r.field) {
                return Err(FieldSelectorError(format!(
                    "field label not supported: {}",
                    r.field
                )));
            }
        }
        Ok(())
    }

    /// Whether an object of the kind satisfies every term.
    pub fn matches(&self, group: &str, kind: &str, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let v = field_value(group, kind, obj, &r.field).unwrap_or_default();
            (v == r.value) != r.negated
        })
    }
}

fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Fields beyond `metadata.name`/`metadata.namespace` that upstream supports per kind.
fn kind_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") | ("events.k8s.io", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reportingController",
        ],
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "ReplicationController") => &["status.replicas"],
        ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => &["spec.signerName"],
        _ => &[],
    }
}

/// Whether `field` can be used in a field selector for the kind.
pub fn supported(group: &str, kind: &str, field: &str) -> bool {
    field == "metadata.name"
        || field == "metadata.namespace"
        || kind_fields(group, kind).contains(&field)
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The string value of a selectable field of an object (upstream's `ToSelectableFields`).
pub fn field_value(group: &str, kind: &str, obj: &Value, field: &str) -> Option<String> {
    if !supported(group, kind, field) {
        return None;
    }
    // events.k8s.io Events are stored as core Events: select on the stored names.
    let translated;
    let field = if group == "events.k8s.io" && kind == "Event" {
        translated = if let Some(rest) = field.strip_prefix("regarding.") {
            format!("involvedObject.{rest}")
        } else if field == "reportingController" {
            "reportingComponent".to_string()
        } else {
            field.to_string()
        };
        translated.as_str()
    } else {
        field
    };
    let path: Vec<&str> = field.split('.').collect();
    Some(match (kind, field) {
        ("Pod", "spec.hostNetwork") | ("Node", "spec.unschedulable") => {
            match get_path(obj, &path) {
                Some(Value::Bool(true)) => "true".into(),
                _ => "false".into(),
            }
        }
        ("Pod", "status.podIPs") => get_path(obj, &["status", "podIPs"])
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|ip| ip.get("ip"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        ("Event", "source") => {
            let c = scalar(get_path(obj, &["reportingComponent"]));
            if c.is_empty() {
                scalar(get_path(obj, &["source", "component"]))
            } else {
                c
            }
        }
        ("ReplicaSet" | "ReplicationController", "status.replicas")
        | ("Job", "status.successful") => {
            scalar(Some(get_path(obj, &path).unwrap_or(&Value::from(0))))
        }
        ("Secret", "type") => {
            let t = scalar(get_path(obj, &["type"]));
            if t.is_empty() { "Opaque".into() } else { t }
        }
        _ => scalar(get_path(obj, &path)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_and_match() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap();
        assert!(s.check_supported("", "Pod").is_ok());
        assert!(s.matches("", "Pod", &pod));
        let s = FieldSelector::parse("metadata.name==q").unwrap();
        assert!(!s.matches("", "Pod", &pod));
        let s = FieldSelector::parse("spec.foo=bar").unwrap();
        assert_eq!(
            s.check_supported("", "Pod").unwrap_err().to_string(),
            "field label not supported: spec.foo"
        );
        assert!(FieldSelector::parse("nonsense").is_err());
        let s = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(s.exact("metadata.name"), Some("a,b"));
        let ev = json!({"involvedObject": {"kind": "Deployment", "name": "web"}});
        let s =
            FieldSelector::parse("involvedObject.kind=Deployment,involvedObject.name=web").unwrap();
        assert!(s.matches("", "Event", &ev));
        let s = FieldSelector::parse("spec.nodeName=").unwrap();
        assert!(s.matches("", "Pod", &json!({"spec": {}})));
    }
}
