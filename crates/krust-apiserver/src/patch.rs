//! Patch engines beyond JSON patch and JSON merge patch: strategic merge patch (built-in kinds,
//! merge keys and directives from the OpenAPI extensions) and server-side apply (field
//! ownership in `managedFields`, conflicts, `force`).

pub mod apply;
pub mod fieldset;
pub mod strategic;
