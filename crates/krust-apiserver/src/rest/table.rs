//! `meta.k8s.io` Table responses: column definitions from the kind's printer, one row per
//! object with `row.object` as `PartialObjectMetadata` (default), the full object, or nothing,
//! as `includeObject` asks.

use crate::object::{partial_metadata, render};
use crate::rest::Ctx;
use crate::status::ApiError;
use krust_api::registry::{CustomSpec, PrinterColumn};
use serde_json::{Value, json};

/// What `row.object` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

pub fn include_of(ctx: &Ctx) -> Result<Include, ApiError> {
    match ctx.query.get("includeObject") {
        None | Some("") | Some("Metadata") => Ok(Include::Metadata),
        Some("None") => Ok(Include::None),
        Some("Object") => Ok(Include::Object),
        Some(other) => Err(ApiError::bad_request(format!(
            "includeObject: Unsupported value: {other:?}: supported values: \"Metadata\", \"None\", \"Object\""
        ))),
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

/// The group whose printer fits the stored object (`events.k8s.io` Events are stored in the
/// core shape).
fn printer_group(ctx: &Ctx) -> &str {
    if ctx.info.storage_key_group() == "core" {
        ""
    } else {
        &ctx.info.group
    }
}

fn column_definitions(ctx: &Ctx) -> Value {
    if let Some(custom) = &ctx.info.custom {
        return Value::Array(
            custom_columns(custom)
                .iter()
                .map(|c| {
                    json!({"name": c.name, "type": c.type_, "format": c.format,
                           "description": c.description, "priority": c.priority})
                })
                .collect(),
        );
    }
    let cols = krust_api::table::columns(printer_group(ctx), &ctx.info.kind);
    Value::Array(
        cols.iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format,
                       "description": c.description, "priority": c.priority})
            })
            .collect(),
    )
}

fn row(ctx: &Ctx, obj: &Value, include: Include, v1beta1: bool) -> Value {
    let cells = match &ctx.info.custom {
        Some(custom) => custom_columns(custom)
            .iter()
            .map(|c| custom_cell(c, obj))
            .collect(),
        None => krust_api::table::cells(printer_group(ctx), &ctx.info.kind, obj),
    };
    let mut r = json!({ "cells": cells });
    match include {
        Include::None => {}
        Include::Metadata => r["object"] = partial_metadata(obj, v1beta1),
        Include::Object => r["object"] = render(&ctx.info, obj),
    }
    r
}

/// A Table of storage-version objects. `with_columns` is false for watch events after the first.
pub fn table<'a>(
    ctx: &Ctx,
    objs: impl IntoIterator<Item = &'a Value>,
    include: Include,
    v1beta1: bool,
    with_columns: bool,
    metadata: Value,
) -> Value {
    let rows: Vec<Value> = objs
        .into_iter()
        .map(|o| row(ctx, o, include, v1beta1))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
        "metadata": metadata,
        "columnDefinitions": if with_columns { column_definitions(ctx) } else { json!([]) },
        "rows": rows,
    })
}
