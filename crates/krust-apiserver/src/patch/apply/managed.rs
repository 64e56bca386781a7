//! `metadata.managedFields` entries: decoding, encoding (in upstream's order), identity, and
//! the cap on the number of `Update` entries.

use super::Operation;
use crate::patch::fieldset::FieldSet;
use serde_json::{Map, Value};

/// How many `Update` entries an object keeps before the oldest are merged into
/// `ancient-changes` entries.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest `Update` entries are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// One managedFields entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub set: FieldSet,
}

impl Entry {
    /// Whether two entries are the same manager identity: manager, operation and subresource,
    /// and for `Update` entries also the API version (an applier keeps one entry across
    /// versions; an updater gets one per version).
    pub fn same_identity(&self, other: &Entry) -> bool {
        self.is(
            &other.manager,
            other.operation,
            other.subresource.as_deref(),
            &other.api_version,
        )
    }

    /// Whether this entry has the given identity.
    pub fn is(
        &self,
        manager: &str,
        operation: Operation,
        subresource: Option<&str>,
        api_version: &str,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn time_seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second())
            .unwrap_or(0)
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".to_string(), Value::String(self.manager.clone()));
        }
        m.insert(
            "operation".to_string(),
            Value::String(self.operation.as_str().to_string()),
        );
        m.insert(
            "apiVersion".to_string(),
            Value::String(self.api_version.clone()),
        );
        if let Some(t) = &self.time {
            m.insert("time".to_string(), Value::String(t.clone()));
        }
        m.insert(
            "fieldsType".to_string(),
            Value::String("FieldsV1".to_string()),
        );
        m.insert("fieldsV1".to_string(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".to_string(), Value::String(s.clone()));
        }
        Value::Object(m)
    }
}

/// Decodes `metadata.managedFields` (absent or null = no entries). Entries must name an
/// operation (`Apply` or `Update`), an API version and the `FieldsV1` type; a later entry
/// with the identity of an earlier one replaces it.
pub fn decode(managed_fields: Option<&Value>) -> Result<Vec<Entry>, String> {
    let items = match managed_fields {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("managedFields must be a list".to_string()),
    };
    let mut out: Vec<Entry> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or_else(|| format!("managed fields entry {i} is not an object"))?;
        let s = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let operation = match s("operation") {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".to_string()),
        };
        let api_version = s("apiVersion")
            .ok_or("apiVersion must not be empty")?
            .to_string();
        match s("fieldsType") {
            Some("FieldsV1") => {}
            None => return Err(format!("missing fieldsType in managed fields entry {i}")),
            Some(other) => {
                return Err(format!(
                    "invalid fieldsType {other:?} in managed fields entry {i}"
                ));
            }
        }
        let set = match obj.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v).map_err(|e| e.to_string())?,
        };
        let entry = Entry {
            manager: s("manager").unwrap_or_default().to_string(),
            operation,
            api_version,
            time: s("time").map(str::to_string),
            subresource: s("subresource").map(str::to_string),
            set,
        };
        match out.iter_mut().find(|e| e.same_identity(&entry)) {
            Some(existing) => *existing = entry,
            None => out.push(entry),
        }
    }
    Ok(out)
}

/// Whether a user-provided `managedFields` asks to reset them: an empty list, or a list
/// holding one empty entry.
pub fn is_reset(managed_fields: Option<&Value>) -> bool {
    match managed_fields.and_then(Value::as_array).map(Vec::as_slice) {
        Some([]) => true,
        Some([only]) => only.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

/// Encodes entries in upstream's order (`Apply` before `Update`, then oldest first, then by
/// manager, API version and subresource), dropping empty ones. `None` when nothing is left.
pub fn encode(entries: &[Entry]) -> Option<Value> {
    let mut kept: Vec<&Entry> = entries.iter().filter(|e| !e.set.is_empty()).collect();
    if kept.is_empty() {
        return None;
    }
    kept.sort_by(|a, b| {
        (
            a.operation.as_str(),
            a.time_seconds(),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation.as_str(),
                b.time_seconds(),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    Some(Value::Array(kept.into_iter().map(Entry::encode).collect()))
}

/// Merges the oldest `Update` entries into one `ancient-changes` entry per API version until at
/// most `max` `Update` entries remain.
pub fn cap_updates(entries: &mut Vec<Entry>, max: usize) {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == Operation::Update && !entries[i].set.is_empty())
        .collect();
    if updaters.len() <= max {
        return;
    }
    updaters.sort_by(|&a, &b| {
        let (ea, eb) = (&entries[a], &entries[b]);
        (
            ea.time_seconds(),
            &ea.manager,
            &ea.api_version,
            &ea.subresource,
        )
            .cmp(&(
                eb.time_seconds(),
                &eb.manager,
                &eb.api_version,
                &eb.subresource,
            ))
    });
    let mut remaining = updaters.len();
    let mut removed = vec![false; entries.len()];
    // The first (oldest) entry seen per API version; once a second one shows up, both go into
    // the version's bucket.
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    for &i in &updaters {
        if remaining <= max {
            break;
        }
        let version = entries[i].api_version.clone();
        let Some(&(_, first)) = first_of_version.iter().find(|(v, _)| *v == version) else {
            first_of_version.push((version, i));
            continue;
        };
        let bucket = (0..entries.len()).find(|&j| {
            !removed[j] && entries[j].is(ANCIENT_CHANGES, Operation::Update, None, &version)
        });
        let bucket = match bucket {
            Some(b) => b,
            None => {
                // The first entry of this version becomes the bucket.
                entries[first].manager = ANCIENT_CHANGES.to_string();
                entries[first].subresource = None;
                first
            }
        };
        if bucket == i {
            continue;
        }
        let set = entries[i].set.clone();
        let time = entries[i].time.clone();
        entries[bucket].set.union_with(&set);
        entries[bucket].time = time;
        removed[i] = true;
        remaining -= 1;
    }
    let mut idx = 0;
    entries.retain(|_| {
        let keep = !removed[idx];
        idx += 1;
        keep
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(manager: &str, time: &str) -> Entry {
        let mut set = FieldSet::new();
        set.insert(&[crate::patch::fieldset::PathElement::Field(
            manager.to_string(),
        )]);
        Entry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version: "v1".to_string(),
            time: Some(time.to_string()),
            subresource: None,
            set,
        }
    }

    #[test]
    fn managed_decode_validates_entries() {
        assert!(decode(Some(&json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]))).is_err());
        assert!(
            decode(Some(
                &json!([{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1"}])
            ))
            .is_err()
        );
        assert!(
            decode(Some(
                &json!([{"manager": "m", "operation": "Update", "apiVersion": "v1"}])
            ))
            .is_err()
        );
        assert!(decode(Some(&json!([{}]))).is_err());
        assert!(is_reset(Some(&json!([{}]))));
        assert!(is_reset(Some(&json!([]))));
        assert!(!is_reset(None));
        let entries = decode(Some(&json!([
            {"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:data": {}}, "time": "2024-01-01T00:00:00Z"},
            {"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {}}}
        ])))
        .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].set.to_fields_v1(), json!({"f:spec": {}}));
    }

    #[test]
    fn managed_cap_merges_oldest_updates() {
        let mut entries: Vec<Entry> = (0..12)
            .map(|i| update(&format!("m{i:02}"), &format!("2024-01-01T00:00:{i:02}Z")))
            .collect();
        cap_updates(&mut entries, MAX_UPDATE_MANAGERS);
        assert_eq!(entries.len(), MAX_UPDATE_MANAGERS);
        let ancient = entries
            .iter()
            .find(|e| e.manager == ANCIENT_CHANGES)
            .unwrap();
        assert_eq!(ancient.set.len(), 3);
        assert_eq!(ancient.time.as_deref(), Some("2024-01-01T00:00:02Z"));
        assert!(
            entries
                .iter()
                .all(|e| e.manager != "m00" && e.manager != "m02")
        );
    }
}
