//! The protobuf schema of the Kubernetes API, parsed from the generated `schema.txt`
//! (see `scripts/gen-proto-schema.py` for the line format).

use std::collections::HashMap;

/// A scalar protobuf type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Bool,
    Int32,
    Int64,
    Double,
    Float,
    Bytes,
}

impl Scalar {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "bool" => Self::Bool,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "double" => Self::Double,
            "float" => Self::Float,
            "bytes" => Self::Bytes,
            _ => return None,
        })
    }

    /// Whether a repeated field of this type may be packed into one length-delimited record.
    pub(crate) fn packable(self) -> bool {
        !matches!(self, Self::String | Self::Bytes)
    }
}

/// The type of a field: a scalar or a message (an index into [`Schema::messages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Scalar(Scalar),
    Message(usize),
}

/// How a field appears on the wire and in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// Emitted whenever present on the wire (proto2 presence).
    Optional,
    /// Present on the wire but dropped from JSON when zero (a Go value field with `omitempty`).
    OmitZero,
    /// A JSON array; scalars may be packed.
    Repeated,
    /// A JSON object of `{1 key, 2 value}` entries with string keys.
    Map,
    /// A Go embedded struct: its fields are merged into the parent object.
    Inline,
}

/// A message whose JSON form is not an object of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    RawJson,
    Strings,
    PropsOrArray,
    PropsOrBool,
    PropsOrStrings,
}

impl Special {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "time" => Self::Time,
            "microtime" => Self::MicroTime,
            "duration" => Self::Duration,
            "quantity" => Self::Quantity,
            "intorstring" => Self::IntOrString,
            "rawjson" => Self::RawJson,
            "strings" => Self::Strings,
            "propsorarray" => Self::PropsOrArray,
            "propsorbool" => Self::PropsOrBool,
            "propsorstrings" => Self::PropsOrStrings,
            _ => return None,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) tag: u32,
    pub(crate) json: &'static str,
    pub(crate) label: Label,
    pub(crate) ty: Type,
}

#[derive(Debug)]
pub(crate) struct Message {
    /// Fully qualified, e.g. `api.core.v1.ConfigMap`.
    pub(crate) name: String,
    pub(crate) special: Option<Special>,
    /// Sorted by tag.
    pub(crate) fields: Vec<Field>,
}

impl Message {
    pub(crate) fn field(&self, tag: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .and_then(|i| self.fields.get(i))
    }
}

#[derive(Debug)]
pub(crate) struct Schema {
    pub(crate) messages: Vec<Message>,
    /// Lowercased full name -> index (kinds are matched case-insensitively: the schema spells
    /// `CsiDriver` where the kind is `CSIDriver`).
    by_lower_name: HashMap<String, usize>,
    /// API group ("" for core) -> package prefix, e.g. `apps` -> `api.apps`.
    groups: HashMap<&'static str, &'static str>,
}

impl Schema {
    /// The message for a fully qualified name, matched case-insensitively.
    pub(crate) fn find(&self, full_name: &str) -> Option<usize> {
        self.by_lower_name
            .get(&full_name.to_ascii_lowercase())
            .copied()
    }

    /// The message of `kind` in `apiVersion`. Kinds of `meta.k8s.io/v1` (DeleteOptions,
    /// Status, ...) are found from any group version, as typed clients send them with the
    /// version of the resource they act on.
    pub(crate) fn find_kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let in_group = self
            .groups
            .get(group)
            .and_then(|pkg| self.find(&format!("{pkg}.{version}.{kind}")));
        in_group.or_else(|| self.find(&format!("apimachinery.pkg.apis.meta.v1.{kind}")))
    }

    pub(crate) fn message(&self, index: usize) -> Option<&Message> {
        self.messages.get(index)
    }

    /// Parses the schema text. Errors name the offending line.
    pub(crate) fn parse(text: &'static str) -> Result<Schema, String> {
        struct RawField {
            tag: u32,
            json: &'static str,
            label: Label,
            ty: &'static str,
            line: usize,
        }
        let mut groups = HashMap::new();
        let mut raw: Vec<(String, Option<Special>, Vec<RawField>)> = Vec::new();
        let mut package: Option<&str> = None;
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let bad = |what: &str| format!("line {line_no}: {what}: {line:?}");
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parts: Vec<&'static str> = line.split(' ').collect();
            match parts.as_slice() {
                ["G", group, pkg] => {
                    let group = if *group == "-" { "" } else { *group };
                    groups.insert(group, *pkg);
                }
                ["P", pkg] => package = Some(pkg),
                ["M", name, rest @ ..] => {
                    let pkg = package.ok_or_else(|| bad("message before any package"))?;
                    let special = match rest {
                        [] => None,
                        [s] => Some(
                            s.strip_prefix('=')
                                .and_then(Special::parse)
                                .ok_or_else(|| bad("unknown special form"))?,
                        ),
                        _ => return Err(bad("malformed message line")),
                    };
                    raw.push((format!("{pkg}.{name}"), special, Vec::new()));
                }
                ["F", tag, json, label, ty] => {
                    let tag = tag
                        .parse::<u32>()
                        .ok()
                        .filter(|t| *t > 0)
                        .ok_or_else(|| bad("bad field number"))?;
                    let label = match *label {
                        "o" => Label::Optional,
                        "z" => Label::OmitZero,
                        "r" => Label::Repeated,
                        "m" => Label::Map,
                        "i" => Label::Inline,
                        _ => return Err(bad("unknown label")),
                    };
                    // A bare message name is in the current package; resolved below.
                    let (_, _, fields) = raw
                        .last_mut()
                        .ok_or_else(|| bad("field outside a message"))?;
                    fields.push(RawField {
                        tag,
                        json,
                        label,
                        ty,
                        line: line_no,
                    });
                }
                _ => return Err(bad("unrecognised line")),
            }
        }

        let by_name: HashMap<String, usize> = raw
            .iter()
            .enumerate()
            .map(|(i, (name, _, _))| (name.clone(), i))
            .collect();
        let mut messages = Vec::with_capacity(raw.len());
        for (name, special, fields) in raw {
            let pkg = name.rsplit_once('.').map_or("", |(p, _)| p);
            let mut resolved = Vec::with_capacity(fields.len());
            for f in fields {
                let ty = match Scalar::parse(f.ty) {
                    Some(s) => Type::Scalar(s),
                    None => {
                        let full = if f.ty.contains('.') {
                            f.ty.to_string()
                        } else {
                            format!("{pkg}.{}", f.ty)
                        };
                        let index = by_name.get(&full).ok_or_else(|| {
                            format!("line {}: unknown message type {full}", f.line)
                        })?;
                        Type::Message(*index)
                    }
                };
                if matches!(f.label, Label::Inline) && !matches!(ty, Type::Message(_)) {
                    return Err(format!("line {}: inline field of a scalar type", f.line));
                }
                resolved.push(Field {
                    tag: f.tag,
                    json: f.json,
                    label: f.label,
                    ty,
                });
            }
            resolved.sort_by_key(|f| f.tag);
            if resolved.windows(2).any(|w| w[0].tag == w[1].tag) {
                return Err(format!("{name}: duplicate field number"));
            }
            messages.push(Message {
                name,
                special,
                fields: resolved,
            });
        }
        let mut by_lower_name = HashMap::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            if by_lower_name
                .insert(m.name.to_ascii_lowercase(), i)
                .is_some()
            {
                return Err(format!("{}: two messages differ only in case", m.name));
            }
        }
        Ok(Schema {
            messages,
            by_lower_name,
            groups,
        })
    }
}
