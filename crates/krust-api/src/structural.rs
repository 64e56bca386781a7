//! Structural schemas of custom resources, with the semantics of upstream's
//! `k8s.io/apiextensions-apiserver` (`pkg/apiserver/schema`: structural rules, pruning,
//! defaulting, list types, embedded object meta; `pkg/apiserver/validation`: the kube-openapi
//! validator and its conversion to field errors).
//!
//! Schemas are a CRD version's `openAPIV3Schema` as JSON (inline `properties`, `items`,
//! `additionalProperties`; no `$ref`). Everything here takes untrusted input: nothing panics,
//! wrongly typed schema keywords are ignored (and reported by [`validate_schema`]), and every
//! recursion stops at [`MAX_DEPTH`] schema levels.
//!
//! - [`validate_schema`]: the checks upstream runs on a CRD's schema on create and update
//!   (`ValidateCustomResourceDefinitionOpenAPISchema`, `ValidateStructural`,
//!   `ValidateDefaults`), with upstream's paths and messages.
//! - [`prune`]: drops undeclared fields (pruning, object-meta coercion, and removal of nulls that
//!   are neither nullable nor defaulted), as the custom resource decoder does.
//! - [`apply_defaults`]: applies `default`s.
//! - [`validate`]: validates an object like the custom resource handler: the kube-openapi schema
//!   validator, `x-kubernetes-list-type` set/map uniqueness, and embedded resources' type and
//!   object meta.
//! - [`json_path`]: evaluates an `additionalPrinterColumns` JSONPath.
//!
//! Submodules: `node` (typed access to a schema node), `schema_check`, `prune`, `defaults`,
//! `validate`, `formats` (string formats), `gofmt` (Go's rendering of values in messages),
//! `jsonpath`.

mod defaults;
mod formats;
mod gofmt;
mod jsonpath;
mod node;
mod prune;
mod schema_check;
mod validate;

#[cfg(test)]
mod tests;

use crate::FieldError;
use serde_json::Value;

/// The deepest schema nesting handled: schemas nested deeper are rejected by
/// [`validate_schema`], and the other functions stop descending there.
pub const MAX_DEPTH: usize = 64;

/// Validates a CustomResourceDefinition's `openAPIV3Schema` against the rules upstream enforces
/// on CRD create/update: the generic OpenAPI restrictions (`$ref`, `uniqueItems`,
/// `additionalProperties` with `properties`, list and map types, forbidden defaults in
/// metadata...), the structural-schema rules (every node has a type unless
/// `x-kubernetes-int-or-string` / `x-kubernetes-preserve-unknown-fields`; `metadata` may only
/// constrain `name`/`generateName`; value validations under `allOf`/`anyOf`/`oneOf`/`not` may not
/// set types...), and the validity of `default`s.
///
/// `field_prefix` is the path of the schema, e.g. `spec.versions[0].schema.openAPIV3Schema`;
/// returned errors are under it, worded as upstream words them.
pub fn validate_schema(schema: &Value, field_prefix: &str) -> Vec<FieldError> {
    schema_check::validate_schema(schema, field_prefix)
}

/// Removes fields not declared in the schema (unless under
/// `x-kubernetes-preserve-unknown-fields`), as upstream pruning does. `apiVersion`, `kind` and
/// `metadata` at the root and in embedded resources are kept; `metadata` is reduced to
/// `ObjectMeta`'s fields (malformed ones are dropped). Nulls in fields that are neither
/// nullable nor have a default are removed as well, as upstream's decoder does right after
/// pruning.
pub fn prune(obj: &mut Value, schema: &Value) {
    prune::prune(obj, schema);
}

/// Applies `default` values from the schema: a missing field (or a null in a non-nullable one)
/// gets its default when the object holding it exists; recursion goes into properties, `items`
/// and `additionalProperties`, including into freshly defaulted values. Nulls in fields that are
/// neither nullable nor defaulted are removed first, as upstream does.
pub fn apply_defaults(obj: &mut Value, schema: &Value) {
    defaults::apply_defaults(obj, schema);
}

/// Validates an object against the schema as upstream's custom resource handler does, and
/// returns upstream's field errors, e.g.
///
/// - `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`
/// - `spec.cronSpec: Required value`
/// - `spec.mode: Unsupported value: "c": supported values: "a", "b"`
/// - `spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1`
/// - `spec.name: Too long: may not be more than 5 bytes`
/// - `spec.items: Too many: 4: must have at most 3 items`
/// - `spec.ports[1]: Duplicate value: ...` (`x-kubernetes-list-type` set and map)
///
/// Object metadata at the root is not checked here (the generic `ObjectMeta` validation does
/// that); embedded resources get their `apiVersion`, `kind` and metadata checked.
pub fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    validate::validate(obj, schema)
}

/// Evaluates an `additionalPrinterColumns` JSONPath (`.spec.cronSpec`,
/// `.spec.containers[*].image`, `.status.conditions[?(@.type=="Ready")].status`, `{.a.b}`...)
/// against an object and returns the values found, in order. Missing fields, out-of-range
/// indices and unparsable paths give no values.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    jsonpath::evaluate(obj, path)
}
