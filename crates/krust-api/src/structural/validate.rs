//! Validation of objects: a port of kube-openapi's schema validator (the validators' order,
//! applicability and messages) with upstream's conversion of its results to field errors
//! (`kubeOpenAPIResultToFieldErrors`), followed by `x-kubernetes-list-type` set/map uniqueness
//! (`listtype.ValidateListSetsAndMaps`) and embedded resources' checks
//! (`objectmeta.Validate`).

use super::MAX_DEPTH;
use super::formats;
use super::gofmt;
use super::node::{Additional, Node};
use crate::field_error::{ErrorType, FieldError, Path};
use crate::validation_names;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

pub(super) fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    let Some(s) = Node::of(schema) else {
        return Vec::new();
    };
    let mut errs = Validator::new(None).run(obj, s);
    list_types(&mut errs, &Path::default(), obj, s, 0);
    embedded_resources(&mut errs, &Path::default(), obj, s, false, 0);
    errs
}

/// kube-openapi's `SchemaValidator`. `prefix` is the field path the results are reported under
/// (`None` for an object's root, as the custom resource handler passes).
pub(super) struct Validator<'p> {
    prefix: Option<&'p str>,
    /// How much validation happened: upstream's `MatchCount`, which picks the alternative of a
    /// failed `anyOf`/`oneOf` whose errors are reported.
    checks: usize,
}

impl<'p> Validator<'p> {
    pub fn new(prefix: Option<&'p str>) -> Self {
        Validator { prefix, checks: 0 }
    }

    pub fn run(&mut self, data: &Value, s: Node<'_>) -> Vec<FieldError> {
        let mut out = Vec::new();
        self.node("", data, s, 0, &mut out);
        out
    }

    /// The field of an error whose kube-openapi name is `name` (a dotted path that may start
    /// with a dot at the root).
    fn field(&self, name: &str) -> String {
        let name =
            (!name.is_empty() && name != ".").then(|| name.strip_prefix('.').unwrap_or(name));
        match (self.prefix, name) {
            (None, None) => "<nil>".into(),
            (None, Some(n)) => n.into(),
            (Some(p), None) => p.into(),
            (Some(p), Some(n)) => format!("{p}.{n}"),
        }
    }

    /// Errors of the `anyOf`/`oneOf`/`allOf`/`not` combinators, which upstream reports at the
    /// prefix with an empty value.
    fn composite(&self, detail: String) -> FieldError {
        FieldError {
            kind: ErrorType::Invalid,
            field: self.prefix.unwrap_or("<nil>").into(),
            value: Some(Value::String(String::new())),
            detail,
        }
    }

    fn invalid(&self, name: &str, value: Value, detail: String) -> FieldError {
        FieldError {
            kind: ErrorType::Invalid,
            field: self.field(name),
            value: Some(value),
            detail,
        }
    }

    fn node(
        &mut self,
        path: &str,
        data: &Value,
        s: Node<'_>,
        depth: usize,
        out: &mut Vec<FieldError>,
    ) {
        self.checks += 1;
        if depth > MAX_DEPTH {
            out.push(self.invalid(
                path,
                Value::String(String::new()),
                format!("{path} in body is nested deeper than {MAX_DEPTH} levels"),
            ));
            return;
        }
        let types = types(s);
        let format = Some(s.format()).filter(|f| !f.is_empty() && formats::supported(f));
        self.type_check(path, data, &types, format, s.nullable(), out);
        if data.is_null() {
            self.enum_check(path, data, s, out);
            return;
        }
        self.combinators(path, data, s, depth, out);
        match data {
            Value::String(st) => {
                self.string_check(path, st, s, out);
                if let Some(f) = format {
                    self.checks += 1;
                    if !formats::check(f, st) {
                        out.push(self.invalid(
                            path,
                            data.clone(),
                            format!("{path} in body must be of type {f}: {}", gofmt::quote(st)),
                        ));
                    }
                }
            }
            Value::Number(n) => self.number_check(path, data, n, s, out),
            Value::Array(a) => self.slice_check(path, a, s, depth, out),
            _ => {}
        }
        self.enum_check(path, data, s, out);
        if let Value::Object(m) = data {
            self.object_check(path, m, s, depth, out);
        }
    }

    /// `typeValidator`.
    fn type_check(
        &mut self,
        path: &str,
        data: &Value,
        types: &[&str],
        format: Option<&str>,
        nullable: bool,
        out: &mut Vec<FieldError>,
    ) {
        if types.is_empty() && format.is_none() {
            return;
        }
        self.checks += 1;
        let type_error = |expected: &str, actual: &str| FieldError {
            kind: ErrorType::Invalid,
            field: self.field(path),
            value: Some(Value::String(actual.into())),
            detail: format!(
                "{path} in body must be of type {expected}: {}",
                gofmt::quote(actual)
            ),
        };
        if data.is_null() {
            if !types.is_empty() && !nullable {
                out.push(type_error(&types.join(","), "null"));
            }
            return;
        }
        let (actual, go_format) = data_type(data);
        let has = |t: &str| types.contains(&t);
        let float_int = actual == "number"
            && data.as_f64().is_some_and(gofmt::is_json_integer)
            && has("integer");
        let int_float = actual == "integer" && has("number");
        let string_or_slice = data.is_string() || data.is_array();
        if let Some(f) = format
            && !string_or_slice
            && !(has(actual) || float_int || int_float)
        {
            out.push(type_error(f, go_format));
            return;
        }
        if format.is_some() && string_or_slice && !(has("number") || has("integer")) {
            return;
        }
        if !(has(actual) || float_int || int_float) {
            out.push(type_error(&types.join(","), actual));
        }
    }

    /// `schemaPropsValidator`: `anyOf`, `oneOf`, `allOf`, `not`.
    fn combinators(
        &mut self,
        path: &str,
        data: &Value,
        s: Node<'_>,
        depth: usize,
        out: &mut Vec<FieldError>,
    ) {
        let quoted = gofmt::quote(path);
        let any_of = s.schemas("anyOf");
        if !any_of.is_empty() {
            let mut best: Option<(Vec<FieldError>, usize)> = None;
            let mut succeeded = false;
            for alt in any_of {
                let (errs, checks) = self.alternative(path, data, alt, depth);
                if errs.is_empty() {
                    succeeded = true;
                    best = None;
                    break;
                }
                if best.as_ref().is_none_or(|b| checks > b.1) {
                    best = Some((errs, checks));
                }
            }
            if !succeeded {
                out.push(self.composite(format!(
                    "{quoted} must validate at least one schema (anyOf)"
                )));
            }
            if let Some((errs, _)) = best {
                out.extend(errs);
            }
        }
        let one_of = s.schemas("oneOf");
        if !one_of.is_empty() {
            let mut best: Option<(Vec<FieldError>, usize)> = None;
            let mut validated = 0;
            for alt in one_of {
                let (errs, checks) = self.alternative(path, data, alt, depth);
                if errs.is_empty() {
                    validated += 1;
                    best = None;
                    continue;
                }
                if validated == 0 && best.as_ref().is_none_or(|b| checks > b.1) {
                    best = Some((errs, checks));
                }
            }
            if validated != 1 {
                let found = if validated == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {validated} valid alternatives")
                };
                out.push(self.composite(format!(
                    "{quoted} must validate one and only one schema (oneOf). {found}"
                )));
                if let Some((errs, _)) = best {
                    out.extend(errs);
                }
            }
        }
        let all_of = s.schemas("allOf");
        if !all_of.is_empty() {
            let mut validated = 0;
            let total = all_of.len();
            for alt in all_of {
                let (errs, _) = self.alternative(path, data, alt, depth);
                if errs.is_empty() {
                    validated += 1;
                }
                out.extend(errs);
            }
            if validated != total {
                let none = if validated == 0 {
                    ". None validated"
                } else {
                    ""
                };
                out.push(self.composite(format!(
                    "{quoted} must validate all the schemas (allOf){none}"
                )));
            }
        }
        if let Some(not) = s.not() {
            let (errs, _) = self.alternative(path, data, not, depth);
            if errs.is_empty() {
                out.push(self.composite(format!("{quoted} must not validate the schema (not)")));
            }
        }
    }

    fn alternative(
        &mut self,
        path: &str,
        data: &Value,
        s: Node<'_>,
        depth: usize,
    ) -> (Vec<FieldError>, usize) {
        let before = self.checks;
        let mut errs = Vec::new();
        self.node(path, data, s, depth + 1, &mut errs);
        (errs, self.checks.saturating_sub(before))
    }

    /// `stringValidator`: the first failing of maxLength, minLength, pattern.
    fn string_check(&mut self, path: &str, st: &str, s: Node<'_>, out: &mut Vec<FieldError>) {
        self.checks += 1;
        let len = st.chars().count() as i64;
        if let Some(max) = s.int("maxLength")
            && len > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            out.push(FieldError {
                kind: ErrorType::TooLong,
                field: self.field(path),
                value: None,
                detail: if max >= 0 {
                    format!("may not be more than {max} {unit}")
                } else {
                    "value is too long".into()
                },
            });
            return;
        }
        if let Some(min) = s.int("minLength")
            && len < min
        {
            out.push(self.invalid(
                path,
                Value::String(st.into()),
                format!("{path} in body should be at least {min} chars long"),
            ));
            return;
        }
        if let Some(pattern) = s.str("pattern").filter(|p| !p.is_empty()) {
            let shown = match compile(pattern) {
                Ok(re) if re.is_match(st) => return,
                Ok(_) => pattern.to_string(),
                Err(e) => format!("{pattern}, but pattern is invalid: {e}"),
            };
            out.push(self.invalid(
                path,
                Value::String(st.into()),
                format!("{path} in body should match '{shown}'"),
            ));
        }
    }

    /// `numberValidator`: multipleOf, minimum, maximum, with integer semantics for integers.
    fn number_check(
        &mut self,
        path: &str,
        data: &Value,
        n: &serde_json::Number,
        s: Node<'_>,
        out: &mut Vec<FieldError>,
    ) {
        self.checks += 1;
        let exclusive_min = s.flag("exclusiveMinimum");
        let exclusive_max = s.flag("exclusiveMaximum");
        let min_msg = |bound: String| {
            if exclusive_min {
                format!("{path} in body should be greater than {bound}")
            } else {
                format!("{path} in body should be greater than or equal to {bound}")
            }
        };
        let max_msg = |bound: String| {
            if exclusive_max {
                format!("{path} in body should be less than {bound}")
            } else {
                format!("{path} in body should be less than or equal to {bound}")
            }
        };
        let factor = s.number("multipleOf");
        match n.as_i64() {
            Some(i) => {
                if let Some(f) = factor {
                    let fi = f as i64;
                    if fi == 0 {
                        self.float_multiple(path, data, i as f64, f, out);
                    } else if fi < 0 {
                        out.push(self.invalid(
                            path,
                            json!(fi),
                            format!("factor MultipleOf declared for {path} must be positive: {fi}"),
                        ));
                    } else if i % fi != 0 {
                        out.push(self.invalid(
                            path,
                            data.clone(),
                            format!("{path} in body should be a multiple of {fi}"),
                        ));
                    }
                }
                if let Some(m) = s.number("minimum") {
                    let mi = m as i64;
                    if (!exclusive_min && i < mi) || (exclusive_min && i <= mi) {
                        out.push(self.invalid(path, data.clone(), min_msg(mi.to_string())));
                    }
                }
                if let Some(m) = s.number("maximum") {
                    let mi = m as i64;
                    if (!exclusive_max && i > mi) || (exclusive_max && i >= mi) {
                        out.push(self.invalid(path, data.clone(), max_msg(mi.to_string())));
                    }
                }
            }
            None => {
                let x = n.as_f64().unwrap_or(0.0);
                if let Some(f) = factor {
                    self.float_multiple(path, data, x, f, out);
                }
                if let Some(m) = s.number("minimum")
                    && ((!exclusive_min && x < m) || (exclusive_min && x <= m))
                {
                    out.push(self.invalid(path, data.clone(), min_msg(gofmt::float(m))));
                }
                if let Some(m) = s.number("maximum")
                    && ((!exclusive_max && x > m) || (exclusive_max && x >= m))
                {
                    out.push(self.invalid(path, data.clone(), max_msg(gofmt::float(m))));
                }
            }
        }
    }

    fn float_multiple(
        &self,
        path: &str,
        data: &Value,
        x: f64,
        factor: f64,
        out: &mut Vec<FieldError>,
    ) {
        if factor < 0.0 {
            out.push(self.invalid(
                path,
                json!(factor),
                format!(
                    "factor MultipleOf declared for {path} must be positive: {}",
                    gofmt::float(factor)
                ),
            ));
            return;
        }
        let mult = if factor < 1.0 {
            1.0 / factor * x
        } else {
            x / factor
        };
        if !gofmt::is_json_integer(mult) {
            out.push(self.invalid(
                path,
                data.clone(),
                format!(
                    "{path} in body should be a multiple of {}",
                    gofmt::float(factor)
                ),
            ));
        }
    }

    /// `schemaSliceValidator`: items, then minItems, maxItems, uniqueItems.
    fn slice_check(
        &mut self,
        path: &str,
        a: &[Value],
        s: Node<'_>,
        depth: usize,
        out: &mut Vec<FieldError>,
    ) {
        self.checks += 1;
        if let Some(items) = s.items() {
            for (i, v) in a.iter().enumerate() {
                self.node(&format!("{path}[{i}]"), v, items, depth + 1, out);
            }
        }
        let size = a.len() as i64;
        if let Some(min) = s.int("minItems")
            && size < min
        {
            out.push(self.invalid(
                path,
                json!(size),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = s.int("maxItems")
            && size > max
        {
            out.push(too_many(self.field(path), size, max));
        }
        if s.flag("uniqueItems") && has_duplicates(a) {
            out.push(self.invalid(
                path,
                Value::String(String::new()),
                format!("{path} in body shouldn't contain duplicates"),
            ));
        }
    }

    /// `basicCommonValidator`: enum.
    fn enum_check(&mut self, path: &str, data: &Value, s: Node<'_>, out: &mut Vec<FieldError>) {
        let Some(values) = s.enum_values() else {
            return;
        };
        self.checks += 1;
        if values.iter().any(|e| enum_matches(data, e)) {
            return;
        }
        let quoted: Vec<String> = values
            .iter()
            .map(|v| match v {
                Value::String(s) => gofmt::quote(s),
                other => gofmt::quote(&other.to_string()),
            })
            .collect();
        out.push(FieldError {
            kind: ErrorType::NotSupported,
            field: self.field(path),
            value: Some(data.clone()),
            detail: format!("supported values: {}", quoted.join(", ")),
        });
    }

    /// `objectValidator`.
    fn object_check(
        &mut self,
        path: &str,
        m: &Map<String, Value>,
        s: Node<'_>,
        depth: usize,
        out: &mut Vec<FieldError>,
    ) {
        self.checks += 1;
        let n = m.len() as i64;
        if let Some(min) = s.int("minProperties")
            && n < min
        {
            out.push(self.invalid(
                path,
                json!(n),
                format!("{path} in body should have at least {min} properties"),
            ));
            return;
        }
        if let Some(max) = s.int("maxProperties")
            && n > max
        {
            out.push(too_many(self.field(path), n, max));
            return;
        }
        let declared = |k: &str| s.property(k).is_some();
        match s.additional() {
            Some(Additional::Bool(false)) => {
                for k in m.keys().filter(|k| !declared(k)) {
                    out.push(self.invalid(
                        path,
                        Value::String(k.clone()),
                        format!("{path}.{k} in body is a forbidden property"),
                    ));
                }
            }
            Some(Additional::Schema(ap)) => {
                for (k, v) in m.iter().filter(|(k, _)| !declared(k)) {
                    self.node(&format!("{path}.{k}"), v, ap, depth + 1, out);
                }
            }
            _ => {}
        }
        for (name, prop) in s.props() {
            if let Some(v) = m.get(name) {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                self.node(&child, v, prop, depth + 1, out);
            }
        }
        for k in s.required() {
            if !m.contains_key(k) {
                out.push(FieldError::required(self.field(&format!("{path}.{k}")), ""));
            }
        }
    }
}

/// The types a node accepts (`x-kubernetes-int-or-string` is integer or string).
fn types(s: Node<'_>) -> Vec<&str> {
    if s.int_or_string() {
        vec!["integer", "string"]
    } else if s.ty().is_empty() {
        Vec::new()
    } else {
        vec![s.ty()]
    }
}

/// The JSON type of a value as upstream names it, and the Go format of numbers.
fn data_type(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::Number(n) if n.as_i64().is_some() => ("integer", "int64"),
        Value::Number(_) => ("number", "float64"),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

fn too_many(field: String, actual: i64, max: i64) -> FieldError {
    let detail = if max >= 0 {
        let unit = if max > 1 { "items" } else { "item" };
        format!("must have at most {max} {unit}")
    } else {
        "too many items".into()
    };
    FieldError {
        kind: ErrorType::TooMany,
        field,
        value: Some(json!(actual)),
        detail,
    }
}

fn has_duplicates(a: &[Value]) -> bool {
    let mut seen = std::collections::HashSet::new();
    a.iter().any(|v| !seen.insert(v.to_string()))
}

/// Whether `data` equals the enum value `e` after Go's conversion of `data` to `e`'s type:
/// numbers compare across integer and float (a float converts to an integer by truncation),
/// nulls never match.
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (data, e) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(d), Value::Number(en)) => match (d.as_i64(), en.as_i64()) {
            (Some(a), Some(b)) => a == b,
            (None, Some(b)) => d.as_f64().is_some_and(|f| f.trunc() == b as f64),
            (_, None) => d.as_f64() == en.as_f64(),
        },
        _ => data == e,
    }
}

/// Compiles a schema `pattern` (Go RE2 syntax, which the regex crate shares) through a small
/// cache. The error reads like Go's: ``error parsing regexp: <what>: `<pattern>` ``.
pub(super) fn compile(pattern: &str) -> Result<Regex, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Result<Regex, String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(r) = guard.get(pattern) {
        return r.clone();
    }
    let r = regex::RegexBuilder::new(pattern)
        .size_limit(4 << 20)
        .build()
        .map_err(|e| {
            let text = e.to_string();
            let what = text
                .lines()
                .rev()
                .find_map(|l| l.trim().strip_prefix("error: "))
                .map(str::to_string)
                .unwrap_or_else(|| {
                    text.lines()
                        .next_back()
                        .unwrap_or("invalid")
                        .trim()
                        .to_string()
                });
            format!("error parsing regexp: {what}: `{pattern}`")
        });
    if guard.len() >= 512 {
        guard.clear();
    }
    guard.insert(pattern.to_string(), r.clone());
    r
}

// --- x-kubernetes-list-type ---------------------------------------------------------------

fn list_types(errs: &mut Vec<FieldError>, path: &Path, data: &Value, s: Node<'_>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match data {
        Value::Array(a) => list_array(errs, path, a, s, depth),
        Value::Object(m) => {
            for (k, v) in m {
                let Some(sub) = s.field_schema(k) else {
                    continue;
                };
                if v.is_array() || v.is_object() {
                    list_types(errs, &path.child(k), v, sub, depth + 1);
                }
            }
        }
        _ => {}
    }
}

fn list_array(errs: &mut Vec<FieldError>, path: &Path, a: &[Value], s: Node<'_>, depth: usize) {
    match s.list_type() {
        Some("set") => {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for (i, x) in a.iter().enumerate() {
                let c = counts.entry(x.to_string()).or_insert(0);
                *c += 1;
                if *c == 2 {
                    errs.push(FieldError::duplicate(path.index(i), x.clone()));
                }
            }
        }
        Some("map") => list_map(errs, path, a, s),
        _ => {}
    }
    if let Some(items) = s.items() {
        for (i, x) in a.iter().enumerate() {
            list_types(errs, &path.index(i), x, items, depth + 1);
        }
    }
}

fn list_map(errs: &mut Vec<FieldError>, path: &Path, a: &[Value], s: Node<'_>) {
    if let Some((i, x)) = a
        .iter()
        .enumerate()
        .find(|(_, x)| !x.is_null() && !x.is_object())
    {
        errs.push(FieldError::invalid(
            path.index(i),
            x.clone(),
            "must be an object for an x-kubernetes-list-type of map",
        ));
        return;
    }
    let keys = s.list_map_keys();
    let items = s.items();
    // The key of an item: each key field's value, its default when absent, or nothing.
    let key_of = |obj: &Map<String, Value>| -> Map<String, Value> {
        let mut key = Map::new();
        for k in &keys {
            let v = obj.get(*k).or_else(|| {
                items
                    .and_then(|it| it.property(k))
                    .and_then(|p| p.default())
            });
            if let Some(v) = v {
                key.insert((*k).to_string(), v.clone());
            }
        }
        key
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (i, x) in a.iter().enumerate() {
        let Some(obj) = x.as_object() else {
            continue;
        };
        let key = key_of(obj);
        // Absent keys are distinct from every present value, so the rendering marks them.
        let ident: Vec<String> = keys
            .iter()
            .map(|k| {
                key.get(*k)
                    .map_or_else(|| "\u{0}absent".to_string(), Value::to_string)
            })
            .collect();
        let c = counts.entry(ident.join("\u{0}")).or_insert(0);
        *c += 1;
        if *c == 2 {
            errs.push(FieldError::duplicate(path.index(i), Value::Object(key)));
        }
    }
}

// --- embedded resources (objectmeta.Validate) ---------------------------------------------

/// Checks the embedded resources in `data` (`resource_root`: `data` itself is one).
pub(super) fn embedded_resources(
    errs: &mut Vec<FieldError>,
    path: &Path,
    data: &Value,
    s: Node<'_>,
    resource_root: bool,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match data {
        Value::Object(m) => {
            if resource_root || s.embedded() {
                embedded_resource(errs, path, m);
            }
            for (k, v) in m {
                if let Some(p) = s.property(k) {
                    embedded_resources(errs, &path.child(k), v, p, false, depth + 1);
                } else if let Some(ap) = s.additional_schema() {
                    embedded_resources(errs, &path.key(k), v, ap, false, depth + 1);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.items() {
                for (i, v) in a.iter().enumerate() {
                    embedded_resources(errs, &path.index(i), v, items, false, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// An embedded resource: `apiVersion` and `kind` are required strings of valid syntax, and
/// `metadata` is checked lightly (name, generateName, namespace, labels, annotations).
fn embedded_resource(errs: &mut Vec<FieldError>, path: &Path, m: &Map<String, Value>) {
    if !m.contains_key("apiVersion") {
        errs.push(FieldError::required(
            path.child("apiVersion"),
            "must not be empty",
        ));
    }
    if !m.contains_key("kind") {
        errs.push(FieldError::required(
            path.child("kind"),
            "must not be empty",
        ));
    }
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    path.child(k),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::invalid(
                    path.child(k),
                    v.clone(),
                    "must not be empty",
                )),
                Some(av) if av.matches('/').count() > 1 => errs.push(FieldError::invalid(
                    path.child(k),
                    v.clone(),
                    format!("unexpected GroupVersion string: {av}"),
                )),
                Some(_) => {}
            },
            "kind" => match v.as_str() {
                None => errs.push(FieldError::invalid(
                    path.child(k),
                    v.clone(),
                    "must be a string",
                )),
                Some("") => errs.push(FieldError::invalid(
                    path.child(k),
                    v.clone(),
                    "must not be empty",
                )),
                Some(kind) => {
                    let problems = validation_names::dns1035_label(&kind.to_lowercase());
                    if !problems.is_empty() {
                        errs.push(FieldError::invalid(
                            path.child(k),
                            v.clone(),
                            format!(
                                "may have mixed case, but should otherwise match: {}",
                                problems.join(",")
                            ),
                        ));
                    }
                }
            },
            "metadata" => embedded_metadata(errs, &path.child(k), v),
            _ => {}
        }
    }
}

fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn embedded_metadata(errs: &mut Vec<FieldError>, path: &Path, v: &Value) {
    let m = match v {
        Value::Null => return,
        Value::Object(m) => m,
        other => {
            errs.push(FieldError::invalid(
                path.as_str(),
                other.clone(),
                format!(
                    "json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                    go_json_type(other)
                ),
            ));
            return;
        }
    };
    let str_field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
    let generate_name = str_field("generateName");
    if !generate_name.is_empty() {
        for msg in ["/", "%"]
            .iter()
            .filter(|c| generate_name.contains(**c))
            .map(|c| format!("may not contain '{c}'"))
        {
            errs.push(FieldError::invalid(
                path.child("generateName"),
                json!(generate_name),
                msg,
            ));
        }
    }
    let name = str_field("name");
    if !name.is_empty() {
        for msg in validation_names::path_segment_name(name) {
            errs.push(FieldError::invalid(path.child("name"), json!(name), msg));
        }
    }
    let namespace = str_field("namespace");
    if !namespace.is_empty() {
        for msg in validation_names::dns1123_label(namespace) {
            errs.push(FieldError::invalid(
                path.child("namespace"),
                json!(namespace),
                msg,
            ));
        }
    }
    if let Some(labels) = m.get("labels").and_then(Value::as_object) {
        let lp = path.child("labels");
        for (k, val) in labels {
            for msg in validation_names::qualified_name(k) {
                errs.push(FieldError::invalid(lp.as_str(), json!(k), msg));
            }
            for msg in validation_names::label_value(val.as_str().unwrap_or("")) {
                errs.push(FieldError::invalid(lp.as_str(), val.clone(), msg));
            }
        }
    }
    if let Some(annotations) = m.get("annotations").and_then(Value::as_object) {
        let ap = path.child("annotations");
        for k in annotations.keys() {
            for msg in validation_names::qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid(ap.as_str(), json!(k), msg));
            }
        }
    }
}
