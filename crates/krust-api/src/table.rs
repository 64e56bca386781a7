//! Table columns and rows for `kubectl get` (`meta.k8s.io/v1` Table), per built-in kind, as
//! upstream's printers define them.

use serde_json::Value;

/// One column definition of a Table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// `name` for the Name column, else usually empty.
    pub format: String,
    pub description: String,
    /// 0 = always shown, >0 = only with `-o wide`.
    pub priority: i32,
}

/// The columns for a kind (generic fallback: Name, Created At).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    let _ = (group, kind);
    vec![
        Column {
            name: "Name".into(),
            type_: "string".into(),
            format: "name".into(),
            description: "Name must be unique within a namespace.".into(),
            priority: 0,
        },
        Column {
            name: "Created At".into(),
            type_: "date".into(),
            format: String::new(),
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
            priority: 0,
        },
    ]
}

/// The cells of one row, in the order of [`columns`].
pub fn cells(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
    let _ = (group, kind);
    vec![
        Value::String(crate::meta::name(obj).to_string()),
        crate::meta::get_path(obj, &["metadata", "creationTimestamp"])
            .cloned()
            .unwrap_or(Value::Null),
    ]
}
