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
    let mut v = obj.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("selfLink");
    }
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// A stored (storage-version) object rendered at the version `info` serves.
pub fn render(info: &ResourceInfo, obj: &Value) -> Value {
    let mut v = obj.clone();
    krust_api::conversion::from_storage(&info.group, &info.kind, &info.version, &mut v);
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
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        v
    }
    strip(a) == strip(b)
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
