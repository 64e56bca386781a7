//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into the JSON object a
//! JSON client would have sent, and encoding of responses the other way (`encode`).
//!
//! Typed Go clients (kubectl's `create configmap|namespace|secret|deployment|...`, typed
//! DELETE bodies) send protobuf: the 4-byte magic `k8s\0`, then a `runtime.Unknown` envelope
//! `{1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType}` whose `raw`
//! is the object's message. The message layout (field numbers, wire types, JSON names, Go
//! embedded structs, custom JSON forms) comes from the generated `protobuf/schema.txt`
//! (`scripts/gen-proto-schema.py`), parsed once on first use.
//!
//! JSON follows what Go's encoding/json writes for the decoded Go object:
//! * a field present on the wire is emitted even when zero (`replicas: 0`), absent fields are
//!   omitted; except Go value fields tagged `omitempty`, which Go's encoder writes even when
//!   zero and whose zero value is dropped (schema label `z`: `generateName: ""`,
//!   `status.replicas: 0`, `hostNetwork: false` disappear);
//! * `bytes` are base64, maps are objects, repeated scalars may be packed or not;
//! * `meta.v1.Time` is RFC 3339 at second precision (`null` when empty), `MicroTime` has six
//!   fractional digits, `Duration` is a Go duration string (`1h0m0s`), `Quantity` its string,
//!   `IntOrString` a number or string, `RawExtension`/`FieldsV1`/apiextensions `JSON` the
//!   embedded JSON, `ExtraValue`/`Verbs` arrays, `JSONSchemaPropsOr{Array,Bool,StringArray}`
//!   their union forms.
//!
//! Unknown fields are skipped; malformed input gives a [`ProtobufError`], never a panic.

mod encode;
mod schema;
mod special;
mod wire;

pub use encode::{decode_watch_event, encode_object, encode_watch_event};

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use serde_json::{Map, Value};

use schema::{Field, Label, Message, Scalar, Schema, Type};
use wire::Reader;

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8; 4] = b"k8s\0";
const SCHEMA_TEXT: &str = include_str!("protobuf/schema.txt");
/// Messages nest at most this deep (JSONSchemaProps recurse; bound the stack).
const MAX_DEPTH: usize = 64;

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("not a Kubernetes protobuf body: missing the \"k8s\\0\" prefix")]
    MissingMagic,
    #[error("truncated protobuf data in {0}")]
    Truncated(String),
    #[error("malformed varint in {0}")]
    BadVarint(String),
    #[error("{context}: field {tag} has wire type {wire}, expected {expected}")]
    WireType {
        context: String,
        tag: u32,
        wire: u8,
        expected: &'static str,
    },
    #[error("{context}: {detail}")]
    Invalid { context: String, detail: String },
    #[error("protobuf envelope has no apiVersion or kind")]
    MissingTypeMeta,
    #[error("unsupported protobuf envelope {what} {value:?}")]
    UnsupportedEnvelope { what: &'static str, value: String },
    #[error("no protobuf schema for kind {kind:?} in {api_version:?}")]
    UnknownKind { api_version: String, kind: String },
    #[error("protobuf messages nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("protobuf schema: {0}")]
    Schema(String),
}

/// Whether a `Content-Type` is Kubernetes protobuf (parameters ignored).
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

fn schema() -> Result<&'static Schema, ProtobufError> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Schema::parse(SCHEMA_TEXT))
        .as_ref()
        .map_err(|e| ProtobufError::Schema(e.clone()))
}

/// Decodes a protobuf request body (`k8s\0` + `runtime.Unknown`) into the JSON object a JSON
/// request would carry, with `apiVersion` and `kind` set from the envelope.
pub fn decode_object(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_object_at(body, 0)
}

fn decode_object_at(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let schema = schema()?;
    let (mut api_version, mut kind) = (String::new(), String::new());
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(envelope, "runtime.Unknown");
    while !r.done() {
        let (tag, wire) = r.key()?;
        match (tag, wire) {
            (1, wire::LEN) => {
                let mut t = Reader::new(r.bytes()?, "runtime.TypeMeta");
                while !t.done() {
                    match t.key()? {
                        (1, wire::LEN) => {
                            api_version = utf8(t.bytes()?, "runtime.TypeMeta.apiVersion")?
                        }
                        (2, wire::LEN) => kind = utf8(t.bytes()?, "runtime.TypeMeta.kind")?,
                        (_, w) => t.skip(w)?,
                    }
                }
            }
            (2, wire::LEN) => raw = r.bytes()?,
            (3, wire::LEN) => {
                let encoding = utf8(r.bytes()?, "runtime.Unknown.contentEncoding")?;
                if !encoding.is_empty() {
                    return Err(ProtobufError::UnsupportedEnvelope {
                        what: "contentEncoding",
                        value: encoding,
                    });
                }
            }
            (4, wire::LEN) => {
                let content_type = utf8(r.bytes()?, "runtime.Unknown.contentType")?;
                if !content_type.is_empty() && !is_protobuf(&content_type) {
                    return Err(ProtobufError::UnsupportedEnvelope {
                        what: "contentType",
                        value: content_type,
                    });
                }
            }
            (1..=4, w) => {
                return Err(ProtobufError::WireType {
                    context: "runtime.Unknown".into(),
                    tag,
                    wire: w,
                    expected: "length-delimited",
                });
            }
            (_, w) => r.skip(w)?,
        }
    }
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    let index =
        schema
            .find_kind(&api_version, &kind)
            .ok_or_else(|| ProtobufError::UnknownKind {
                api_version: api_version.clone(),
                kind: kind.clone(),
            })?;
    let message = message_at(schema, index)?;
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(kind));
    object.insert("apiVersion".into(), Value::String(api_version));
    if message.special.is_some() {
        return Err(ProtobufError::Invalid {
            context: message.name.clone(),
            detail: "not an object kind".into(),
        });
    }
    let mut d = Decoder { schema, depth };
    d.fields_into(message, raw, &mut object)?;
    Ok(Value::Object(object))
}

fn message_at(schema: &Schema, index: usize) -> Result<&Message, ProtobufError> {
    schema
        .message(index)
        .ok_or_else(|| ProtobufError::Schema(format!("no message #{index}")))
}

fn utf8(bytes: &[u8], context: &str) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Invalid {
        context: context.to_string(),
        detail: "invalid UTF-8 in a string".into(),
    })
}

fn field_context(message: &Message, field: &Field) -> String {
    format!("{}.{}", message.name, field.json)
}

/// Whether a JSON value is the zero value of its Go scalar type.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
    }
}

struct Decoder<'s> {
    schema: &'s Schema,
    depth: usize,
}

impl Decoder<'_> {
    fn enter(&mut self) -> Result<(), ProtobufError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ProtobufError::TooDeep);
        }
        Ok(())
    }

    /// A message as its JSON value.
    fn message_value(&mut self, index: usize, buf: &[u8]) -> Result<Value, ProtobufError> {
        let schema = self.schema;
        let message = message_at(schema, index)?;
        self.enter()?;
        let value = match message.special {
            Some(special) => self.special(message, special, buf),
            None => {
                let mut object = Map::new();
                self.fields_into(message, buf, &mut object)
                    .map(|()| Value::Object(object))
            }
        };
        self.depth -= 1;
        value
    }

    /// Decodes a message's fields into `object` (also used for inline fields).
    fn fields_into(
        &mut self,
        message: &Message,
        buf: &[u8],
        object: &mut Map<String, Value>,
    ) -> Result<(), ProtobufError> {
        let mut r = Reader::new(buf, &message.name);
        while !r.done() {
            let (tag, wire) = r.key()?;
            let Some(field) = message.field(tag) else {
                r.skip(wire)?;
                continue;
            };
            match field.label {
                Label::Optional | Label::OmitZero => {
                    let value = self.single(message, field, wire, &mut r)?;
                    if field.label == Label::OmitZero && is_zero(&value) {
                        object.remove(field.json);
                        continue;
                    }
                    match (object.get_mut(field.json), value) {
                        // A repeated occurrence of a message field merges into the first.
                        (Some(Value::Object(old)), Value::Object(new))
                            if matches!(field.ty, Type::Message(_)) =>
                        {
                            old.extend(new);
                        }
                        (_, value) => {
                            object.insert(field.json.to_string(), value);
                        }
                    }
                }
                Label::Repeated => {
                    let mut items = Vec::new();
                    match field.ty {
                        Type::Scalar(s) if s.packable() && wire == wire::LEN => {
                            let mut packed = Reader::new(r.bytes()?, &message.name);
                            while !packed.done() {
                                items.push(self.scalar(
                                    message,
                                    field,
                                    s,
                                    scalar_wire(s),
                                    &mut packed,
                                )?);
                            }
                        }
                        _ => items.push(self.single(message, field, wire, &mut r)?),
                    }
                    match object.get_mut(field.json) {
                        Some(Value::Array(old)) => old.extend(items),
                        _ => {
                            object.insert(field.json.to_string(), Value::Array(items));
                        }
                    }
                }
                Label::Map => {
                    expect_wire(message, field, wire, wire::LEN)?;
                    let (key, value) = self.map_entry(message, field, r.bytes()?)?;
                    match object.get_mut(field.json) {
                        Some(Value::Object(map)) => {
                            map.insert(key, value);
                        }
                        _ => {
                            object.insert(
                                field.json.to_string(),
                                Value::Object(Map::from_iter([(key, value)])),
                            );
                        }
                    }
                }
                Label::Inline => {
                    expect_wire(message, field, wire, wire::LEN)?;
                    let Type::Message(index) = field.ty else {
                        return Err(ProtobufError::Schema(field_context(message, field)));
                    };
                    let inner = message_at(self.schema, index)?;
                    let buf = r.bytes()?;
                    self.enter()?;
                    let result = self.fields_into(inner, buf, object);
                    self.depth -= 1;
                    result?;
                }
            }
        }
        Ok(())
    }

    /// One value of a field (an element, for repeated fields).
    fn single(
        &mut self,
        message: &Message,
        field: &Field,
        wire: u8,
        r: &mut Reader<'_, '_>,
    ) -> Result<Value, ProtobufError> {
        match field.ty {
            Type::Scalar(s) => self.scalar(message, field, s, wire, r),
            Type::Message(index) => {
                expect_wire(message, field, wire, wire::LEN)?;
                self.message_value(index, r.bytes()?)
            }
        }
    }

    fn scalar(
        &mut self,
        message: &Message,
        field: &Field,
        scalar: Scalar,
        wire: u8,
        r: &mut Reader<'_, '_>,
    ) -> Result<Value, ProtobufError> {
        expect_wire(message, field, wire, scalar_wire(scalar))?;
        Ok(match scalar {
            Scalar::String => Value::String(utf8(r.bytes()?, &field_context(message, field))?),
            Scalar::Bytes => Value::String(wire::base64(r.bytes()?)),
            Scalar::Bool => Value::Bool(r.varint()? != 0),
            // int32 is sign-extended to 64 bits on the wire; keep the low 32.
            Scalar::Int32 => Value::from(r.varint()? as i32),
            Scalar::Int64 => Value::from(r.varint()? as i64),
            Scalar::Double => float(f64::from_bits(r.fixed64()?), message, field)?,
            Scalar::Float => {
                let f = f32::from_bits(r.fixed32()?);
                // Shortest decimal form of the float32 (as Go writes it), then as a double.
                float(
                    f.to_string().parse::<f64>().unwrap_or(f64::from(f)),
                    message,
                    field,
                )?
            }
        })
    }

    /// A map entry `{1 key, 2 value}`; missing parts are zero values.
    fn map_entry(
        &mut self,
        message: &Message,
        field: &Field,
        buf: &[u8],
    ) -> Result<(String, Value), ProtobufError> {
        let context = field_context(message, field);
        let mut r = Reader::new(buf, &context);
        let (mut key, mut value) = (String::new(), None);
        while !r.done() {
            match r.key()? {
                (1, wire::LEN) => key = utf8(r.bytes()?, &context)?,
                (1, w) => {
                    return Err(ProtobufError::WireType {
                        context,
                        tag: 1,
                        wire: w,
                        expected: "length-delimited",
                    });
                }
                (2, w) => value = Some(self.single(message, field, w, &mut r)?),
                (_, w) => r.skip(w)?,
            }
        }
        let value = match value {
            Some(v) => v,
            None => match field.ty {
                Type::Scalar(Scalar::String | Scalar::Bytes) => Value::String(String::new()),
                Type::Scalar(Scalar::Bool) => Value::Bool(false),
                Type::Scalar(_) => Value::from(0),
                Type::Message(index) => self.message_value(index, &[])?,
            },
        };
        Ok((key, value))
    }
}

fn scalar_wire(scalar: Scalar) -> u8 {
    match scalar {
        Scalar::String | Scalar::Bytes => wire::LEN,
        Scalar::Bool | Scalar::Int32 | Scalar::Int64 => wire::VARINT,
        Scalar::Double => wire::FIXED64,
        Scalar::Float => wire::FIXED32,
    }
}

fn expect_wire(
    message: &Message,
    field: &Field,
    wire: u8,
    expected: u8,
) -> Result<(), ProtobufError> {
    if wire == expected {
        return Ok(());
    }
    Err(ProtobufError::WireType {
        context: field_context(message, field),
        tag: field.tag,
        wire,
        expected: match expected {
            wire::VARINT => "varint",
            wire::FIXED64 => "fixed64",
            wire::FIXED32 => "fixed32",
            _ => "length-delimited",
        },
    })
}

/// A float as Go's encoding/json writes it: integral values without a fraction.
fn float(f: f64, message: &Message, field: &Field) -> Result<Value, ProtobufError> {
    if !f.is_finite() {
        return Err(ProtobufError::Invalid {
            context: field_context(message, field),
            detail: format!("{f} has no JSON form"),
        });
    }
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        return Ok(Value::from(f as i64));
    }
    Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))
}
