//! Discovery documents: `/version`, `/api`, `/apis`, `/apis/<group>` and the per group-version
//! resource lists (`APIResourceList`) that kubectl and client libraries map kinds with, and
//! aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1 `APIGroupDiscoveryList`: every
//! group, version and resource of `/api` or `/apis` in one document, with an ETag).

use crate::{Config, VersionInfo};
use krust_api::{Registry, ResourceInfo};
use serde_json::{Value, json};

/// `/version`.
pub fn version(v: &VersionInfo) -> Value {
    json!({
        "major": v.major,
        "minor": v.minor,
        "gitVersion": v.git_version,
        "gitCommit": v.git_commit,
        "gitTreeState": "clean",
        "buildDate": v.build_date,
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": format!("linux/{}", std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64")),
    })
}

/// `/api`.
pub fn legacy_versions(config: &Config) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{
            "clientCIDR": "0.0.0.0/0",
            "serverAddress": format!("{}:{}", config.advertise_address, config.https_port),
        }],
    })
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|g| !g.name.is_empty())
        .map(|g| group_json(&g.name, &g.versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let g = reg
        .groups()
        .iter()
        .find(|g| g.name == name && !name.is_empty())?;
    let mut v = group_json(&g.name, &g.versions);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

fn storage_version_hash(info: &ResourceInfo) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}/{}/{}", info.group, info.storage_version, info.kind).as_bytes(),
    );
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(&d.as_ref()[..8])
}

fn resource_entries(info: &ResourceInfo) -> Vec<Value> {
    let mut main = json!({
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": info.verbs,
        "storageVersionHash": storage_version_hash(info),
    });
    if !info.short_names.is_empty() {
        main["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        main["categories"] = json!(info.categories);
    }
    let mut out = vec![main];
    if info.subresources.status {
        out.push(json!({
            "name": format!("{}/status", info.plural),
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": ["get", "patch", "update"],
        }));
    }
    if info.subresources.scale.is_some() {
        out.push(json!({
            "name": format!("{}/scale", info.plural),
            "singularName": "",
            "namespaced": info.namespaced,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        }));
    }
    for sub in &info.subresources.extra {
        let (kind, verbs, group_version): (&str, Vec<&str>, Option<(&str, &str)>) = match sub
            .as_str()
        {
            "log" => ("Pod", vec!["get"], None),
            "exec" | "attach" | "portforward" => ("PodExecOptions", vec!["create", "get"], None),
            "proxy" => (
                "NodeProxyOptions",
                vec!["create", "delete", "get", "patch", "update"],
                None,
            ),
            "binding" => ("Binding", vec!["create"], None),
            "eviction" => ("Eviction", vec!["create"], Some(("policy", "v1"))),
            "token" => (
                "TokenRequest",
                vec!["create"],
                Some(("authentication.k8s.io", "v1")),
            ),
            "finalize" | "approval" => (info.kind.as_str(), vec!["update"], None),
            "ephemeralcontainers" | "resize" => {
                (info.kind.as_str(), vec!["get", "patch", "update"], None)
            }
            _ => (info.kind.as_str(), vec!["get"], None),
        };
        let mut e = json!({
            "name": format!("{}/{}", info.plural, sub),
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": kind,
            "verbs": verbs,
        });
        if let Some((g, v)) = group_version {
            e["group"] = json!(g);
            e["version"] = json!(v);
        }
        out.push(e);
    }
    out
}

/// The aggregated discovery document of the core group (`/api`) or of the named groups
/// (`/apis`), at `apidiscovery.k8s.io/<version>` (`v2` or `v2beta1`).
pub fn aggregated(reg: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let mut infos = reg.resources_at(&g.name, v);
                    infos.sort_by(|a, b| a.plural.cmp(&b.plural));
                    let resources: Vec<Value> =
                        infos.iter().map(|i| aggregated_resource(i)).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !core {
                metadata = json!({"name": g.name, "creationTimestamp": null});
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// One resource of an aggregated document, its subresources nested as upstream lists them.
fn aggregated_resource(info: &ResourceInfo) -> Value {
    let entries = resource_entries(info);
    let kind_of = |e: &Value| {
        json!({
            "group": e.get("group").cloned().unwrap_or_else(|| json!(info.group)),
            "version": e.get("version").cloned().unwrap_or_else(|| json!(info.version)),
            "kind": e.get("kind").cloned().unwrap_or_default(),
        })
    };
    let subresources: Vec<Value> = entries
        .iter()
        .skip(1)
        .filter_map(|e| {
            let name = e.get("name").and_then(Value::as_str)?;
            let (_, sub) = name.split_once('/')?;
            Some(json!({
                "subresource": sub,
                "responseKind": kind_of(e),
                "verbs": e.get("verbs").cloned().unwrap_or_default(),
            }))
        })
        .collect();
    let mut out = json!({
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": if info.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": info.singular,
        "verbs": info.verbs,
    });
    if let Some(o) = out.as_object_mut() {
        if !info.short_names.is_empty() {
            o.insert("shortNames".into(), json!(info.short_names));
        }
        if !info.categories.is_empty() {
            o.insert("categories".into(), json!(info.categories));
        }
        if !subresources.is_empty() {
            o.insert("subresources".into(), json!(subresources));
        }
    }
    out
}

/// The ETag of a discovery document: a hash of its bytes, quoted.
pub fn etag(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!("\"{hex}\"")
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let infos = reg.resources_at(group, version);
    if infos.is_empty() {
        return None;
    }
    let resources: Vec<Value> = infos.iter().flat_map(|i| resource_entries(i)).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": krust_api::registry::api_version(group, version),
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let r = Registry::builtin();
        let apps = resource_list(&r, "apps", "v1").unwrap();
        let names: Vec<&str> = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments/scale"));
        assert!(names.contains(&"deployments/status"));
        let list = group_list(&r);
        let apps = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == "apps")
            .unwrap();
        assert_eq!(apps["preferredVersion"]["version"], "v1");
        assert!(resource_list(&r, "apps", "v9").is_none());
        assert!(group(&r, "").is_none());
        let core = resource_list(&r, "", "v1").unwrap();
        assert_eq!(core["groupVersion"], "v1");
    }

    #[test]
    fn aggregated_documents() {
        let r = Registry::builtin();
        let apis = aggregated(&r, false, "v2");
        assert_eq!(apis["apiVersion"], "apidiscovery.k8s.io/v2");
        let apps = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        assert_eq!(apps["versions"][0]["version"], "v1");
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["scope"], "Namespaced");
        assert_eq!(deploy["responseKind"]["kind"], "Deployment");
        assert_eq!(deploy["shortNames"][0], "deploy");
        let scale = deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["subresource"] == "scale")
            .unwrap();
        assert_eq!(scale["responseKind"]["group"], "autoscaling");
        let core = aggregated(&r, true, "v2beta1");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        assert!(core["items"][0]["metadata"].get("name").is_none());
        let ns = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "namespaces")
            .unwrap();
        assert_eq!(ns["scope"], "Cluster");
        assert_ne!(etag(b"a"), etag(b"b"));
        assert!(etag(b"a").starts_with('"'));
    }
}
