//! ConfigMaps, Secrets and Namespaces: data keys and size limits, `immutable` objects,
//! type-specific Secret keys, and namespace finalizers.

use super::util::{Errs, NULL, decode_base64, get, get_bool, get_obj, too_long, type_error};
use crate::field_error::{FieldError, Path};
use crate::validation_names as names;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Upstream's `MaxSecretSize` (also the ConfigMap limit).
pub(crate) const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";
const REDACTED: &str = "<secret contents redacted>";

/// The string values of a data map at the top level of `obj`, reporting other types.
fn string_data<'a>(errs: &mut Errs, obj: &'a Value, key: &str) -> Vec<(&'a str, &'a str)> {
    let root = Path::default();
    let Some(m) = get_obj(errs, obj, key, &root) else {
        return Vec::new();
    };
    let path = Path::new(key);
    let mut out = Vec::new();
    for (k, v) in m {
        match v {
            Value::String(s) => out.push((k.as_str(), s.as_str())),
            Value::Null => out.push((k.as_str(), "")),
            other => errs.push(type_error(&path.key(k), other, "string")),
        }
    }
    out
}

/// The decoded entries of a base64 map (`binaryData`, Secret `data`), reporting bad values.
fn binary_data(errs: &mut Errs, obj: &Value, key: &str, redact: bool) -> BTreeMap<String, Vec<u8>> {
    let path = Path::new(key);
    let mut out = BTreeMap::new();
    for (k, v) in string_data(errs, obj, key) {
        match decode_base64(v) {
            Ok(bytes) => {
                out.insert(k.to_string(), bytes);
            }
            Err(msg) => {
                let shown = if redact {
                    Value::from(REDACTED)
                } else {
                    Value::from(v)
                };
                errs.push(FieldError::invalid(path.key(k), shown, msg));
            }
        }
    }
    out
}

/// Whether two data maps differ (absent and empty are the same).
fn data_changed(new: Option<&Value>, old: Option<&Value>) -> bool {
    let empty = Value::Object(Map::new());
    new.unwrap_or(&empty) != old.unwrap_or(&empty)
}

/// The rules of `immutable: true` objects on update.
fn immutable_rules(errs: &mut Errs, obj: &Value, old: &Value, data_keys: &[&str]) {
    if get(old, "immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if get(obj, "immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE_MSG));
    }
    for key in data_keys {
        if data_changed(get(obj, key), get(old, key)) {
            errs.push(FieldError::forbidden(*key, IMMUTABLE_MSG));
        }
    }
}

/// Upstream's `ValidateConfigMap` and `ValidateConfigMapUpdate`.
pub(crate) fn validate_config_map(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    if let Some(old) = old {
        immutable_rules(errs, obj, old, &["data", "binaryData"]);
    }
    get_bool(errs, obj, "immutable", &Path::default());
    let data = string_data(errs, obj, "data");
    let binary = binary_data(errs, obj, "binaryData", false);
    let mut total = 0usize;
    for (k, v) in &data {
        let p = Path::new("data").key(k);
        for msg in names::config_map_key(k) {
            errs.push(FieldError::invalid(&p, Value::from(*k), msg));
        }
        if binary.contains_key(*k) {
            errs.push(FieldError::invalid(
                &p,
                Value::from(*k),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.len();
    }
    for (k, v) in &binary {
        let p = Path::new("binaryData").key(k);
        for msg in names::config_map_key(k) {
            errs.push(FieldError::invalid(&p, Value::from(k.as_str()), msg));
        }
        if data.iter().any(|(d, _)| d == k) {
            errs.push(FieldError::invalid(
                &p,
                Value::from(k.as_str()),
                "duplicate of key present in data",
            ));
        }
        total += v.len();
    }
    if total > MAX_SECRET_SIZE {
        // Upstream reports the whole object with an empty field path.
        errs.push(too_long("", MAX_SECRET_SIZE));
    }
}

/// Upstream's `ValidateSecret` and `ValidateSecretUpdate`. `stringData` entries count as
/// `data` (the API merges them before validating).
pub(crate) fn validate_secret(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let data_path = Path::new("data");
    let ty = get(obj, "type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("Opaque");
    if let Some(old) = old {
        let old_ty = get(old, "type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("Opaque");
        if ty != old_ty {
            errs.push(FieldError::invalid(
                "type",
                Value::from(ty),
                super::util::FIELD_IMMUTABLE,
            ));
        }
        immutable_rules(errs, obj, old, &[]);
    }
    if let Some(t) = get(obj, "type").filter(|t| !t.is_string()) {
        errs.push(type_error(&Path::new("type"), t, "string"));
    }
    get_bool(errs, obj, "immutable", &Path::default());

    let mut data = binary_data(errs, obj, "data", true);
    for (k, v) in string_data(errs, obj, "stringData") {
        data.insert(k.to_string(), v.as_bytes().to_vec());
    }
    if let Some(old) = old {
        // Compared after merging stringData, as upstream does.
        let old_data = binary_data(&mut Vec::new(), old, "data", true);
        if get(old, "immutable").and_then(Value::as_bool) == Some(true) && data != old_data {
            errs.push(FieldError::forbidden("data", IMMUTABLE_MSG));
        }
    }
    let mut total = 0usize;
    for (k, v) in &data {
        for msg in names::config_map_key(k) {
            errs.push(FieldError::invalid(
                data_path.key(k),
                Value::from(k.as_str()),
                msg,
            ));
        }
        total += v.len();
    }
    if total > MAX_SECRET_SIZE {
        errs.push(too_long("data", MAX_SECRET_SIZE));
    }

    let required =
        |errs: &mut Errs, key: &str| errs.push(FieldError::required(data_path.key(key), ""));
    match ty {
        "kubernetes.io/service-account-token" => {
            let annotations =
                get(get(obj, "metadata").unwrap_or(&NULL), "annotations").unwrap_or(&NULL);
            let sa = get(annotations, "kubernetes.io/service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if sa.is_empty() {
                errs.push(FieldError::required(
                    Path::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match data.get(key) {
                None => required(errs, key),
                Some(bytes) => {
                    if let Err(msg) = json_object(bytes) {
                        errs.push(FieldError::invalid(
                            data_path.key(key),
                            Value::from(REDACTED),
                            msg,
                        ));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            required(errs, "username");
            required(errs, "password");
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(Vec::is_empty) => {
            required(errs, "ssh-privatekey");
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    required(errs, key);
                }
            }
        }
        _ => {}
    }
}

/// Whether bytes are JSON that decodes into a `map[string]interface{}`, with Go's messages.
fn json_object(bytes: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_) | Value::Null) => Ok(()),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            Err(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
        Err(e) if e.is_eof() => Err("unexpected end of JSON input".into()),
        Err(e) => {
            let text = String::from_utf8_lossy(bytes);
            let bad = text
                .lines()
                .nth(e.line().saturating_sub(1))
                .and_then(|l| l.chars().nth(e.column().saturating_sub(1)));
            Err(match bad {
                Some(c) => format!("invalid character '{c}' looking for beginning of value"),
                None => e.to_string(),
            })
        }
    }
}

/// Upstream's `ValidateNamespace`: `spec.finalizers` are qualified names, and unqualified ones
/// must be standard (`kubernetes`, `orphan`, `foregroundDeletion`). Namespace names are checked
/// as DNS labels by the metadata rules.
pub(crate) fn validate_namespace(errs: &mut Errs, obj: &Value) {
    let path = Path::new("spec").child("finalizers");
    let spec = get(obj, "spec").unwrap_or(&NULL);
    if !spec.is_null() && !spec.is_object() {
        errs.push(type_error(&Path::new("spec"), spec, "object"));
        return;
    }
    for f in super::util::get_str_list(errs, spec, "finalizers", &Path::new("spec")) {
        let msgs = names::qualified_name(f);
        let qualified = f.contains('/');
        super::util::invalid_each(errs, &path, f, msgs);
        if !qualified && !["kubernetes", "orphan", "foregroundDeletion"].contains(&f) {
            errs.push(FieldError::invalid(
                &path,
                Value::from(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}
