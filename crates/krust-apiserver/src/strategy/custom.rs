//! Custom resources: pruned and defaulted by their CRD's schema, validated by it, status
//! writes that change the status only, and Tables from `additionalPrinterColumns`.

use super::Strategy;
use krust_api::registry::{CustomSpec, PrinterColumn};
use krust_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

pub(super) struct CustomResource;

fn schema(info: &ResourceInfo) -> Option<&Value> {
    info.custom.as_ref().and_then(|c| c.schema.as_ref())
}

impl Strategy for CustomResource {
    fn canonicalize(&self, info: &ResourceInfo, obj: &mut Value) {
        if let Some(schema) = schema(info) {
            krust_api::structural::prune(obj, schema);
            krust_api::structural::apply_defaults(obj, schema);
        }
    }

    fn status_update(&self, _info: &ResourceInfo, body: &Value, old: &Value) -> Value {
        super::status_update(body, old, &[])
    }

    fn table_columns(&self, info: &ResourceInfo) -> Vec<Value> {
        let Some(custom) = &info.custom else {
            return Vec::new();
        };
        custom_columns(custom)
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format,
                       "description": c.description, "priority": c.priority})
            })
            .collect()
    }

    fn table_cells(&self, info: &ResourceInfo, obj: &Value) -> Vec<Value> {
        let Some(custom) = &info.custom else {
            return Vec::new();
        };
        custom_columns(custom)
            .iter()
            .map(|c| custom_cell(c, obj))
            .collect()
    }

    fn validate(&self, info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errs =
            krust_api::validation::validate(&info.group, &info.kind, info.namespaced, obj, old);
        if let Some(schema) = schema(info) {
            errs.extend(krust_api::structural::validate(obj, schema));
        }
        errs
    }
}

/// Columns of a custom resource: Name, then `additionalPrinterColumns` (default: Age).
fn custom_columns(custom: &CustomSpec) -> Vec<PrinterColumn> {
    let mut cols = vec![PrinterColumn {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names".into(),
        priority: 0,
        json_path: ".metadata.name".into(),
    }];
    if custom.printer_columns.is_empty() {
        cols.push(PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        });
    } else {
        cols.extend(custom.printer_columns.iter().cloned());
    }
    cols
}

fn custom_cell(col: &PrinterColumn, obj: &Value) -> Value {
    let found = krust_api::structural::json_path(obj, &col.json_path);
    let Some(v) = found.into_iter().next() else {
        return Value::Null;
    };
    match col.type_.as_str() {
        "integer" => v.as_i64().map(Value::from).unwrap_or(Value::Null),
        "number" => v.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => v.as_bool().map(Value::from).unwrap_or(Value::Null),
        "date" => match v.as_str() {
            Some(ts) => Value::String(krust_api::time::age(Some(ts))),
            None => Value::Null,
        },
        _ => match v {
            Value::String(s) => Value::String(s),
            Value::Null => Value::Null,
            other => Value::String(other.to_string()),
        },
    }
}
