//! Secrets: the write-only `stringData` folded into `data` (base64), as upstream does on
//! every write.

use super::Strategy;
use base64::Engine;
use krust_api::ResourceInfo;
use serde_json::{Value, json};

pub(super) struct SecretStrategy;

impl Strategy for SecretStrategy {
    fn canonicalize(&self, _info: &ResourceInfo, obj: &mut Value) {
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        let Some(Value::Object(string_data)) = map.remove("stringData") else {
            return;
        };
        let data = map.entry("data").or_insert_with(|| json!({}));
        if data.is_null() {
            *data = json!({});
        }
        if let Some(data) = data.as_object_mut() {
            for (k, v) in string_data {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                data.insert(
                    k,
                    Value::String(
                        base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                    ),
                );
            }
        }
    }
}
