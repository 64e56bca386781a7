//! CertificateSigningRequests: the requester's identity recorded in the spec on create, the
//! spec immutable, approval conditions changed only through `/approval`, the certificate only
//! through `/status`, condition timestamps filled, and upstream's validation of the request.

use super::Strategy;
use crate::Identity;
use base64::Engine;
use krust_api::meta::{get_path, get_str};
use krust_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

pub(super) struct CsrStrategy;

const APPROVAL_TYPES: &[&str] = &["Approved", "Denied"];

impl Strategy for CsrStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value, user: Option<&Identity>) {
        super::prepare_metadata_for_create(info, obj);
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        map.remove("status");
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            for k in ["username", "uid", "groups", "extra"] {
                spec.remove(k);
            }
            if let Some(user) = user {
                spec.insert("username".into(), json!(user.user));
                spec.insert("groups".into(), json!(user.groups));
            }
        }
    }

    /// An update of the main resource changes metadata only (upstream keeps spec and status).
    fn prepare_for_update(&self, info: &ResourceInfo, new: &mut Value, old: &Value) {
        super::prepare_for_update(info, new, old);
        super::keep_field(new, old, "spec");
    }

    /// `/status` changes the certificate and conditions other than Approved/Denied.
    fn status_update(&self, _info: &ResourceInfo, body: &Value, old: &Value) -> Value {
        let mut new = super::status_update(body, old, super::STATUS_WRITABLE_META);
        let mut conditions: Vec<Value> = conditions(&new)
            .into_iter()
            .filter(|c| !is_approval(c))
            .collect();
        conditions.extend(conditions_of(old).filter(|c| is_approval(c)).cloned());
        set_conditions(&mut new, conditions, old);
        new
    }

    /// `/approval` changes the conditions only.
    fn approval_update(&self, _info: &ResourceInfo, body: &Value, old: &Value) -> Value {
        let mut new = super::status_update(body, old, super::STATUS_WRITABLE_META);
        match get_path(old, &["status", "certificate"]).cloned() {
            Some(c) => {
                krust_api::meta::set_path(&mut new, &["status", "certificate"], c);
            }
            None => {
                if let Some(s) = new.get_mut("status").and_then(Value::as_object_mut) {
                    s.remove("certificate");
                }
            }
        }
        let conditions = conditions(&new);
        set_conditions(&mut new, conditions, old);
        new
    }

    fn validate(&self, info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs =
            krust_api::validation::validate(&info.group, &info.kind, info.namespaced, obj, old);
        match old {
            None => validate_spec(&mut errs, obj),
            Some(old) => validate_approval_change(&mut errs, obj, old),
        }
        validate_conditions(&mut errs, obj);
        errs
    }
}

fn conditions_of(obj: &Value) -> impl Iterator<Item = &Value> {
    get_path(obj, &["status", "conditions"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn conditions(obj: &Value) -> Vec<Value> {
    conditions_of(obj).cloned().collect()
}

fn is_approval(c: &Value) -> bool {
    c.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| APPROVAL_TYPES.contains(&t))
}

/// Writes `conditions` with upstream's `populateConditionTimestamps`: a condition without
/// `lastUpdateTime` gets now, and `lastTransitionTime` is kept from the same condition of
/// `old` when its status did not change, else now.
fn set_conditions(new: &mut Value, mut conditions: Vec<Value>, old: &Value) {
    let now = krust_api::time::now_rfc3339();
    for c in conditions.iter_mut() {
        let Some(m) = c.as_object_mut() else {
            continue;
        };
        if m.get("lastUpdateTime").is_none_or(Value::is_null) {
            m.insert("lastUpdateTime".into(), json!(now));
        }
        if m.get("lastTransitionTime").is_none_or(Value::is_null) {
            let same = conditions_of(old).find(|o| o.get("type") == m.get("type"));
            let kept = same
                .filter(|o| o.get("status") == m.get("status"))
                .and_then(|o| o.get("lastTransitionTime"))
                .filter(|t| !t.is_null())
                .cloned();
            m.insert("lastTransitionTime".into(), kept.unwrap_or(json!(now)));
        }
    }
    if conditions.is_empty() {
        if let Some(s) = new.get_mut("status").and_then(Value::as_object_mut) {
            s.remove("conditions");
        }
    } else {
        krust_api::meta::set_path(new, &["status", "conditions"], json!(conditions));
    }
}

fn validate_spec(errs: &mut Vec<FieldError>, obj: &Value) {
    match get_str(obj, &["spec", "request"]) {
        None | Some("") => errs.push(FieldError::required("spec.request", "")),
        Some(b64) => {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            let block_type = pem
                .lines()
                .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
                .and_then(|l| l.strip_suffix("-----"));
            match block_type {
                Some("CERTIFICATE REQUEST") | Some("NEW CERTIFICATE REQUEST") => {}
                Some(_) => errs.push(FieldError::invalid(
                    "spec.request",
                    json!(b64),
                    "PEM block type must be CERTIFICATE REQUEST",
                )),
                None => errs.push(FieldError::invalid(
                    "spec.request",
                    json!(b64),
                    "PEM block type must be CERTIFICATE REQUEST",
                )),
            }
        }
    }
    match get_str(obj, &["spec", "signerName"]) {
        None | Some("") => errs.push(FieldError::required("spec.signerName", "")),
        Some(s) => {
            let valid = s.split_once('/').is_some_and(|(domain, path)| {
                !domain.is_empty() && domain.contains('.') && !path.is_empty()
            });
            if !valid {
                errs.push(FieldError::invalid(
                    "spec.signerName",
                    json!(s),
                    "must be a fully qualified domain and path of the form 'example.com/signer-name'",
                ));
            }
        }
    }
    if get_path(obj, &["spec", "usages"])
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        errs.push(FieldError::required("spec.usages", ""));
    }
    if let Some(secs) = get_path(obj, &["spec", "expirationSeconds"]).and_then(Value::as_i64)
        && secs < 600
    {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            json!(secs),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
}

fn validate_conditions(errs: &mut Vec<FieldError>, obj: &Value) {
    let mut approved = false;
    let mut denied = false;
    for (i, c) in conditions_of(obj).enumerate() {
        let path = format!("status.conditions[{i}]");
        let t = c.get("type").and_then(Value::as_str).unwrap_or("");
        let status = c.get("status").and_then(Value::as_str).unwrap_or("");
        if t.is_empty() {
            errs.push(FieldError::required(format!("{path}.type"), ""));
        }
        match status {
            "" => errs.push(FieldError::required(format!("{path}.status"), "")),
            "True" | "False" | "Unknown" => {}
            other => errs.push(FieldError::not_supported(
                format!("{path}.status"),
                json!(other),
                &["False", "True", "Unknown"],
            )),
        }
        if APPROVAL_TYPES.contains(&t) && !status.is_empty() && status != "True" {
            errs.push(FieldError::not_supported(
                format!("{path}.status"),
                json!(status),
                &["True"],
            ));
        }
        approved |= t == "Approved";
        denied |= t == "Denied";
    }
    if approved && denied {
        errs.push(FieldError::invalid(
            "status.conditions",
            json!(conditions(obj)),
            "Approved and Denied conditions are mutually exclusive",
        ));
    }
}

/// Approved and Denied conditions, once set, are never removed (upstream's update rule).
fn validate_approval_change(errs: &mut Vec<FieldError>, obj: &Value, old: &Value) {
    for t in APPROVAL_TYPES {
        let had = conditions_of(old).any(|c| c.get("type").and_then(Value::as_str) == Some(t));
        let has = conditions_of(obj).any(|c| c.get("type").and_then(Value::as_str) == Some(t));
        if had && !has {
            errs.push(FieldError::forbidden(
                "status.conditions",
                format!("updates may not remove a condition of type \"{t}\""),
            ));
        }
    }
}
