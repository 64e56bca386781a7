//! Label selectors: the query-string grammar (`a=b,c!=d,e in (x,y),!f`), the structured
//! `matchLabels`/`matchExpressions` form, matching, and rendering back to a string.

use serde_json::{Map, Value};
use std::fmt;

/// A selector operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

/// A conjunction of requirements; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
    /// A structured selector that can match nothing (upstream's `labels.Nothing()`).
    pub nothing: bool,
}

/// Why a selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let val = labels
            .and_then(|l| l.get(&self.key))
            .and_then(Value::as_str);
        match self.op {
            Op::Equals | Op::In => val.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Op::NotEquals | Op::NotIn => val.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Op::Exists => val.is_some(),
            Op::DoesNotExist => val.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(v), Some(bound)) = (
                    val.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|b| b.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.op == Op::GreaterThan {
                    v > bound
                } else {
                    v < bound
                }
            }
        }
    }
}

impl LabelSelector {
    /// Matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Whether the selector has no requirements (and is not `nothing`).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    /// Parses the query-string form.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut p = Parser {
            chars: s.chars().collect(),
            pos: 0,
        };
        let mut reqs = Vec::new();
        p.skip_ws();
        if p.at_end() {
            return Ok(Self::default());
        }
        loop {
            reqs.push(p.requirement()?);
            p.skip_ws();
            if p.at_end() {
                break;
            }
            if !p.eat(',') {
                return Err(SelectorError(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    p.rest_token()
                )));
            }
        }
        for r in &reqs {
            validate_key(&r.key)?;
            for v in &r.values {
                validate_value(v)?;
            }
        }
        Ok(LabelSelector {
            requirements: reqs,
            nothing: false,
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` object (`matchLabels`,
    /// `matchExpressions`). A missing (null) selector matches nothing, as upstream.
    pub fn from_structured(v: Option<&Value>) -> Result<Self, SelectorError> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(LabelSelector {
                requirements: vec![],
                nothing: true,
            });
        };
        let mut reqs = Vec::new();
        if let Some(ml) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in ml {
                let val = val
                    .as_str()
                    .ok_or_else(|| SelectorError(format!("matchLabels[{k}] must be a string")))?;
                reqs.push(Requirement {
                    key: k.clone(),
                    op: Op::Equals,
                    values: vec![val.to_string()],
                });
            }
        }
        if let Some(exprs) = v.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => Op::In,
                    "NotIn" => Op::NotIn,
                    "Exists" => Op::Exists,
                    "DoesNotExist" => Op::DoesNotExist,
                    other => {
                        return Err(SelectorError(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                };
                reqs.push(Requirement {
                    key: key.to_string(),
                    op,
                    values,
                });
            }
        }
        for r in &reqs {
            validate_key(&r.key)?;
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements: reqs,
            nothing: false,
        })
    }

    /// Whether a label map satisfies every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(crate::meta::labels(obj))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.op {
                Op::Equals => format!("{}={}", r.key, r.values.join(",")),
                Op::NotEquals => format!("{}!={}", r.key, r.values.join(",")),
                Op::In => format!("{} in ({})", r.key, r.values.join(",")),
                Op::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Op::Exists => r.key.clone(),
                Op::DoesNotExist => format!("!{}", r.key),
                Op::GreaterThan => format!("{}>{}", r.key, r.values.join(",")),
                Op::LessThan => format!("{}<{}", r.key, r.values.join(",")),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Checks a label key: optional DNS-subdomain prefix and a name of at most 63 characters.
pub fn validate_key(key: &str) -> Result<(), SelectorError> {
    let errs = crate::validation_names::qualified_name(key);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "key: Invalid value: {key:?}: {}",
            errs.join("; ")
        )))
    }
}

fn validate_value(v: &str) -> Result<(), SelectorError> {
    let errs = crate::validation_names::label_value(v);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "values[0]: Invalid value: {v:?}: {}",
            errs.join("; ")
        )))
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn rest_token(&self) -> String {
        self.chars[self.pos..]
            .iter()
            .take_while(|c| !c.is_whitespace() && **c != ',')
            .collect()
    }
    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || "=!(),<>".contains(c) {
                break;
            }
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }
    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        self.skip_ws();
        if self.eat('!') {
            self.skip_ws();
            let key = self.ident();
            if key.is_empty() {
                return Err(SelectorError(
                    "unable to parse requirement: found '', expected: identifier".into(),
                ));
            }
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
                values: vec![],
            });
        }
        let key = self.ident();
        if key.is_empty() {
            return Err(SelectorError(format!(
                "unable to parse requirement: found '{}', expected: identifier",
                self.rest_token()
            )));
        }
        self.skip_ws();
        let op = if self.at_end() || self.peek() == Some(',') {
            return Ok(Requirement {
                key,
                op: Op::Exists,
                values: vec![],
            });
        } else if self.eat('=') {
            self.eat('=');
            Op::Equals
        } else if self.eat('!') {
            if !self.eat('=') {
                return Err(SelectorError("found '!', expected: '='".into()));
            }
            Op::NotEquals
        } else if self.eat('>') {
            Op::GreaterThan
        } else if self.eat('<') {
            Op::LessThan
        } else {
            let word = self.ident();
            match word.as_str() {
                "in" => Op::In,
                "notin" => Op::NotIn,
                other => {
                    return Err(SelectorError(format!(
                        "unable to parse requirement: found '{other}', expected: in, notin, =, ==, !=, gt, lt"
                    )));
                }
            }
        };
        self.skip_ws();
        let values = match op {
            Op::In | Op::NotIn => {
                if !self.eat('(') {
                    return Err(SelectorError(format!(
                        "found '{}', expected: '('",
                        self.rest_token()
                    )));
                }
                let mut vals = Vec::new();
                loop {
                    self.skip_ws();
                    let v = self.ident();
                    self.skip_ws();
                    vals.push(v);
                    if self.eat(',') {
                        continue;
                    }
                    if self.eat(')') {
                        break;
                    }
                    return Err(SelectorError(format!(
                        "found '{}', expected: ',', or ')'",
                        self.rest_token()
                    )));
                }
                vals
            }
            Op::GreaterThan | Op::LessThan => {
                let v = self.ident();
                if v.parse::<i64>().is_err() {
                    return Err(SelectorError(format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer: {v:?}"
                    )));
                }
                vec![v]
            }
            _ => vec![self.ident()],
        };
        Ok(Requirement { key, op, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn parse_and_match() {
        let l = labels(json!({"app": "nginx", "tier": "web", "n": "5"}));
        let cases = [
            ("", true),
            ("app=nginx", true),
            ("app==nginx", true),
            ("app!=nginx", false),
            ("app=nginx,tier=web", true),
            ("app in (nginx, redis)", true),
            ("app notin (nginx,redis)", false),
            ("tier notin (db)", true),
            ("missing notin (db)", true),
            ("missing", false),
            ("!missing", true),
            ("app", true),
            ("!app", false),
            ("n>3", true),
            ("n<3", false),
            ("missing!=x", true),
        ];
        for (s, want) in cases {
            let sel = LabelSelector::parse(s).unwrap();
            assert_eq!(sel.matches(Some(&l)), want, "selector {s:?}");
        }
    }

    #[test]
    fn parse_errors() {
        for s in [
            "app=",
            "a b",
            "app in nginx",
            "x in (a",
            "=x",
            "-bad=x",
            "app=nginx,,",
        ] {
            // `app=` is valid upstream (empty value); only check it does not panic.
            let _ = LabelSelector::parse(s);
        }
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("app in nginx").is_err());
        assert!(LabelSelector::parse("x in (a").is_err());
        assert!(LabelSelector::parse("-bad=x").is_err());
        assert!(
            LabelSelector::parse("app=")
                .unwrap()
                .matches(Some(&labels(json!({"app": ""}))))
        );
    }

    #[test]
    fn structured() {
        let sel = LabelSelector::from_structured(Some(&json!({
            "matchLabels": {"app": "nginx"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]
        })))
        .unwrap();
        assert_eq!(sel.to_string(), "app=nginx,tier in (web)");
        assert!(sel.matches(Some(&labels(json!({"app": "nginx", "tier": "web"})))));
        assert!(!LabelSelector::from_structured(None).unwrap().matches(None));
        assert!(
            LabelSelector::from_structured(Some(&json!({})))
                .unwrap()
                .matches(None)
        );
    }
}
