//! ServiceAccounts and their tokens through the real binary and kubectl: the `default`
//! ServiceAccount of every namespace (recreated when deleted), `kubectl create token` (claims,
//! `--duration`, bound tokens), authentication of the tokens (`kubectl auth whoami`), their
//! revocation when the ServiceAccount or the bound object goes, and the signing key surviving a
//! restart.

use krust_e2e::{Server, eventually};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// Decodes unpadded base64url (what JWT segments are).
fn base64url(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c:?}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The header and payload of a JWT.
fn decode_jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a JWT: {token}");
    let json = |p: &str| -> Value {
        serde_json::from_slice(&base64url(p)).unwrap_or_else(|e| panic!("JWT segment: {e}"))
    };
    (json(parts[0]), json(parts[1]))
}

fn create_token(s: &Server, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend_from_slice(args);
    let token = s.ok(&all).trim().to_string();
    assert!(!token.is_empty());
    token
}

/// kubectl with only `token` as credentials (a kubeconfig with the admin's client certificate
/// would authenticate as the admin: client certificates come first, as upstream).
struct TokenKubectl {
    empty_kubeconfig: tempfile::NamedTempFile,
    server: String,
    ca: String,
}

impl TokenKubectl {
    fn new(s: &Server) -> Self {
        TokenKubectl {
            empty_kubeconfig: tempfile::NamedTempFile::new()
                .unwrap_or_else(|e| panic!("tempfile: {e}")),
            server: format!("https://127.0.0.1:{}", s.port),
            ca: s.data_dir().join("server/tls/ca.crt").display().to_string(),
        }
    }

    fn run(&self, s: &Server, token: &str, args: &[&str]) -> std::process::Output {
        let kubeconfig = self.empty_kubeconfig.path().display().to_string();
        let mut all: Vec<&str> = vec![
            "--kubeconfig",
            &kubeconfig,
            "--server",
            &self.server,
            "--certificate-authority",
            &self.ca,
            "--token",
            token,
        ];
        all.extend_from_slice(args);
        s.kubectl(&all)
    }

    /// `kubectl auth whoami` as `token`: the user name, or the error text.
    fn whoami(&self, s: &Server, token: &str) -> Result<String, String> {
        let out = self.run(
            s,
            token,
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        );
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn sa_uid(s: &Server, ns: &str) -> Option<String> {
    let out = s.kubectl(&[
        "get",
        "serviceaccount",
        "default",
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !uid.is_empty()).then_some(uid)
}

const SA_USER: &str = "system:serviceaccount:default:default";
const AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

#[test]
fn service_accounts_and_tokens() {
    let mut s = Server::start();

    // Every namespace gets a `default` ServiceAccount, quickly.
    assert!(
        eventually(Duration::from_secs(10), || sa_uid(&s, "default").is_some()),
        "no default ServiceAccount in namespace default"
    );
    s.ok(&["create", "namespace", "team-a"]);
    let created = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || sa_uid(&s, "team-a").is_some()),
        "no default ServiceAccount in a new namespace"
    );
    // Measured, not asserted (timing on shared machines is noisy).
    eprintln!(
        "default ServiceAccount in a new namespace after {:?}",
        created.elapsed()
    );

    // `kubectl create token`: an ES256 JWT with upstream's claims.
    let token = create_token(&s, &["default"]);
    let (header, claims) = decode_jwt(&token);
    assert_eq!(header["alg"], "ES256", "{header}");
    assert!(
        header["kid"].as_str().is_some_and(|k| k.len() == 43),
        "{header}"
    );
    assert_eq!(claims["sub"], SA_USER, "{claims}");
    assert_eq!(claims["iss"], AUDIENCE, "{claims}");
    assert_eq!(claims["aud"], serde_json::json!([AUDIENCE]), "{claims}");
    let (exp, iat) = (
        claims["exp"].as_i64().unwrap_or(0),
        claims["iat"].as_i64().unwrap_or(0),
    );
    assert_eq!(exp - iat, 3600, "{claims}");
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(claims["jti"].is_string(), "{claims}");
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["uid"].as_str(),
        sa_uid(&s, "default").as_deref()
    );

    // It authenticates as the ServiceAccount, which RBAC-less krust does not authorize.
    let as_token = TokenKubectl::new(&s);
    assert_eq!(as_token.whoami(&s, &token), Ok(SA_USER.to_string()));
    let out = as_token.run(&s, &token, &["get", "pods"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Forbidden") && err.contains(SA_USER),
        "expected 403: {err}"
    );
    // A forged token is refused.
    let mut forged = token.clone();
    forged.insert(token.len() - 10, 'x');
    let err = as_token.whoami(&s, &forged).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");

    // --duration.
    let short = create_token(&s, &["default", "--duration=10m"]);
    let (_, c) = decode_jwt(&short);
    assert_eq!(
        c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0),
        600
    );
    let err = s.fails(&["create", "token", "default", "--duration=1m"]);
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = s.fails(&["create", "token", "nobody"]);
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );

    // A token bound to a Secret dies with it.
    s.ok(&["create", "secret", "generic", "s1", "--from-literal=k=v"]);
    let bound = create_token(
        &s,
        &[
            "default",
            "--bound-object-kind",
            "Secret",
            "--bound-object-name",
            "s1",
        ],
    );
    let (_, c) = decode_jwt(&bound);
    assert_eq!(c["kubernetes.io"]["secret"]["name"], "s1", "{c}");
    assert_eq!(as_token.whoami(&s, &bound), Ok(SA_USER.to_string()));
    s.ok(&["delete", "secret", "s1"]);
    let err = as_token.whoami(&s, &bound).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
    // Unbound tokens are unaffected.
    assert_eq!(as_token.whoami(&s, &token), Ok(SA_USER.to_string()));

    // Deleting the ServiceAccount revokes its tokens; the controller recreates `default` (a new
    // UID), which does not revive them.
    let old_uid = sa_uid(&s, "default");
    s.ok(&["delete", "serviceaccount", "default"]);
    let err = as_token.whoami(&s, &token).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
    assert!(
        eventually(Duration::from_secs(10), || {
            sa_uid(&s, "default").is_some_and(|u| Some(&u) != old_uid.as_ref())
        }),
        "default ServiceAccount not recreated"
    );
    let err = as_token.whoami(&s, &token).unwrap_err();
    assert!(err.contains("Unauthorized"), "{err}");
    let fresh = create_token(&s, &["default"]);
    assert_eq!(as_token.whoami(&s, &fresh), Ok(SA_USER.to_string()));

    // The signing key is kept (0600) and reused: tokens survive a restart.
    let key = s.data_dir().join("server/tls/service-account.key");
    let mode = std::fs::metadata(&key)
        .unwrap_or_else(|e| panic!("{}: {e}", key.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    s.restart();
    assert_eq!(as_token.whoami(&s, &fresh), Ok(SA_USER.to_string()));
}
