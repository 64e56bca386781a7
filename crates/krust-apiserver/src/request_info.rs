//! Parsing of request paths and query strings into what is asked for: a discovery document,
//! a health check, or a resource request (group, version, namespace, resource, name,
//! subresource), as upstream's `RequestInfoFactory` does.

use std::collections::HashMap;

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`, `/livez`, `/readyz` (with an optional sub-check path).
    Health(String),
    Version,
    Metrics,
    /// `/cacerts`: the cluster CA, for agents joining with a token.
    CaCerts,
    /// `/api`
    LegacyVersions,
    /// `/apis`
    GroupList,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    /// `/openapi/v3`
    OpenApiV3Root,
    /// `/openapi/v3/<api/v1 | apis/group/version>`
    OpenApiV3(String),
    /// `/openapi/v2`
    OpenApiV2,
    Resource(ResourcePath),
    NotFound,
}

/// A request on resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses a request path (without query string).
pub fn parse_path(path: &str) -> Route {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<String> = trimmed
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match segs.as_slice() {
        [] => Route::NotFound,
        ["healthz" | "livez" | "readyz", ..] => Route::Health(segs.join("/")),
        ["version"] => Route::Version,
        ["metrics"] => Route::Metrics,
        ["cacerts"] => Route::CaCerts,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
        ["api"] => Route::LegacyVersions,
        ["api", version] => Route::ResourceList {
            group: String::new(),
            version: version.to_string(),
        },
        ["api", version, rest @ ..] => resource_route("", version, rest),
        ["apis"] => Route::GroupList,
        ["apis", group] => Route::Group(group.to_string()),
        ["apis", group, version] => Route::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let mut namespace = None;
    let mut parts = rest;
    if parts.len() >= 3 && parts[0] == "namespaces" && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
        namespace = Some(parts[1].to_string());
        parts = &parts[2..];
    }
    let Some((resource, after)) = parts.split_first() else {
        return Route::NotFound;
    };
    let (name, subresource) = match after {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub @ ..] => (Some(name.to_string()), Some(sub.join("/"))),
    };
    Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        resource: resource.to_string(),
        name,
        subresource,
    })
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`).
fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a path segment.
pub fn percent_decode(s: &str) -> String {
    decode(s, false)
}

/// Query parameters (the last value wins for repeated keys).
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k, true), decode(v, true));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A non-empty value.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// `true`/`1` as upstream parses booleans.
    pub fn flag(&self, key: &str) -> bool {
        matches!(
            self.get(key),
            Some("true" | "1" | "True" | "TRUE" | "t" | "T")
        )
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse_path(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let r = res("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!(r.group, "apps");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.resource, "deployments");
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("scale"));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/foo/status");
        assert_eq!(r.namespace, None);
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/api/v1/namespaces/foo/pods");
        assert_eq!(r.namespace.as_deref(), Some("foo"));
        assert_eq!(r.name, None);
        let r = res("/api/v1/pods");
        assert_eq!(r.namespace, None);
        let r = res("/api/v1/nodes/n1/proxy/stats/summary");
        assert_eq!(r.subresource.as_deref(), Some("proxy/stats/summary"));
        assert_eq!(
            parse_path("/apis/apps/v1"),
            Route::ResourceList {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse_path("/api"), Route::LegacyVersions);
        assert_eq!(parse_path("/readyz"), Route::Health("readyz".into()));
        assert_eq!(parse_path("/nope"), Route::NotFound);
    }

    #[test]
    fn query() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dnginx%2Ctier+in+%28a%29&watch=true&limit=500&x",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=nginx,tier in (a)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
