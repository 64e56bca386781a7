//! The protobuf encoding of an OpenAPI v2 (swagger) document as gnostic's `openapi.v2.Document`
//! message (`openapiv2/OpenAPIv2.proto`), which kubectl 1.27 and 1.28 download from
//! `/openapi/v2` with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
//!
//! The encoder reads the JSON document and writes the parts clients use: the document header,
//! every path with its operations and parameters, and every definition with the schema fields
//! (description, type, format, `$ref`, properties, items, required, additionalProperties,
//! allOf, enum, bounds and the `x-` vendor extensions as `NamedAny` with their YAML text).

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A string field; empty strings are the default and not written (proto3).
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// A repeated string element (written even when empty).
    fn string_elem(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn boolean(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, VARINT);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v as u64);
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, FIXED64);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// YAML text of a value: JSON in flow style with a space after each separator, which YAML
/// parsers (yaml.v2 included) read as the same value.
pub fn yaml_text(v: &Value) -> String {
    let mut out = String::new();
    write_flow(v, &mut out);
    out.push('\n');
    out
}

fn write_flow(v: &Value, out: &mut String) {
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_flow(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_flow(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `Any { yaml = 2 }`.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &yaml_text(v));
    m
}

/// `NamedAny { name = 1; value = 2 }` for every `x-` key of an object, into `field`.
fn vendor_extensions(out: &mut Msg, field: u32, m: &Map<String, Value>) {
    for (k, v) in m {
        if k.starts_with("x-") {
            let mut named = Msg::default();
            named.string(1, k);
            named.message(2, any(v));
            out.message(field, named);
        }
    }
}

/// `openapi.v2.Schema`.
fn schema(v: &Value) -> Msg {
    let mut out = Msg::default();
    let Some(m) = v.as_object() else {
        return out;
    };
    out.string(1, str_of(m, "$ref"));
    out.string(2, str_of(m, "format"));
    out.string(3, str_of(m, "title"));
    out.string(4, str_of(m, "description"));
    if let Some(d) = m.get("default") {
        out.message(5, any(d));
    }
    let num = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let int = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(0);
    let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    out.double(6, num("multipleOf"));
    out.double(7, num("maximum"));
    out.boolean(8, flag("exclusiveMaximum"));
    out.double(9, num("minimum"));
    out.boolean(10, flag("exclusiveMinimum"));
    out.int64(11, int("maxLength"));
    out.int64(12, int("minLength"));
    out.string(13, str_of(m, "pattern"));
    out.int64(14, int("maxItems"));
    out.int64(15, int("minItems"));
    out.boolean(16, flag("uniqueItems"));
    out.int64(17, int("maxProperties"));
    out.int64(18, int("minProperties"));
    for r in strings(m.get("required")) {
        out.string_elem(19, r);
    }
    if let Some(Value::Array(values)) = m.get("enum") {
        for e in values {
            out.message(20, any(e));
        }
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut item = Msg::default();
            item.key(2, VARINT);
            item.varint(u64::from(*b));
            out.message(21, item);
        }
        Some(s @ Value::Object(_)) => {
            let mut item = Msg::default();
            item.message(1, schema(s));
            out.message(21, item);
        }
        _ => {}
    }
    let types = strings(m.get("type"));
    if !types.is_empty() {
        let mut t = Msg::default();
        for ty in types {
            t.string_elem(1, ty);
        }
        out.message(22, t);
    }
    match m.get("items") {
        Some(s @ Value::Object(_)) => {
            let mut items = Msg::default();
            items.message(1, schema(s));
            out.message(23, items);
        }
        Some(Value::Array(a)) => {
            let mut items = Msg::default();
            for s in a {
                items.message(1, schema(s));
            }
            out.message(23, items);
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = m.get("allOf") {
        for s in all {
            out.message(24, schema(s));
        }
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        let mut p = Msg::default();
        for (name, s) in props {
            p.message(1, named_schema(name, s));
        }
        out.message(25, p);
    }
    out.boolean(27, flag("readOnly"));
    vendor_extensions(&mut out, 31, m);
    out
}

/// `NamedSchema { name = 1; value = 2 }`.
fn named_schema(name: &str, s: &Value) -> Msg {
    let mut n = Msg::default();
    n.string(1, name);
    n.message(2, schema(s));
    n
}

/// `ParametersItem { parameter = 1 }` around a body or non-body parameter.
fn parameter(p: &Map<String, Value>) -> Msg {
    let location = str_of(p, "in");
    let mut param = Msg::default();
    if location == "body" {
        // BodyParameter { description 1, name 2, in 3, required 4, schema 5, vendor_extension 6 }
        let mut b = Msg::default();
        b.string(1, str_of(p, "description"));
        b.string(2, str_of(p, "name"));
        b.string(3, location);
        b.boolean(
            4,
            p.get("required").and_then(Value::as_bool).unwrap_or(false),
        );
        if let Some(s) = p.get("schema") {
            b.message(5, schema(s));
        }
        vendor_extensions(&mut b, 6, p);
        param.message(1, b);
    } else {
        // Query (3) and path (4) sub-schemas share the first fields; from `type` on the field
        // numbers differ by one (query has allow_empty_value = 5).
        let (oneof, shift, ext) = match location {
            "path" => (4, 0, 22),
            "header" => (1, 0, 22),
            _ => (3, 1, 23),
        };
        let mut s = Msg::default();
        s.boolean(
            1,
            p.get("required").and_then(Value::as_bool).unwrap_or(false),
        );
        s.string(2, location);
        s.string(3, str_of(p, "description"));
        s.string(4, str_of(p, "name"));
        s.string(5 + shift, str_of(p, "type"));
        s.string(6 + shift, str_of(p, "format"));
        s.boolean(
            19 + shift,
            p.get("uniqueItems")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
        vendor_extensions(&mut s, ext, p);
        let mut non_body = Msg::default();
        non_body.message(oneof, s);
        param.message(2, non_body);
    }
    let mut item = Msg::default();
    item.message(1, param);
    item
}

/// `openapi.v2.Operation`.
fn operation(op: &Map<String, Value>) -> Msg {
    let mut out = Msg::default();
    for t in strings(op.get("tags")) {
        out.string_elem(1, t);
    }
    out.string(2, str_of(op, "summary"));
    out.string(3, str_of(op, "description"));
    out.string(5, str_of(op, "operationId"));
    for t in strings(op.get("produces")) {
        out.string_elem(6, t);
    }
    for t in strings(op.get("consumes")) {
        out.string_elem(7, t);
    }
    if let Some(Value::Array(params)) = op.get("parameters") {
        for p in params.iter().filter_map(Value::as_object) {
            out.message(8, parameter(p));
        }
    }
    if let Some(Value::Object(responses)) = op.get("responses") {
        // Responses { response_code 1: NamedResponseValue { name 1, value 2: ResponseValue {
        // response 1: Response { description 1, schema 2: SchemaItem { schema 1 } } } } }
        let mut rs = Msg::default();
        for (code, r) in responses {
            let Some(r) = r.as_object() else { continue };
            let mut resp = Msg::default();
            resp.string(1, str_of(r, "description"));
            if let Some(s) = r.get("schema") {
                let mut item = Msg::default();
                item.message(1, schema(s));
                resp.message(2, item);
            }
            let mut value = Msg::default();
            value.message(1, resp);
            let mut named = Msg::default();
            named.string(1, code);
            named.message(2, value);
            rs.message(1, named);
        }
        out.message(9, rs);
    }
    for s in strings(op.get("schemes")) {
        out.string_elem(10, s);
    }
    out.boolean(
        11,
        op.get("deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    );
    vendor_extensions(&mut out, 13, op);
    out
}

/// `openapi.v2.PathItem`.
fn path_item(item: &Map<String, Value>) -> Msg {
    let mut out = Msg::default();
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(Value::Object(op)) = item.get(method) {
            out.message(field, operation(op));
        }
    }
    if let Some(Value::Array(params)) = item.get("parameters") {
        for p in params.iter().filter_map(Value::as_object) {
            out.message(9, parameter(p));
        }
    }
    vendor_extensions(&mut out, 10, item);
    out
}

/// The `openapi.v2.Document` encoding of a swagger 2.0 JSON document.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut out = Msg::default();
    let Some(d) = doc.as_object() else {
        return out.0;
    };
    out.string(1, str_of(d, "swagger"));
    if let Some(Value::Object(info)) = d.get("info") {
        let mut i = Msg::default();
        i.string(1, str_of(info, "title"));
        i.string(2, str_of(info, "version"));
        i.string(3, str_of(info, "description"));
        out.message(2, i);
    }
    out.string(3, str_of(d, "host"));
    out.string(4, str_of(d, "basePath"));
    for (field, key) in [(5, "schemes"), (6, "consumes"), (7, "produces")] {
        for s in strings(d.get(key)) {
            out.string_elem(field, s);
        }
    }
    if let Some(Value::Object(paths)) = d.get("paths") {
        let mut p = Msg::default();
        for (name, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, path_item(item));
            p.message(2, named);
        }
        out.message(8, p);
    }
    if let Some(Value::Object(defs)) = d.get("definitions") {
        let mut ds = Msg::default();
        for (name, s) in defs {
            ds.message(1, named_schema(name, s));
        }
        out.message(9, ds);
    }
    vendor_extensions(&mut out, 16, d);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A minimal protobuf reader for the tests: the fields of one message.
    fn fields(mut b: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        let varint = |b: &mut &[u8]| {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return v;
                }
            }
        };
        while !b.is_empty() {
            let key = varint(&mut b);
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            match wire {
                0 => out.push((field, varint(&mut b).to_le_bytes().to_vec())),
                1 => {
                    out.push((field, b[..8].to_vec()));
                    b = &b[8..];
                }
                2 => {
                    let n = varint(&mut b) as usize;
                    out.push((field, b[..n].to_vec()));
                    b = &b[n..];
                }
                _ => panic!("wire type {wire}"),
            }
        }
        out
    }

    fn get(b: &[u8], field: u32) -> Vec<Vec<u8>> {
        fields(b)
            .into_iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| v)
            .collect()
    }

    #[test]
    fn encodes_documents_as_gnostic_reads_them() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {"/api/v1/pods": {"patch": {
                "operationId": "patchPod",
                "consumes": ["application/merge-patch+json"],
                "parameters": [
                    {"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/P"}},
                    {"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true},
                ],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/P"}}},
                "x-kubernetes-group-version-kind": {"group": "", "kind": "Pod", "version": "v1"},
            }}},
            "definitions": {"P": {
                "type": "object",
                "required": ["spec"],
                "properties": {"spec": {"type": "string", "description": "d"}},
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}],
            }},
        });
        let b = encode_document(&doc);
        assert_eq!(get(&b, 1), vec![b"2.0".to_vec()]);
        let info = &get(&b, 2)[0];
        assert_eq!(get(info, 1), vec![b"Kubernetes".to_vec()]);
        // definitions -> NamedSchema -> Schema
        let defs = &get(&b, 9)[0];
        let named = &get(defs, 1)[0];
        assert_eq!(get(named, 1), vec![b"P".to_vec()]);
        let s = &get(named, 2)[0];
        assert_eq!(get(&get(s, 22)[0], 1), vec![b"object".to_vec()]);
        assert_eq!(get(s, 19), vec![b"spec".to_vec()]);
        let ext = &get(s, 31)[0];
        assert_eq!(
            get(ext, 1),
            vec![b"x-kubernetes-group-version-kind".to_vec()]
        );
        let yaml = String::from_utf8(get(&get(ext, 2)[0], 2)[0].clone()).unwrap();
        assert_eq!(
            yaml,
            "[{\"group\": \"\", \"kind\": \"Pod\", \"version\": \"v1\"}]\n"
        );
        // paths -> NamedPathItem(2) -> PathItem.patch(8) -> Operation
        let paths = &get(&b, 8)[0];
        let item = &get(&get(paths, 2)[0], 2)[0];
        let op = &get(item, 8)[0];
        assert_eq!(get(op, 5), vec![b"patchPod".to_vec()]);
        assert_eq!(get(op, 7), vec![b"application/merge-patch+json".to_vec()]);
        let params = get(op, 8);
        assert_eq!(params.len(), 2);
        // ParametersItem.parameter(1) -> Parameter.non_body(2) -> query(3) -> name(4)
        let query = &get(&get(&get(&params[1], 1)[0], 2)[0], 3)[0];
        assert_eq!(get(query, 4), vec![b"fieldValidation".to_vec()]);
        assert_eq!(get(query, 6), vec![b"string".to_vec()]);
        // body parameter -> schema ref
        let body = &get(&get(&params[0], 1)[0], 1)[0];
        assert_eq!(get(&get(body, 5)[0], 1), vec![b"#/definitions/P".to_vec()]);
    }

    #[test]
    fn yaml_text_is_flow_json() {
        assert_eq!(yaml_text(&json!("merge")), "\"merge\"\n");
        assert_eq!(yaml_text(&json!(true)), "true\n");
        assert_eq!(yaml_text(&json!(["a", "b"])), "[\"a\", \"b\"]\n");
    }
}
