//! Objects on their way to and from storage: storage encoding (without `resourceVersion`, which
//! is the key's `mod_revision`), rendering at the served version, UIDs and generated names.

use crate::status::ApiError;
use bytes::Bytes;
use krust_api::ResourceInfo;
use ring::rand::SecureRandom;
use serde_json::{Value, json};

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // SystemRandom only fails if the OS has no randomness, in which case zeros are the best
    // that can be done; uniqueness is then still guarded by storage preconditions.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

/// A random (version 4) UUID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `generateName` plus five random characters, the base cut so the name fits 63 characters.
pub fn generate_name(base: &str) -> String {
    let mut base = base.to_string();
    if base.len() > 58 {
        let mut cut = 58;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    let r: [u8; 5] = random_bytes();
    let suffix: String = r
        .iter()
        .map(|x| SUFFIX_ALPHABET[*x as usize % SUFFIX_ALPHABET.len()] as char)
        .collect();
    format!("{base}{suffix}")
}

/// The bytes stored for an object: its JSON without `resourceVersion` and `selfLink`.
pub fn encode_for_storage(obj: &Value) -> Result<Bytes, ApiError> {
    // Serialize the object as it is, but with `metadata` written without the two keys (no
    // copy of the whole object).
    struct Stored<'a>(&'a Value);
    impl serde::Serialize for Stored<'_> {
        fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let Some(map) = self.0.as_object() else {
                return self.0.serialize(ser);
            };
            let mut m = ser.serialize_map(Some(map.len()))?;
            for (k, v) in map {
                if k == "metadata"
                    && let Some(meta) = v.as_object()
                {
                    let filtered: serde_json::Map<String, Value> = meta
                        .iter()
                        .filter(|(mk, _)| *mk != "resourceVersion" && *mk != "selfLink")
                        .map(|(mk, mv)| (mk.clone(), mv.clone()))
                        .collect();
                    m.serialize_entry(k, &filtered)?;
                    continue;
                }
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
    serde_json::to_vec(&Stored(obj))
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// A stored (storage-version) object rendered at the version `info` serves.
/// A stored object as served at `info`'s version: converted, and for custom resources
/// defaulted by the current schema (as upstream defaults when it decodes from storage).
pub fn render(info: &ResourceInfo, obj: &Value) -> Value {
    let mut v = obj.clone();
    krust_api::conversion::from_storage(&info.group, &info.kind, &info.version, &mut v);
    if let Some(schema) = info.custom.as_ref().and_then(|c| c.read_defaults()) {
        krust_api::structural::apply_defaults(&mut v, schema);
    }
    v
}

/// A `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value, v1beta1: bool) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": if v1beta1 { "meta.k8s.io/v1beta1" } else { "meta.k8s.io/v1" },
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Whether two objects are equal apart from `metadata.resourceVersion` and `managedFields`
/// timestamps (an update that changes nothing is not written).
pub fn semantically_equal(a: &Value, b: &Value) -> bool {
    let (Some(am), Some(bm)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    if am.len() != bm.len() {
        return false;
    }
    am.iter().all(|(k, av)| {
        let Some(bv) = bm.get(k) else { return false };
        if k != "metadata" {
            return av == bv;
        }
        match (av.as_object(), bv.as_object()) {
            (Some(x), Some(y)) => {
                let skip = |key: &String| key == "resourceVersion";
                x.iter().filter(|(k, _)| !skip(k)).count()
                    == y.iter().filter(|(k, _)| !skip(k)).count()
                    && x.iter()
                        .filter(|(k, _)| !skip(k))
                        .all(|(k, v)| y.get(k) == Some(v))
            }
            _ => av == bv,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_names() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uid());
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert_eq!(generate_name(&"a".repeat(100)).len(), 63);
        let enc = encode_for_storage(&json!({"metadata": {"name": "x", "resourceVersion": "5"}}))
            .unwrap();
        assert_eq!(&enc[..], br#"{"metadata":{"name":"x"}}"#);
    }
}
