//! The routing table of the ingress controller, built from the Ingresses of krust's classes
//! and the EndpointSlices of their backend Services: host rules (exact before wildcard
//! `*.example.com` before host-less rules), paths (`Exact`; `Prefix` matching whole path
//! elements; `ImplementationSpecific` as `Prefix`; the longest match wins, `Exact` before
//! `Prefix` on a tie), a default backend, and for each backend the ready endpoints at the
//! Service port's target port — the controller balances to pods directly, not through the
//! ClusterIP. A pure function of its inputs.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

/// The `spec.controller` of krust's IngressClasses.
pub const CONTROLLER: &str = "krust.io/ingress-controller";
/// The annotation marking an IngressClass the default.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A backend with ready endpoints; `ingress` is `ns/name`, `service` `ns/name:port`.
    Backend {
        ingress: String,
        service: String,
        endpoints: Vec<SocketAddr>,
    },
    /// A rule matched but its Service has no ready endpoint (503).
    NoEndpoints { ingress: String, service: String },
    /// No rule and no default backend (404).
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PathKind {
    Prefix,
    Exact,
}

#[derive(Debug, Clone)]
struct PathRule {
    path: String,
    kind: PathKind,
    route: Route,
}

/// The routing table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    exact: HashMap<String, Vec<PathRule>>,
    /// `*.example.com` rules by their suffix (`example.com`).
    wildcard: HashMap<String, Vec<PathRule>>,
    any_host: Vec<PathRule>,
    default_backend: Option<Route>,
    /// TLS: host pattern → `ns/secret`, first Ingress first.
    tls: Vec<(String, String)>,
}

/// Whether an Ingress belongs to krust's controller: its `ingressClassName` (or the legacy
/// `kubernetes.io/ingress.class` annotation) names one of `ours`, or it names none and a
/// class of ours is the default.
pub fn is_ours(ing: &Ingress, classes: &[impl AsRef<IngressClass>]) -> bool {
    let ours: BTreeSet<&str> = classes
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER))
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    let named = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ing.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/ingress.class"))
                .map(String::as_str)
        });
    match named {
        Some(n) => ours.contains(n),
        None => classes.iter().map(AsRef::as_ref).any(|c| {
            c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
                && c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                    .is_some_and(|v| v == "true")
        }),
    }
}

/// Whether `path` matches the `Prefix` rule `prefix` (element-wise, trailing `/` ignored).
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    let want: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    got.len() >= want.len() && want.iter().zip(&got).all(|(a, b)| a == b)
}

struct Backends<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
}

impl Backends<'_> {
    fn route(&self, ns: &str, ingress: &str, backend: &IngressBackend) -> Route {
        let ingress = format!("{ns}/{ingress}");
        let Some(sb) = &backend.service else {
            return Route::NoEndpoints {
                ingress,
                service: String::new(),
            };
        };
        let port = sb.port.as_ref();
        let port_text = port
            .and_then(|p| p.name.clone().or_else(|| p.number.map(|n| n.to_string())))
            .unwrap_or_default();
        let service = format!("{ns}/{}:{port_text}", sb.name);
        let no = || Route::NoEndpoints {
            ingress: ingress.clone(),
            service: service.clone(),
        };
        let Some(svc) = self.services.get(&(ns, sb.name.as_str())) else {
            return no();
        };
        let svc_port = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|ps| {
                ps.iter().find(|p| match port {
                    Some(want) => match (&want.name, want.number) {
                        (Some(n), _) if !n.is_empty() => p.name.as_deref() == Some(n.as_str()),
                        (_, Some(num)) => p.port == num,
                        _ => false,
                    },
                    None => true,
                })
            });
        let Some(svc_port) = svc_port else {
            return no();
        };
        let port_name = svc_port.name.clone().unwrap_or_default();
        let mut endpoints = BTreeSet::new();
        for slice in self
            .slices
            .get(&(ns, sb.name.as_str()))
            .into_iter()
            .flatten()
        {
            let Some(target) = slice.ports.iter().flatten().find_map(|p| {
                (p.name.clone().unwrap_or_default() == port_name
                    && p.protocol.as_deref().unwrap_or("TCP") == "TCP")
                    .then_some(p.port)
                    .flatten()
            }) else {
                continue;
            };
            let Ok(target) = u16::try_from(target) else {
                continue;
            };
            for ep in &slice.endpoints {
                if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                    continue;
                }
                for a in &ep.addresses {
                    if let Ok(ip) = a.parse::<IpAddr>() {
                        endpoints.insert(SocketAddr::new(ip, target));
                    }
                }
            }
        }
        if endpoints.is_empty() {
            return no();
        }
        Route::Backend {
            ingress,
            service,
            endpoints: endpoints.into_iter().collect(),
        }
    }
}

impl RouteTable {
    /// The table for the Ingresses of krust's classes (oldest first wins a shared host+path).
    pub fn build(
        ingresses: &[impl AsRef<Ingress>],
        classes: &[impl AsRef<IngressClass>],
        services: &[impl AsRef<Service>],
        slices: &[impl AsRef<EndpointSlice>],
    ) -> RouteTable {
        let backends = Backends {
            services: services
                .iter()
                .map(AsRef::as_ref)
                .filter_map(|s| {
                    Some((
                        (
                            s.metadata.namespace.as_deref()?,
                            s.metadata.name.as_deref()?,
                        ),
                        s,
                    ))
                })
                .collect(),
            slices: slices
                .iter()
                .map(AsRef::as_ref)
                .fold(HashMap::new(), |mut m, s| {
                    let svc = s
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("kubernetes.io/service-name"));
                    if let (Some(ns), Some(svc)) = (s.metadata.namespace.as_deref(), svc) {
                        m.entry((ns, svc.as_str())).or_insert_with(Vec::new).push(s);
                    }
                    m
                }),
        };
        let mut ours: Vec<&Ingress> = ingresses
            .iter()
            .map(AsRef::as_ref)
            .filter(|i| is_ours(i, classes) && i.metadata.deletion_timestamp.is_none())
            .collect();
        ours.sort_by(|a, b| {
            (
                a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                &a.metadata.namespace,
                &a.metadata.name,
            )
                .cmp(&(
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    &b.metadata.namespace,
                    &b.metadata.name,
                ))
        });
        let mut table = RouteTable::default();
        for ing in ours {
            let (Some(ns), Some(name), Some(spec)) = (
                ing.metadata.namespace.as_deref(),
                ing.metadata.name.as_deref(),
                ing.spec.as_ref(),
            ) else {
                continue;
            };
            if table.default_backend.is_none()
                && let Some(b) = &spec.default_backend
            {
                table.default_backend = Some(backends.route(ns, name, b));
            }
            for tls in spec.tls.iter().flatten() {
                let Some(secret) = &tls.secret_name else {
                    continue;
                };
                for h in tls.hosts.iter().flatten() {
                    table
                        .tls
                        .push((h.to_ascii_lowercase(), format!("{ns}/{secret}")));
                }
            }
            for rule in spec.rules.iter().flatten() {
                let host = rule.host.as_deref().unwrap_or("").to_ascii_lowercase();
                let list = if host.is_empty() {
                    &mut table.any_host
                } else if let Some(suffix) = host.strip_prefix("*.") {
                    table.wildcard.entry(suffix.to_string()).or_default()
                } else {
                    table.exact.entry(host).or_default()
                };
                for p in rule.http.iter().flat_map(|h| h.paths.iter()) {
                    let kind = if p.path_type == "Exact" {
                        PathKind::Exact
                    } else {
                        PathKind::Prefix
                    };
                    let path = p.path.clone().unwrap_or_else(|| "/".into());
                    if list.iter().any(|r| r.path == path && r.kind == kind) {
                        continue;
                    }
                    list.push(PathRule {
                        path,
                        kind,
                        route: backends.route(ns, name, &p.backend),
                    });
                }
            }
        }
        table
    }

    fn best<'a>(rules: &'a [PathRule], path: &str) -> Option<&'a Route> {
        rules
            .iter()
            .filter(|r| match r.kind {
                PathKind::Exact => r.path == path,
                PathKind::Prefix => prefix_matches(&r.path, path),
            })
            .max_by_key(|r| (r.path.trim_end_matches('/').len(), r.kind))
            .map(|r| &r.route)
    }

    /// Where a request for `host` (no port) and `path` goes.
    pub fn route(&self, host: &str, path: &str) -> Route {
        let host = host.to_ascii_lowercase();
        let by_host = self.exact.get(&host).and_then(|r| Self::best(r, path));
        let by_wildcard = || {
            let (first, suffix) = host.split_once('.')?;
            if first.is_empty() {
                return None;
            }
            self.wildcard.get(suffix).and_then(|r| Self::best(r, path))
        };
        by_host
            .or_else(by_wildcard)
            .or_else(|| Self::best(&self.any_host, path))
            .or(self.default_backend.as_ref())
            .cloned()
            .unwrap_or(Route::NotFound)
    }

    /// The `ns/name` of the TLS Secret for `host` (an exact TLS host before a wildcard).
    pub fn tls_secret(&self, host: &str) -> Option<&str> {
        let host = host.to_ascii_lowercase();
        let exact = self.tls.iter().find(|(h, _)| *h == host);
        let wildcard = || {
            let (_, suffix) = host.split_once('.')?;
            self.tls
                .iter()
                .find(|(h, _)| h.strip_prefix("*.") == Some(suffix))
        };
        exact.or_else(wildcard).map(|(_, s)| s.as_str())
    }

    /// Every TLS Secret the table refers to.
    pub fn tls_secrets(&self) -> BTreeSet<&str> {
        self.tls.iter().map(|(_, s)| s.as_str()).collect()
    }
}

#[cfg(test)]
mod tests;
