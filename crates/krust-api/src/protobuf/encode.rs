//! Encoding of JSON objects as `application/vnd.kubernetes.protobuf` (the `k8s\0` magic and a
//! `runtime.Unknown` envelope around the object's message), the inverse of the decoder: field
//! numbers and types from the same schema, Go's special forms (Time, MicroTime, Duration,
//! Quantity, IntOrString, RawExtension and friends) written as their protobuf messages.
//!
//! Fields present in the JSON are written in field-number order; absent and `null` fields are
//! left out (Go's decoder reads both as the zero value); JSON fields the schema does not know
//! are dropped. Map entries are written in sorted key order, as gogo-protobuf does.

use serde_json::{Map, Value};

use super::schema::{Field, Label, Message, Scalar, Schema, Special, Type};
use super::{MAGIC, MAX_DEPTH, ProtobufError, message_at, schema};

/// Encodes a JSON object (with `apiVersion` and `kind`) as a protobuf body: `k8s\0` and the
/// `runtime.Unknown` envelope. Fails for kinds without a protobuf message (custom resources).
pub fn encode_object(obj: &Value) -> Result<Vec<u8>, ProtobufError> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let raw = encode_message_of(api_version, kind, obj)?;
    Ok(envelope(api_version, kind, &raw))
}

/// A `metav1.WatchEvent` frame body as upstream's raw streaming serializer writes it: the
/// bare message `{1 type, 2 object: RawExtension{1 raw: the object's own protobuf body}}`,
/// without the `k8s\0` envelope (only the embedded object has one).
pub fn encode_watch_event(event_type: &str, object: &Value) -> Result<Vec<u8>, ProtobufError> {
    let inner = encode_object(object)?;
    let mut event = Vec::new();
    put_len(&mut event, 1, event_type.as_bytes());
    let mut raw = Vec::new();
    put_len(&mut raw, 1, &inner);
    put_len(&mut event, 2, &raw);
    Ok(event)
}

/// Reads a frame [`encode_watch_event`] wrote: the event type and the decoded object.
pub fn decode_watch_event(frame: &[u8]) -> Result<(String, Value), ProtobufError> {
    use super::wire::{LEN, Reader};
    let (mut kind, mut object) = (String::new(), Value::Null);
    let mut r = Reader::new(frame, "WatchEvent");
    while !r.done() {
        match r.key()? {
            (1, LEN) => kind = String::from_utf8_lossy(r.bytes()?).into_owned(),
            (2, LEN) => {
                let mut raw = Reader::new(r.bytes()?, "RawExtension");
                while !raw.done() {
                    match raw.key()? {
                        (1, LEN) => object = super::decode_object(raw.bytes()?)?,
                        (_, w) => raw.skip(w)?,
                    }
                }
            }
            (_, w) => r.skip(w)?,
        }
    }
    Ok((kind, object))
}

fn encode_message_of(api_version: &str, kind: &str, obj: &Value) -> Result<Vec<u8>, ProtobufError> {
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    let schema = schema()?;
    let index = schema
        .find_kind(api_version, kind)
        .ok_or_else(|| ProtobufError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        })?;
    let message = message_at(schema, index)?;
    let Some(map) = obj.as_object().filter(|_| message.special.is_none()) else {
        return Err(ProtobufError::Invalid {
            context: message.name.clone(),
            detail: "not an object kind".into(),
        });
    };
    let mut e = Encoder { schema, depth: 0 };
    let mut out = Vec::new();
    e.fields(message, map, &mut out)?;
    Ok(out)
}

/// `k8s\0` + `runtime.Unknown{typeMeta, raw, contentEncoding: "", contentType: ""}`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    put_len(&mut type_meta, 1, api_version.as_bytes());
    put_len(&mut type_meta, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(raw.len() + type_meta.len() + 16);
    out.extend_from_slice(MAGIC);
    put_len(&mut out, 1, &type_meta);
    put_len(&mut out, 2, raw);
    put_len(&mut out, 3, b"");
    put_len(&mut out, 4, b"");
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_key(out: &mut Vec<u8>, tag: u32, wire: u8) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(wire));
}

fn put_len(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, super::wire::LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

struct Encoder<'s> {
    schema: &'s Schema,
    depth: usize,
}

impl Encoder<'_> {
    fn invalid(message: &Message, field: &str, detail: impl Into<String>) -> ProtobufError {
        ProtobufError::Invalid {
            context: format!("{}.{field}", message.name),
            detail: detail.into(),
        }
    }

    /// Writes the fields of `message` found in `map` (inline fields read the same map).
    fn fields(
        &mut self,
        message: &Message,
        map: &Map<String, Value>,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtobufError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ProtobufError::TooDeep);
        }
        for field in &message.fields {
            if field.label == Label::Inline {
                let Type::Message(index) = field.ty else {
                    continue;
                };
                let inner = message_at(self.schema, index)?;
                let mut buf = Vec::new();
                self.fields(inner, map, &mut buf)?;
                put_len(out, field.tag, &buf);
                continue;
            }
            let Some(value) = map.get(field.json).filter(|v| !v.is_null()) else {
                continue;
            };
            match field.label {
                Label::Repeated => {
                    let Some(items) = value.as_array() else {
                        return Err(Self::invalid(message, field.json, "expected an array"));
                    };
                    for item in items.iter().filter(|v| !v.is_null()) {
                        self.single(message, field, item, out)?;
                    }
                }
                Label::Map => {
                    let Some(entries) = value.as_object() else {
                        return Err(Self::invalid(message, field.json, "expected an object"));
                    };
                    let mut keys: Vec<&String> = entries.keys().collect();
                    keys.sort();
                    for key in keys {
                        let mut entry = Vec::new();
                        put_len(&mut entry, 1, key.as_bytes());
                        if let Some(v) = entries.get(key).filter(|v| !v.is_null()) {
                            let mut value_field = Vec::new();
                            self.single_at(message, field, 2, v, &mut value_field)?;
                            entry.extend_from_slice(&value_field);
                        }
                        put_len(out, field.tag, &entry);
                    }
                }
                _ => self.single(message, field, value, out)?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn single(
        &mut self,
        message: &Message,
        field: &Field,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtobufError> {
        self.single_at(message, field, field.tag, value, out)
    }

    /// One value of `field`'s type, written under `tag` (the field's, or 2 in a map entry).
    fn single_at(
        &mut self,
        message: &Message,
        field: &Field,
        tag: u32,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtobufError> {
        match field.ty {
            Type::Scalar(s) => scalar(message, field, s, tag, value, out),
            Type::Message(index) => {
                let mut buf = Vec::new();
                self.message_value(index, value, &mut buf)?;
                put_len(out, tag, &buf);
                Ok(())
            }
        }
    }

    /// The body of message `index` for a JSON value.
    fn message_value(
        &mut self,
        index: usize,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtobufError> {
        let message = message_at(self.schema, index)?;
        if let Some(special) = message.special {
            return self.special(message, special, value, out);
        }
        let Some(map) = value.as_object() else {
            return Err(Self::invalid(message, "", "expected an object"));
        };
        self.fields(message, map, out)
    }

    fn special(
        &mut self,
        message: &Message,
        special: Special,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtobufError> {
        let bad = |detail: String| Self::invalid(message, "", detail);
        match special {
            Special::Time | Special::MicroTime => {
                let text = value.as_str().unwrap_or_default();
                if text.is_empty() {
                    return Ok(());
                }
                let t: jiff::Timestamp = text
                    .parse()
                    .map_err(|e| bad(format!("time {text:?}: {e}")))?;
                put_key(out, 1, super::wire::VARINT);
                put_varint(out, t.as_second() as u64);
                let nanos = t.subsec_nanosecond();
                if nanos != 0 {
                    put_key(out, 2, super::wire::VARINT);
                    put_varint(out, i64::from(nanos) as u64);
                }
            }
            Special::Duration => {
                let text = value.as_str().unwrap_or_default();
                let nanos =
                    parse_go_duration(text).ok_or_else(|| bad(format!("duration {text:?}")))?;
                put_key(out, 1, super::wire::VARINT);
                put_varint(out, nanos as u64);
            }
            Special::Quantity => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                put_len(out, 1, text.as_bytes());
            }
            Special::IntOrString => match value {
                Value::Number(n) => {
                    put_key(out, 1, super::wire::VARINT);
                    put_varint(out, 0);
                    put_key(out, 2, super::wire::VARINT);
                    put_varint(out, n.as_i64().unwrap_or(0) as u64);
                }
                other => {
                    put_key(out, 1, super::wire::VARINT);
                    put_varint(out, 1);
                    put_len(out, 3, other.as_str().unwrap_or_default().as_bytes());
                }
            },
            Special::RawJson => {
                let raw = serde_json::to_vec(value).map_err(|e| bad(e.to_string()))?;
                put_len(out, 1, &raw);
            }
            Special::Strings => {
                for s in value.as_array().into_iter().flatten() {
                    put_len(out, 1, s.as_str().unwrap_or_default().as_bytes());
                }
            }
            // JSONSchemaPropsOrArray {1 schema, 2 jSONSchemas}; OrStringArray {1 schema,
            // 2 property}; OrBool {1 allows, 2 schema}.
            Special::PropsOrArray | Special::PropsOrStrings => {
                let field = |tag| message.field(tag);
                match (value, field(1), field(2)) {
                    (Value::Array(items), _, Some(f2)) => {
                        for item in items {
                            self.single(message, f2, item, out)?;
                        }
                    }
                    (other, Some(f1), _) => self.single(message, f1, other, out)?,
                    _ => return Err(bad("schema has no fields".into())),
                }
            }
            Special::PropsOrBool => match value {
                Value::Bool(b) => {
                    put_key(out, 1, super::wire::VARINT);
                    put_varint(out, u64::from(*b));
                }
                other => {
                    put_key(out, 1, super::wire::VARINT);
                    put_varint(out, 1);
                    if let Some(f2) = message.field(2) {
                        self.single(message, f2, other, out)?;
                    }
                }
            },
        }
        Ok(())
    }
}

fn scalar(
    message: &Message,
    field: &Field,
    scalar: Scalar,
    tag: u32,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), ProtobufError> {
    let bad =
        |expected: &str| Encoder::invalid(message, field.json, format!("expected {expected}"));
    let int = || {
        value
            .as_i64()
            .or_else(|| value.as_u64().map(|u| u as i64))
            .or_else(|| value.as_f64().map(|f| f as i64))
            .ok_or_else(|| bad("a number"))
    };
    match scalar {
        Scalar::String => {
            let s = value.as_str().ok_or_else(|| bad("a string"))?;
            put_len(out, tag, s.as_bytes());
        }
        Scalar::Bytes => {
            use base64::Engine;
            let s = value.as_str().ok_or_else(|| bad("a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| bad("base64"))?;
            put_len(out, tag, &bytes);
        }
        Scalar::Bool => {
            let b = value.as_bool().ok_or_else(|| bad("a boolean"))?;
            put_key(out, tag, super::wire::VARINT);
            put_varint(out, u64::from(b));
        }
        Scalar::Int32 | Scalar::Int64 => {
            let i = int()?;
            let i = if scalar == Scalar::Int32 {
                i64::from(i as i32)
            } else {
                i
            };
            put_key(out, tag, super::wire::VARINT);
            put_varint(out, i as u64);
        }
        Scalar::Double => {
            let f = value.as_f64().ok_or_else(|| bad("a number"))?;
            put_key(out, tag, super::wire::FIXED64);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Scalar::Float => {
            let f = value.as_f64().ok_or_else(|| bad("a number"))? as f32;
            put_key(out, tag, super::wire::FIXED32);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
    }
    Ok(())
}

/// Go's `time.ParseDuration`: `1h0m0s`, `1.5s`, `300ms`, `2µs`, `-1m`, `0`.
pub(crate) fn parse_go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let number: f64 = number.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = after;
    }
    let nanos = total.round();
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return None;
    }
    Some(if negative {
        -(nanos as i64)
    } else {
        nanos as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// JSON -> protobuf -> JSON gives the object back.
    fn round_trip(obj: Value) {
        let bytes = encode_object(&obj).unwrap_or_else(|e| panic!("encode {obj}: {e}"));
        assert!(bytes.starts_with(MAGIC));
        let back = super::super::decode_object(&bytes).unwrap_or_else(|e| panic!("decode: {e}"));
        assert_eq!(back, obj);
    }

    #[test]
    fn built_in_kinds_round_trip() {
        round_trip(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "labels": {"b": "2", "a": "1"},
                "creationTimestamp": "2026-12-07T10:00:00Z", "resourceVersion": "12",
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                    "time": "2026-12-07T10:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:a": {}}}}]},
            "data": {"a": "x", "b": ""},
            "binaryData": {"bin": "AAEC"}
        }));
        round_trip(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "generation": 3},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{
                    "name": "c", "image": "nginx", "args": ["-g", "daemon off;"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10}
                }]}}},
            "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True",
                "lastUpdateTime": "2026-12-07T10:00:00Z", "lastTransitionTime": "2026-12-07T10:00:00Z"}]}
        }));
        round_trip(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "type": "Opaque", "data": {"k": "c2VjcmV0"}
        }));
        round_trip(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                "renewTime": "2026-12-07T10:00:00.123456Z"}
        }));
        round_trip(json!({
            "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "7"},
            "items": [{"metadata": {"name": "a"}, "data": {"x": "1"}}]
        }));
        round_trip(json!({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": "nope", "reason": "NotFound", "code": 404,
            "details": {"name": "x", "kind": "pods"}
        }));
    }

    #[test]
    fn schema_props_unions_round_trip() {
        round_trip(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab"},
                "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                    "type": "object", "required": ["spec"],
                    "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                        "additionalProperties": {"type": "string"},
                        "properties": {"n": {"type": "integer", "minimum": 1.5, "default": 3}}}}}}}]}
        }));
    }

    #[test]
    fn negative_numbers_and_watch_events() {
        round_trip(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "count": -1
        }));
        let event = encode_watch_event(
            "ADDED",
            &json!({
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}
            }),
        )
        .unwrap();
        // No envelope around the event itself (the raw streaming serializer's form).
        assert!(!event.starts_with(MAGIC));
        let (kind, object) = decode_watch_event(&event).unwrap();
        assert_eq!(kind, "ADDED");
        assert_eq!(object["metadata"]["name"], "c");
        assert!(encode_object(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).is_err());
    }

    #[test]
    fn go_durations() {
        for (text, nanos) in [
            ("0", 0),
            ("0s", 0),
            ("1h0m0s", 3_600_000_000_000),
            ("1.5s", 1_500_000_000),
            ("300ms", 300_000_000),
            ("2µs", 2_000),
            ("-1m30s", -90_000_000_000),
        ] {
            assert_eq!(parse_go_duration(text), Some(nanos), "{text}");
            assert_eq!(
                parse_go_duration(&super::super::special::go_duration(nanos)),
                Some(nanos)
            );
        }
        assert_eq!(parse_go_duration("1x"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
