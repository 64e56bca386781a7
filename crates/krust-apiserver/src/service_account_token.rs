//! ServiceAccount tokens as upstream issues and checks them: JWTs signed ES256 (ECDSA P-256,
//! SHA-256) with the server's key, carrying upstream's claims.
//!
//! - [`TokenSigner`] holds the private key and issues tokens (the `serviceaccounts/token`
//!   subresource). The JWS header names the key with `kid`, the unpadded base64url SHA-256 of
//!   the public key's DER `SubjectPublicKeyInfo`, as upstream's `keyIDFromPublicKey`.
//! - [`TokenVerifier`] checks what needs no storage: structure, issuer, signature, `exp`/`nbf`/`iat`
//!   with upstream's leeway ([`LEEWAY_SECONDS`], go-jose's default), and that an audience
//!   of the token is one the API server accepts.
//! - [`authenticate`] adds what needs storage, as upstream's validator does: the ServiceAccount
//!   (and the Pod, Secret or Node the token is bound to) must still exist with the UID in the
//!   token, and not have been marked deleted more than [`LEEWAY_SECONDS`] ago.
//!
//! The claims are upstream's (`pkg/serviceaccount/claims.go`): `iss`, `sub`
//! (`system:serviceaccount:<namespace>:<name>`), `aud`, `exp`, `iat`, `nbf`, `jti` and the
//! private `kubernetes.io` claim `{namespace, serviceaccount {name, uid}, pod, secret, node}`.
//!
//! Nothing here panics on input: every malformed token is a [`TokenError`].

use crate::{ApiServer, Identity};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde_json::{Map, Value, json};

/// The issuer (`iss`) of the tokens, and the API server's audience: what k3s and kubeadm
/// clusters use (`--service-account-issuer`, `--api-audiences`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Clock skew tolerated on `exp`, `nbf` and `iat` (go-jose's `DefaultLeeway`), and how long a
/// token outlives the deletion mark of the objects it names (upstream's deletion grace).
pub const LEEWAY_SECONDS: i64 = 60;

/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1), followed by
/// the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Not issued by this server (another issuer): not ours to judge.
    #[error("token issuer is not {ISSUER}")]
    Issuer,
    #[error("invalid token signature")]
    Signature,
    #[error("service account token has expired")]
    Expired,
    #[error("service account token is not valid yet")]
    NotValidYet,
    #[error("service account token is issued in the future")]
    IssuedInTheFuture,
    #[error("token audiences are invalid for the target audiences")]
    Audience,
    #[error("signing key: {0}")]
    Key(String),
}

/// `{name, uid}` of an object a token names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

impl ObjectRef {
    pub fn new(name: impl Into<String>, uid: impl Into<String>) -> Self {
        ObjectRef {
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.name.is_empty() {
            m.insert("name".into(), json!(self.name));
        }
        if !self.uid.is_empty() {
            m.insert("uid".into(), json!(self.uid));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Self> {
        let m = v.as_object()?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Some(ObjectRef {
            name: s("name"),
            uid: s("uid"),
        })
    }
}

/// The claims of a ServiceAccount token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    /// Unix seconds.
    pub expiry: i64,
    pub not_before: Option<i64>,
    pub issued_at: Option<i64>,
    /// `jti`.
    pub id: Option<String>,
    pub namespace: String,
    pub service_account: ObjectRef,
    pub pod: Option<ObjectRef>,
    pub secret: Option<ObjectRef>,
    pub node: Option<ObjectRef>,
}

/// `system:serviceaccount:<namespace>:<name>`, the user name of a ServiceAccount.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

impl Claims {
    /// Claims for a token of ServiceAccount `name` (with `uid`) in `namespace`, issued at `now`
    /// (Unix seconds) for `expiration_seconds`, with a fresh `jti`.
    pub fn new(
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        now: i64,
        expiration_seconds: i64,
    ) -> Self {
        Claims {
            issuer: ISSUER.to_string(),
            subject: username(namespace, name),
            audiences,
            expiry: now.saturating_add(expiration_seconds),
            not_before: Some(now),
            issued_at: Some(now),
            id: Some(crate::object::new_uid()),
            namespace: namespace.to_string(),
            service_account: ObjectRef::new(name, uid),
            pod: None,
            secret: None,
            node: None,
        }
    }

    /// The JWT payload, keys as upstream writes them.
    pub fn to_json(&self) -> Value {
        let mut k8s = Map::new();
        k8s.insert("namespace".into(), json!(self.namespace));
        k8s.insert("serviceaccount".into(), self.service_account.to_json());
        for (key, r) in [
            ("pod", &self.pod),
            ("secret", &self.secret),
            ("node", &self.node),
        ] {
            if let Some(r) = r {
                k8s.insert(key.into(), r.to_json());
            }
        }
        let mut m = Map::new();
        m.insert("iss".into(), json!(self.issuer));
        m.insert("sub".into(), json!(self.subject));
        m.insert("aud".into(), json!(self.audiences));
        m.insert("exp".into(), json!(self.expiry));
        if let Some(t) = self.issued_at {
            m.insert("iat".into(), json!(t));
        }
        if let Some(t) = self.not_before {
            m.insert("nbf".into(), json!(t));
        }
        if let Some(id) = &self.id {
            m.insert("jti".into(), json!(id));
        }
        m.insert("kubernetes.io".into(), Value::Object(k8s));
        Value::Object(m)
    }

    /// Reads a JWT payload; `None` when a claim this server needs is missing or mistyped.
    pub fn from_json(v: &Value) -> Option<Self> {
        let m = v.as_object()?;
        let string = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let audiences = match m.get("aud")? {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?,
            _ => return None,
        };
        let k8s = m.get("kubernetes.io")?.as_object()?;
        let reference = |k: &str| k8s.get(k).and_then(ObjectRef::from_json);
        // Absent is fine; present but not a number is not.
        let optional_date = |k: &str| match m.get(k) {
            None | Some(Value::Null) => Some(None),
            Some(v) => numeric_date(v).map(Some),
        };
        Some(Claims {
            issuer: string("iss")?,
            subject: string("sub").unwrap_or_default(),
            audiences,
            expiry: numeric_date(m.get("exp")?)?,
            not_before: optional_date("nbf")?,
            issued_at: optional_date("iat")?,
            id: string("jti"),
            namespace: k8s.get("namespace")?.as_str()?.to_string(),
            service_account: reference("serviceaccount")?,
            pod: reference("pod"),
            secret: reference("secret"),
            node: reference("node"),
        })
    }
}

/// A JSON NumericDate: seconds, possibly fractional (truncated).
fn numeric_date(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    // `as` saturates; refuse what is out of range rather than clamp it.
    (f.is_finite() && f.abs() < 1e15).then_some(f.trunc() as i64)
}

/// `kid` of a P-256 public key (65-byte uncompressed point): base64url of the SHA-256 of its
/// DER `SubjectPublicKeyInfo`.
pub fn key_id(public_point: &[u8]) -> String {
    let mut der = Vec::with_capacity(P256_SPKI_PREFIX.len() + public_point.len());
    der.extend_from_slice(P256_SPKI_PREFIX);
    der.extend_from_slice(public_point);
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &der))
}

/// Issues tokens with an ECDSA P-256 key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A new random key as PKCS#8 DER (what the binary stores).
    pub fn generate_pkcs8() -> Result<Vec<u8>, TokenError> {
        let rng = SystemRandom::new();
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| TokenError::Key("generating an ECDSA P-256 key failed".into()))
    }

    /// A signer with a new random key (kept in memory only).
    pub fn generate() -> Result<Self, TokenError> {
        Self::from_pkcs8(&Self::generate_pkcs8()?)
    }

    /// A signer with an ECDSA P-256 PKCS#8 DER key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| TokenError::Key(format!("not an ECDSA P-256 PKCS#8 key: {e}")))?;
        let kid = key_id(key.public_key().as_ref());
        Ok(TokenSigner { key, kid, rng })
    }

    /// The key's `kid`.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// A verifier of this signer's tokens accepting `audiences`.
    pub fn verifier(&self, audiences: Vec<String>) -> TokenVerifier {
        TokenVerifier {
            public_key: self.key.public_key().as_ref().to_vec(),
            audiences,
        }
    }

    /// The signed compact JWS of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_json().to_string()));
        let sig = self
            .key
            .sign(&self.rng, out.as_bytes())
            .map_err(|_| TokenError::Key("signing failed".into()))?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
        Ok(out)
    }
}

/// Checks tokens signed by one P-256 key.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    /// The uncompressed public point.
    public_key: Vec<u8>,
    audiences: Vec<String>,
}

fn decode_json(part: &str) -> Result<Value, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed("bad base64url"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed("bad JSON"))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(TokenError::Malformed("not a JSON object"))
    }
}

impl TokenVerifier {
    /// Whether `token` looks like a JWT of this issuer (unverified): the cheap test that decides
    /// whether this authenticator judges a bearer token at all.
    pub fn is_ours(&self, token: &str) -> bool {
        token.len() <= MAX_TOKEN_BYTES
            && token.split('.').count() == 3
            && token
                .split('.')
                .nth(1)
                .and_then(|p| decode_json(p).ok())
                .is_some_and(|p| p["iss"] == ISSUER)
    }

    /// Checks structure, issuer, signature, times (at `now`, Unix seconds, with
    /// [`LEEWAY_SECONDS`]) and audience; returns the claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        let header = decode_json(h)?;
        if header["alg"] != "ES256" {
            return Err(TokenError::Malformed("unsupported signature algorithm"));
        }
        let payload = decode_json(p)?;
        if payload["iss"] != ISSUER {
            return Err(TokenError::Issuer);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed("bad base64url"))?;
        let signed_len = h.len() + 1 + p.len();
        let signed = token
            .get(..signed_len)
            .ok_or(TokenError::Malformed("bad signing input"))?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public_key)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims = Claims::from_json(&payload)
            .ok_or(TokenError::Malformed("missing or invalid claims"))?;
        if claims
            .not_before
            .is_some_and(|nbf| now.saturating_add(LEEWAY_SECONDS) < nbf)
        {
            return Err(TokenError::NotValidYet);
        }
        if now.saturating_sub(LEEWAY_SECONDS) > claims.expiry {
            return Err(TokenError::Expired);
        }
        if claims
            .issued_at
            .is_some_and(|iat| now.saturating_add(LEEWAY_SECONDS) < iat)
        {
            return Err(TokenError::IssuedInTheFuture);
        }
        if !claims.audiences.iter().any(|a| self.audiences.contains(a)) {
            return Err(TokenError::Audience);
        }
        if claims.namespace.is_empty()
            || claims.service_account.name.is_empty()
            || claims.service_account.uid.is_empty()
        {
            return Err(TokenError::Malformed("missing service account claims"));
        }
        Ok(claims)
    }
}

/// Now, in Unix seconds.
pub(crate) fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A core/v1 object from storage (`plural` in `namespace`), `None` when absent.
pub(crate) async fn lookup(
    server: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, crate::ApiError> {
    let key = {
        let registry = server.registry();
        match registry.get("", "v1", plural) {
            Some(info) => info.key(namespace, name),
            None => return Ok(None),
        }
    };
    let Some(kv) = server.state.backend.get(&key).await? else {
        return Ok(None);
    };
    Ok(crate::watch_cache::decode_stored(&kv))
}

/// Whether `reference` still names a live object of `plural`: present, the same UID, and not
/// marked deleted before the grace period.
async fn still_valid(
    server: &ApiServer,
    plural: &str,
    namespace: Option<&str>,
    reference: &ObjectRef,
    now: i64,
) -> bool {
    let obj = match lookup(server, plural, namespace, &reference.name).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            tracing::debug!(plural, name = %reference.name, "token refused: bound object not found");
            return false;
        }
        Err(e) => {
            tracing::debug!(plural, error = %e, "token refused: lookup failed");
            return false;
        }
    };
    if krust_api::meta::uid(&obj) != reference.uid {
        tracing::debug!(plural, name = %reference.name, "token refused: UID does not match");
        return false;
    }
    let deleted_long_ago = krust_api::meta::get_str(&obj, &["metadata", "deletionTimestamp"])
        .and_then(krust_api::time::parse)
        .is_some_and(|t| t.as_second() < now.saturating_sub(LEEWAY_SECONDS));
    !deleted_long_ago
}

/// The identity of a ServiceAccount token, or `None` when it is not a valid token of this
/// server (bad signature, expired, wrong audience, or the ServiceAccount or bound object
/// gone or replaced).
pub(crate) async fn authenticate(server: &ApiServer, token: &str) -> Option<Identity> {
    let now = now_seconds();
    let claims = match server.state.token_verifier.verify(token, now) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "service account token refused");
            return None;
        }
    };
    let ns = claims.namespace.as_str();
    if !still_valid(
        server,
        "serviceaccounts",
        Some(ns),
        &claims.service_account,
        now,
    )
    .await
    {
        return None;
    }
    if let Some(secret) = &claims.secret
        && !still_valid(server, "secrets", Some(ns), secret, now).await
    {
        return None;
    }
    if let Some(pod) = &claims.pod
        && !still_valid(server, "pods", Some(ns), pod, now).await
    {
        return None;
    }
    // A node named in a pod-bound token is informational; a node-bound token needs the node.
    if claims.pod.is_none()
        && let Some(node) = &claims.node
        && !still_valid(server, "nodes", None, node, now).await
    {
        return None;
    }
    Some(Identity {
        user: username(ns, &claims.service_account.name),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn signer() -> TokenSigner {
        TokenSigner::generate().unwrap()
    }

    fn claims(exp_secs: i64) -> Claims {
        Claims::new(
            "default",
            "default",
            "uid-1",
            vec![ISSUER.to_string()],
            NOW,
            exp_secs,
        )
    }

    fn payload(token: &str) -> Value {
        decode_json(token.split('.').nth(1).unwrap()).unwrap()
    }

    #[test]
    fn round_trip() {
        let s = signer();
        let mut c = claims(3600);
        c.secret = Some(ObjectRef::new("s1", "uid-s1"));
        let token = s.sign(&c).unwrap();
        let v = s.verifier(vec![ISSUER.into()]);
        assert!(v.is_ours(&token));
        let got = v.verify(&token, NOW + 10).unwrap();
        assert_eq!(got, c);
        let p = payload(&token);
        assert_eq!(p["sub"], "system:serviceaccount:default:default");
        assert_eq!(p["aud"], json!([ISSUER]));
        assert_eq!(p["exp"], NOW + 3600);
        assert_eq!(p["iat"], NOW);
        assert_eq!(p["nbf"], NOW);
        assert_eq!(p["kubernetes.io"]["serviceaccount"]["uid"], "uid-1");
        assert_eq!(p["kubernetes.io"]["secret"]["name"], "s1");
        assert!(p["kubernetes.io"].get("pod").is_none());
        let h = decode_json(token.split('.').next().unwrap()).unwrap();
        assert_eq!(h, json!({"alg": "ES256", "kid": s.key_id()}));
    }

    #[test]
    fn kid_is_sha256_of_spki() {
        // The SPKI DER of a P-256 key is 91 bytes; the kid is 32 bytes base64url (43 chars).
        let s = signer();
        assert_eq!(s.key_id().len(), 43);
        assert!(!s.key_id().contains('='));
        let again = TokenSigner::from_pkcs8(&TokenSigner::generate_pkcs8().unwrap()).unwrap();
        assert_ne!(s.key_id(), again.key_id());
    }

    #[test]
    fn same_key_same_kid_and_tokens_verify() {
        let der = TokenSigner::generate_pkcs8().unwrap();
        let a = TokenSigner::from_pkcs8(&der).unwrap();
        let b = TokenSigner::from_pkcs8(&der).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        let token = a.sign(&claims(3600)).unwrap();
        assert!(b.verifier(vec![ISSUER.into()]).verify(&token, NOW).is_ok());
    }

    #[test]
    fn expiry_and_leeway() {
        let s = signer();
        let v = s.verifier(vec![ISSUER.into()]);
        let token = s.sign(&claims(600)).unwrap();
        assert!(v.verify(&token, NOW + 600).is_ok());
        assert!(v.verify(&token, NOW + 600 + LEEWAY_SECONDS).is_ok());
        assert_eq!(
            v.verify(&token, NOW + 600 + LEEWAY_SECONDS + 1),
            Err(TokenError::Expired)
        );
        assert!(v.verify(&token, NOW - LEEWAY_SECONDS).is_ok());
        assert_eq!(
            v.verify(&token, NOW - LEEWAY_SECONDS - 1),
            Err(TokenError::NotValidYet)
        );
    }

    #[test]
    fn issued_in_the_future() {
        let s = signer();
        let v = s.verifier(vec![ISSUER.into()]);
        let mut c = claims(3600);
        c.not_before = None;
        c.issued_at = Some(NOW + 1000);
        let token = s.sign(&c).unwrap();
        assert_eq!(v.verify(&token, NOW), Err(TokenError::IssuedInTheFuture));
    }

    #[test]
    fn audience_mismatch() {
        let s = signer();
        let mut c = claims(3600);
        c.audiences = vec!["vault".into()];
        let token = s.sign(&c).unwrap();
        let v = s.verifier(vec![ISSUER.into()]);
        assert_eq!(v.verify(&token, NOW), Err(TokenError::Audience));
        let v2 = s.verifier(vec!["other".into(), "vault".into()]);
        assert!(v2.verify(&token, NOW).is_ok());
    }

    #[test]
    fn single_string_audience_accepted() {
        let s = signer();
        let c = claims(3600);
        let mut p = c.to_json();
        p["aud"] = json!(ISSUER);
        let parsed = Claims::from_json(&p).unwrap();
        assert_eq!(parsed.audiences, vec![ISSUER.to_string()]);
        let token = s.sign(&parsed).unwrap();
        assert!(s.verifier(vec![ISSUER.into()]).verify(&token, NOW).is_ok());
    }

    #[test]
    fn tampered_payload_or_signature() {
        let s = signer();
        let v = s.verifier(vec![ISSUER.into()]);
        let token = s.sign(&claims(3600)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        // Another subject, same signature.
        let mut c = claims(3600);
        c.service_account.name = "admin".into();
        c.subject = username("default", "admin");
        let forged_payload = URL_SAFE_NO_PAD.encode(c.to_json().to_string());
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(v.verify(&forged, NOW), Err(TokenError::Signature));
        // A flipped signature byte.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[5] ^= 1;
        let bad = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
        assert_eq!(v.verify(&bad, NOW), Err(TokenError::Signature));
        // No signature, and alg none.
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(v.verify(&unsigned, NOW), Err(TokenError::Signature));
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let alg_none = format!("{none}.{}.", parts[1]);
        assert!(matches!(
            v.verify(&alg_none, NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_key() {
        let a = signer();
        let b = signer();
        let token = a.sign(&claims(3600)).unwrap();
        assert_eq!(
            b.verifier(vec![ISSUER.into()]).verify(&token, NOW),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn other_issuer_is_not_ours() {
        let s = signer();
        let mut c = claims(3600);
        c.issuer = "https://elsewhere".into();
        let token = s.sign(&c).unwrap();
        let v = s.verifier(vec![ISSUER.into()]);
        assert!(!v.is_ours(&token));
        assert_eq!(v.verify(&token, NOW), Err(TokenError::Issuer));
    }

    #[test]
    fn missing_claims_refused() {
        let s = signer();
        let v = s.verifier(vec![ISSUER.into()]);
        let mut c = claims(3600);
        c.service_account.uid = String::new();
        let token = s.sign(&c).unwrap();
        assert!(matches!(
            v.verify(&token, NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_tokens_never_panic() {
        let s = signer();
        let v = s.verifier(vec![ISSUER.into()]);
        let good = s.sign(&claims(3600)).unwrap();
        let header = good.split('.').next().unwrap().to_string();
        let enc = |t: &str| URL_SAFE_NO_PAD.encode(t);
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        let mut cases: Vec<String> = vec![
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b.c".into(),
            "a.b.c.d".into(),
            "é.é.é".into(),
            "eyJ.eyJ.eyJ".into(),
            format!("{header}.{}.AAAA", enc("[]")),
            format!("{header}.{}.AAAA", enc("null")),
            format!("{header}.{}.AAAA", enc("{\"iss\":1}")),
            format!("{}.{}.AAAA", enc("{\"alg\":5}"), enc("{}")),
            format!("{}.{}.AAAA", enc("{}"), enc("{}")),
            format!(
                "{header}.{}.AAAA",
                enc(&format!("{{\"iss\":\"{ISSUER}\",\"exp\":1e400}}"))
            ),
            format!("{header}.{}.AAAA", enc("not json")),
            format!("{header}.====.AAAA"),
            long,
        ];
        // Every truncation of a good token.
        for i in 0..good.len() {
            if let Some(t) = good.get(..i) {
                cases.push(t.to_string());
            }
        }
        for c in &cases {
            let _ = v.is_ours(c);
            assert!(v.verify(c, NOW).is_err(), "{c:?}");
        }
        // Payloads with valid signatures but odd claims.
        for p in [
            json!({"iss": ISSUER}),
            json!({"iss": ISSUER, "aud": 5, "exp": NOW}),
            json!({"iss": ISSUER, "aud": [ISSUER], "exp": "soon"}),
            json!({"iss": ISSUER, "aud": [ISSUER], "exp": 1e300, "kubernetes.io": {}}),
            json!({"iss": ISSUER, "aud": [ISSUER], "exp": NOW, "kubernetes.io": []}),
            json!({"iss": ISSUER, "aud": [1], "exp": NOW, "kubernetes.io": {"namespace": "a"}}),
        ] {
            let mut t = format!("{header}.{}", enc(&p.to_string()));
            let sig = s.key.sign(&s.rng, t.as_bytes()).unwrap();
            t.push('.');
            t.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
            assert!(v.verify(&t, NOW).is_err(), "{p}");
        }
    }

    #[test]
    fn bad_keys_refused() {
        assert!(TokenSigner::from_pkcs8(b"").is_err());
        assert!(TokenSigner::from_pkcs8(b"not a key").is_err());
    }
}
