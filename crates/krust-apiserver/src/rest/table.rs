//! `meta.k8s.io` Table responses: column definitions from the kind's printer, one row per
//! object with `row.object` as `PartialObjectMetadata` (default), the full object, or nothing,
//! as `includeObject` asks.

use crate::object::{partial_metadata, render};
use crate::rest::Ctx;
use crate::status::ApiError;
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

fn column_definitions(ctx: &Ctx) -> Value {
    Value::Array(crate::strategy::of(&ctx.info).table_columns(&ctx.info))
}

fn row(ctx: &Ctx, obj: &Value, include: Include, v1beta1: bool) -> Value {
    let cells = crate::strategy::of(&ctx.info).table_cells(&ctx.info, obj);
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
