//! Shared helpers of the validation submodules: reading user-supplied JSON that may be missing
//! or of the wrong type (a wrong type is reported as an error, never a panic), the common
//! numeric and immutability checks, int-or-string values, resource quantities and base64.

use crate::field_error::{ErrorType, FieldError, Path};
use crate::validation_names as names;
use serde_json::{Map, Value};

/// Upstream's `IsNegativeErrorMsg`.
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";
/// Upstream's `fieldImmutableErrorMsg`.
pub(crate) const FIELD_IMMUTABLE: &str = "field is immutable";

/// The errors collected so far.
pub(crate) type Errs = Vec<FieldError>;

/// A JSON null, for "absent" results that must be borrowed.
pub(crate) static NULL: Value = Value::Null;

/// The value of `key` in `v`, treating a JSON null like an absent key.
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?.get(key).filter(|x| !x.is_null())
}

/// The error for a value of the wrong JSON type.
pub(crate) fn type_error(path: &Path, v: &Value, ty: &str) -> FieldError {
    FieldError::invalid(path, v.clone(), format!("must be of type {ty}"))
}

/// The string at `key`, reporting a non-string value.
pub(crate) fn get_str<'a>(
    errs: &mut Errs,
    v: &'a Value,
    key: &str,
    path: &Path,
) -> Option<&'a str> {
    match get(v, key)? {
        Value::String(s) => Some(s),
        other => {
            errs.push(type_error(&path.child(key), other, "string"));
            None
        }
    }
}

/// The string at `key`, or `""` when absent (a non-string value is reported).
pub(crate) fn str_or_empty<'a>(errs: &mut Errs, v: &'a Value, key: &str, path: &Path) -> &'a str {
    get_str(errs, v, key, path).unwrap_or("")
}

/// The integer at `key`, reporting a non-integer value.
pub(crate) fn get_int(errs: &mut Errs, v: &Value, key: &str, path: &Path) -> Option<i64> {
    let x = get(v, key)?;
    match x.as_i64() {
        Some(i) => Some(i),
        None => {
            errs.push(type_error(&path.child(key), x, "integer"));
            None
        }
    }
}

/// The boolean at `key`, reporting a non-boolean value.
pub(crate) fn get_bool(errs: &mut Errs, v: &Value, key: &str, path: &Path) -> Option<bool> {
    let x = get(v, key)?;
    match x.as_bool() {
        Some(b) => Some(b),
        None => {
            errs.push(type_error(&path.child(key), x, "boolean"));
            None
        }
    }
}

/// The object at `key`, reporting a non-object value.
pub(crate) fn get_obj<'a>(
    errs: &mut Errs,
    v: &'a Value,
    key: &str,
    path: &Path,
) -> Option<&'a Map<String, Value>> {
    match get(v, key)? {
        Value::Object(m) => Some(m),
        other => {
            errs.push(type_error(&path.child(key), other, "object"));
            None
        }
    }
}

/// The value at `key` if it is an object, else `null` (a non-object value is reported). Handy
/// for descending into optional sub-objects.
pub(crate) fn obj_or_null<'a>(errs: &mut Errs, v: &'a Value, key: &str, path: &Path) -> &'a Value {
    match get(v, key) {
        Some(x @ Value::Object(_)) => x,
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "object"));
            &NULL
        }
        None => &NULL,
    }
}

/// The array at `key`, or an empty slice (a non-array value is reported).
pub(crate) fn get_arr<'a>(errs: &mut Errs, v: &'a Value, key: &str, path: &Path) -> &'a [Value] {
    match get(v, key) {
        Some(Value::Array(a)) => a,
        Some(other) => {
            errs.push(type_error(&path.child(key), other, "array"));
            &[]
        }
        None => &[],
    }
}

/// A `map[string]string` at `key`: its entries, reporting non-string values (null counts as
/// the empty string, as Go decodes it).
pub(crate) fn get_str_map<'a>(
    errs: &mut Errs,
    v: &'a Value,
    key: &str,
    path: &Path,
) -> Vec<(&'a str, &'a str)> {
    let Some(m) = get_obj(errs, v, key, path) else {
        return Vec::new();
    };
    str_entries(errs, m, &path.child(key))
}

/// The entries of a string map, reporting non-string values.
pub(crate) fn str_entries<'a>(
    errs: &mut Errs,
    m: &'a Map<String, Value>,
    path: &Path,
) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m {
        match v {
            Value::String(s) => out.push((k.as_str(), s.as_str())),
            Value::Null => out.push((k.as_str(), "")),
            other => errs.push(type_error(&path.key(k), other, "string")),
        }
    }
    out
}

/// The strings of an array at `key`, reporting non-string items.
pub(crate) fn get_str_list<'a>(
    errs: &mut Errs,
    v: &'a Value,
    key: &str,
    path: &Path,
) -> Vec<&'a str> {
    let p = path.child(key);
    let mut out = Vec::new();
    for (i, item) in get_arr(errs, v, key, path).iter().enumerate() {
        match item {
            Value::String(s) => out.push(s.as_str()),
            other => errs.push(type_error(&p.index(i), other, "string")),
        }
    }
    out
}

/// `Invalid` errors for each message of a syntax check.
pub(crate) fn invalid_each(errs: &mut Errs, path: &Path, value: &str, msgs: Vec<String>) {
    for msg in msgs {
        errs.push(FieldError::invalid(path, Value::from(value), msg));
    }
}

/// Upstream's `ValidateNonnegativeField`.
pub(crate) fn nonnegative(errs: &mut Errs, path: &Path, v: i64) {
    if v < 0 {
        errs.push(FieldError::invalid(path, Value::from(v), IS_NEGATIVE));
    }
}

/// Checks a non-negative integer at `key` of `v`, if present.
pub(crate) fn nonnegative_at(errs: &mut Errs, v: &Value, key: &str, path: &Path) {
    if let Some(i) = get_int(errs, v, key, path) {
        nonnegative(errs, &path.child(key), i);
    }
}

/// Upstream's `ValidateImmutableField`: `Invalid(new): field is immutable` when the values
/// differ (absent and null are the same).
pub(crate) fn immutable(errs: &mut Errs, path: &Path, new: Option<&Value>, old: Option<&Value>) {
    let new = new.filter(|v| !v.is_null());
    let old = old.filter(|v| !v.is_null());
    if new != old {
        errs.push(FieldError::invalid(
            path,
            new.cloned().unwrap_or(Value::Null),
            FIELD_IMMUTABLE,
        ));
    }
}

/// A `TooLong` error, which upstream renders without the value.
pub(crate) fn too_long(path: &str, max: usize) -> FieldError {
    FieldError {
        kind: ErrorType::TooLong,
        field: path.to_string(),
        value: None,
        detail: format!("may not be more than {max} bytes"),
    }
}

/// A `NotFound` error.
pub(crate) fn not_found(path: &Path, value: Value) -> FieldError {
    FieldError {
        kind: ErrorType::NotFound,
        field: path.as_str().to_string(),
        value: Some(value),
        detail: String::new(),
    }
}

/// An `intstr.IntOrString`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntOrStr<'a> {
    Int(i64),
    Str(&'a str),
}

/// Reads an int-or-string value; `None` for any other JSON type.
pub(crate) fn int_or_str(v: &Value) -> Option<IntOrStr<'_>> {
    match v {
        Value::String(s) => Some(IntOrStr::Str(s)),
        Value::Number(n) => n.as_i64().map(IntOrStr::Int),
        _ => None,
    }
}

/// Upstream's `ValidatePortNumOrName`.
pub(crate) fn port_num_or_name(errs: &mut Errs, v: &Value, path: &Path) {
    match int_or_str(v) {
        Some(IntOrStr::Int(i)) => {
            for msg in names::port_number(i) {
                errs.push(FieldError::invalid(path, Value::from(i), msg));
            }
        }
        Some(IntOrStr::Str(s)) => invalid_each(errs, path, s, names::port_name(s)),
        None => errs.push(type_error(path, v, "integer or string")),
    }
}

/// Upstream's `ValidatePositiveIntOrPercent` (apps).
pub(crate) fn positive_int_or_percent(errs: &mut Errs, v: &Value, path: &Path) {
    match int_or_str(v) {
        Some(IntOrStr::Int(i)) => nonnegative(errs, path, i),
        Some(IntOrStr::Str(s)) => {
            for msg in names::percent(s) {
                errs.push(FieldError::invalid(path, v.clone(), msg));
            }
        }
        None => errs.push(FieldError::invalid(
            path,
            v.clone(),
            "must be an integer or percentage (e.g '5%%')",
        )),
    }
}

/// The percentage of a valid percent string.
fn percent_value(v: &Value) -> Option<i64> {
    match int_or_str(v)? {
        IntOrStr::Str(s) if names::percent(s).is_empty() => s.strip_suffix('%')?.parse().ok(),
        _ => None,
    }
}

/// Upstream's `getIntOrPercentValue`: the percentage, the integer, or 0.
pub(crate) fn int_or_percent_value(v: &Value) -> i64 {
    if let Some(p) = percent_value(v) {
        return p;
    }
    match int_or_str(v) {
        Some(IntOrStr::Int(i)) => i,
        Some(IntOrStr::Str(s)) => s.parse().unwrap_or(0),
        None => 0,
    }
}

/// Upstream's `IsNotMoreThan100Percent`.
pub(crate) fn not_more_than_100_percent(errs: &mut Errs, v: &Value, path: &Path) {
    if percent_value(v).is_some_and(|p| p > 100) {
        errs.push(FieldError::invalid(
            path,
            v.clone(),
            "must not be greater than 100%",
        ));
    }
}

/// A parsed `resource.Quantity`: its value (as a float, enough for comparisons) and its text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quantity {
    pub value: f64,
    pub text: String,
}

/// Upstream's `resource.ErrFormatWrong`.
pub(crate) const QUANTITY_FORMAT_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Upstream's `resource.ErrSuffix`.
pub(crate) const QUANTITY_SUFFIX_MSG: &str = "unable to parse quantity's suffix";

/// Parses a quantity given as a JSON string or number; the error is upstream's message.
pub(crate) fn parse_quantity(v: &Value) -> Result<Quantity, &'static str> {
    match v {
        Value::String(s) => parse_quantity_str(s).map(|value| Quantity {
            value,
            text: s.clone(),
        }),
        Value::Number(n) => n
            .as_f64()
            .map(|value| Quantity {
                value,
                text: n.to_string(),
            })
            .ok_or(QUANTITY_FORMAT_MSG),
        _ => Err(QUANTITY_FORMAT_MSG),
    }
}

fn parse_quantity_str(s: &str) -> Result<f64, &'static str> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let negative = s.starts_with('-');
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(split);
    if number.is_empty()
        || !number.chars().any(|c| c.is_ascii_digit())
        || number.matches('.').count() > 1
    {
        return Err(QUANTITY_FORMAT_MSG);
    }
    // The rest must look like `[eEinumkKMGTP]*[-+]?[0-9]*`.
    let letters_end = suffix
        .find(|c: char| !"eEinumkKMGTP".contains(c))
        .unwrap_or(suffix.len());
    let tail = &suffix[letters_end..];
    let tail_digits = tail.strip_prefix(['+', '-']).unwrap_or(tail);
    if !tail_digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(QUANTITY_FORMAT_MSG);
    }
    let base: f64 = number.parse().map_err(|_| QUANTITY_FORMAT_MSG)?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        other => {
            let exp = other
                .strip_prefix(['e', 'E'])
                .filter(|e| !e.is_empty())
                .and_then(|e| e.parse::<i32>().ok())
                .ok_or(QUANTITY_SUFFIX_MSG)?;
            10f64.powi(exp)
        }
    };
    let value = base * multiplier;
    Ok(if negative { -value } else { value })
}

/// Decodes standard (padded) base64 as Go's `encoding/base64` does for `[]byte` JSON fields
/// (line breaks are ignored). The error is upstream's message.
pub(crate) fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let chars: Vec<(usize, u8)> = s
        .bytes()
        .enumerate()
        .filter(|(_, c)| *c != b'\r' && *c != b'\n')
        .collect();
    let illegal = |pos: usize| format!("illegal base64 data at input byte {pos}");
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    for (chunk_no, chunk) in chars.chunks(4).enumerate() {
        let last = (chunk_no + 1) * 4 >= chars.len();
        if chunk.len() < 4 {
            let pos = chunk.last().map_or(s.len(), |(p, _)| *p + 1);
            return Err(illegal(pos.min(s.len())));
        }
        let mut acc: u32 = 0;
        let mut pad = 0;
        for (k, (pos, c)) in chunk.iter().enumerate() {
            if *c == b'=' {
                // Padding may only be the last one or two characters of the final chunk.
                if !last || k < 2 || (k == 2 && chunk.get(3).map(|x| x.1) != Some(b'=')) {
                    return Err(illegal(*pos));
                }
                pad += 1;
                acc <<= 6;
            } else if pad > 0 {
                return Err(illegal(*pos));
            } else {
                match sextet(*c) {
                    Some(v) => acc = (acc << 6) | v,
                    None => return Err(illegal(*pos)),
                }
            }
        }
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}
