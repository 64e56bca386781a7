//! Messages whose JSON is not an object of their fields: Go types with their own
//! `MarshalJSON` (Time, MicroTime, Duration, Quantity, IntOrString, RawExtension, FieldsV1,
//! apiextensions JSON and the JSONSchemaPropsOr* unions, string-slice types).

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::schema::{Message, Special};
use super::wire::Reader;
use super::{Decoder, MAGIC, ProtobufError};

impl Decoder<'_> {
    pub(super) fn special(
        &mut self,
        message: &Message,
        special: Special,
        buf: &[u8],
    ) -> Result<Value, ProtobufError> {
        let invalid = |detail: String| ProtobufError::Invalid {
            context: message.name.clone(),
            detail,
        };
        // Go's Time/MicroTime/RawExtension unmarshal an empty message as the zero value: null.
        if buf.is_empty()
            && matches!(
                special,
                Special::Time | Special::MicroTime | Special::RawJson
            )
        {
            return Ok(Value::Null);
        }
        if special == Special::RawJson {
            return raw_json(self.raw_bytes(message, buf)?, self.depth).map_err(invalid);
        }
        let fields = self.tagged(message, buf)?;
        let last = |tag: u32| fields.iter().rev().find(|(t, _)| *t == tag).map(|(_, v)| v);
        let all = |tag: u32| -> Vec<Value> {
            fields
                .iter()
                .filter(|(t, _)| *t == tag)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let int = |tag: u32| last(tag).and_then(Value::as_i64).unwrap_or(0);
        Ok(match special {
            Special::Time => Value::String(format_time(int(1), 0, false).map_err(invalid)?),
            Special::MicroTime => {
                Value::String(format_time(int(1), int(2), true).map_err(invalid)?)
            }
            Special::Duration => Value::String(go_duration(int(1))),
            Special::Quantity => last(1)
                .cloned()
                .unwrap_or_else(|| Value::String("0".into())),
            Special::IntOrString => match int(1) {
                0 => Value::from(int(2)),
                1 => last(3)
                    .cloned()
                    .unwrap_or_else(|| Value::String(String::new())),
                other => return Err(invalid(format!("IntOrString type {other}"))),
            },
            Special::RawJson => Value::Null, // handled above
            Special::Strings => Value::Array(all(1)),
            Special::PropsOrArray => {
                let schemas = all(2);
                if schemas.is_empty() {
                    last(1).cloned().unwrap_or(Value::Null)
                } else {
                    Value::Array(schemas)
                }
            }
            Special::PropsOrBool => match last(2) {
                Some(schema) => schema.clone(),
                None => Value::Bool(last(1).and_then(Value::as_bool).unwrap_or(false)),
            },
            Special::PropsOrStrings => {
                let property = all(2);
                if !property.is_empty() {
                    Value::Array(property)
                } else {
                    last(1).cloned().unwrap_or(Value::Null)
                }
            }
        })
    }

    /// Each field occurrence of a message, decoded, in wire order.
    fn tagged(
        &mut self,
        message: &Message,
        buf: &[u8],
    ) -> Result<Vec<(u32, Value)>, ProtobufError> {
        let mut out = Vec::new();
        let mut r = Reader::new(buf, &message.name);
        while !r.done() {
            let (tag, wire) = r.key()?;
            match message.field(tag) {
                Some(field) => out.push((tag, self.single(message, field, wire, &mut r)?)),
                None => r.skip(wire)?,
            }
        }
        Ok(out)
    }

    /// The bytes of the last field 1 (`raw`) of a message.
    fn raw_bytes<'b>(&self, message: &Message, buf: &'b [u8]) -> Result<&'b [u8], ProtobufError> {
        let mut r = Reader::new(buf, &message.name);
        let mut raw: &[u8] = &[];
        while !r.done() {
            match r.key()? {
                (1, super::wire::LEN) => raw = r.bytes()?,
                (_, w) => r.skip(w)?,
            }
        }
        Ok(raw)
    }
}

/// Embedded JSON bytes as a value (an embedded protobuf object is decoded too).
fn raw_json(raw: &[u8], depth: usize) -> Result<Value, String> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        return super::decode_object_at(raw, depth + 1).map_err(|e| e.to_string());
    }
    serde_json::from_slice(raw).map_err(|e| format!("embedded JSON: {e}"))
}

/// RFC 3339 in UTC, at second precision or (micro) with six fractional digits.
fn format_time(seconds: i64, nanos: i64, micro: bool) -> Result<String, String> {
    let t = Timestamp::from_second(seconds)
        .and_then(|t| t.checked_add(SignedDuration::from_nanos(nanos)))
        .map_err(|e| format!("time {seconds}s {nanos}ns: {e}"))?;
    Ok(if micro {
        t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    })
}

/// Go's `time.Duration.String`: `1h0m0s`, `1m30s`, `1.5s`, `300ms`, `2µs`, `0s`.
pub(crate) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    // `int` plus `digits` fractional digits of `frac`, trailing zeros (and a bare '.') dropped.
    let with_fraction = |int: u64, frac: u64, digits: usize| {
        let frac = format!("{frac:0digits$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", with_fraction(u / 1_000, u % 1_000, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", with_fraction(u / 1_000_000, u % 1_000_000, 6));
    }
    let seconds = with_fraction((u / 1_000_000_000) % 60, u % 1_000_000_000, 9);
    let minutes = u / 60_000_000_000;
    let (hours, minutes) = (minutes / 60, minutes % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}
