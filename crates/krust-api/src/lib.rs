//! The Kubernetes object model of krust: the kind registry (groups, versions, plurals, scope,
//! short names, categories, subresources), conversion between served and stored versions,
//! server-side defaulting and validation, Table columns, and label and field selectors.
//!
//! Objects are handled as `serde_json::Value` so that built-in kinds and custom resources share
//! one code path; [`typecheck`] checks their JSON types against the served OpenAPI
//! definitions as upstream's typed decoding does.

pub mod conversion;
pub mod defaults;
pub mod field_error;
pub mod fields;
pub mod meta;
pub mod openapi;
pub mod protobuf;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod structural;
pub mod table;
pub mod time;
pub mod typecheck;
pub mod validation;
pub mod validation_names;

pub use field_error::{ErrorType, FieldError};
pub use registry::{Registry, ResourceInfo};
