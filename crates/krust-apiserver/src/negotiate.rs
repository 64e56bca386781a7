//! Content negotiation: which representation a client asked for in `Accept` (plain JSON, YAML,
//! a `meta.k8s.io` Table, or `PartialObjectMetadata`), and which body formats are understood.

/// What the response body should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// `application/vnd.kubernetes.protobuf` (JSON instead for kinds without a protobuf
    /// message, i.e. custom resources).
    Protobuf,
    /// `as=Table`, at `meta.k8s.io/<version>`.
    Table {
        v1beta1: bool,
    },
    /// `as=PartialObjectMetadata` or `as=PartialObjectMetadataList`.
    PartialMetadata {
        v1beta1: bool,
    },
}

/// Picks the first acceptable media type of an `Accept` header, or `None` when none is.
pub fn output_for(accept: Option<&str>) -> Option<Output> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Output::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut as_ = None;
        let mut g = None;
        let mut v = None;
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = Some(val.trim().to_string()),
                    "g" => g = Some(val.trim().to_string()),
                    "v" => v = Some(val.trim().to_string()),
                    _ => {}
                }
            }
        }
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => match as_.as_deref() {
                None => return Some(Output::Json),
                Some("Table") if g.as_deref() == Some("meta.k8s.io") => match v.as_deref() {
                    Some("v1") => return Some(Output::Table { v1beta1: false }),
                    Some("v1beta1") => return Some(Output::Table { v1beta1: true }),
                    _ => continue,
                },
                Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                    if g.as_deref() == Some("meta.k8s.io") =>
                {
                    match v.as_deref() {
                        Some("v1") => return Some(Output::PartialMetadata { v1beta1: false }),
                        Some("v1beta1") => return Some(Output::PartialMetadata { v1beta1: true }),
                        _ => continue,
                    }
                }
                // Aggregated discovery and other `as=` forms are not served: try the next.
                Some(_) => continue,
            },
            "application/yaml" if as_.is_none() => {
                return Some(Output::Yaml);
            }
            "application/vnd.kubernetes.protobuf" if as_.is_none() => {
                return Some(Output::Protobuf);
            }
            _ => {}
        }
    }
    None
}

/// Which discovery document a client asked for at `/api` or `/apis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// `APIVersions` / `APIGroupList`.
    Legacy,
    /// `APIGroupDiscoveryList` at `apidiscovery.k8s.io/<version>` (`v2` or `v2beta1`).
    Aggregated(&'static str),
}

/// The first discovery form of `accept` this server serves (legacy when none is named).
pub fn discovery_for(accept: Option<&str>) -> Discovery {
    let Some(accept) = accept else {
        return Discovery::Legacy;
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut as_, mut g, mut v) = (None, None, None);
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = Some(val.trim()),
                    "g" => g = Some(val.trim()),
                    "v" => v = Some(val.trim()),
                    _ => {}
                }
            }
        }
        if !matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
            continue;
        }
        match (as_, g, v) {
            (None, _, _) => return Discovery::Legacy,
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                return Discovery::Aggregated("v2");
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2beta1")) => {
                return Discovery::Aggregated("v2beta1");
            }
            _ => {}
        }
    }
    Discovery::Legacy
}

/// Formats a request body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    /// `application/vnd.kubernetes.protobuf` (typed clients such as `kubectl create configmap`).
    Protobuf,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
}

/// The body format of a `Content-Type` header (`None` = unsupported).
pub fn body_format(content_type: Option<&str>) -> Option<BodyFormat> {
    let Some(ct) = content_type else {
        return Some(BodyFormat::Json);
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "application/json" | "*/*" => Some(BodyFormat::Json),
        "application/yaml" => Some(BodyFormat::Yaml),
        "application/vnd.kubernetes.protobuf" => Some(BodyFormat::Protobuf),
        "application/json-patch+json" => Some(BodyFormat::JsonPatch),
        "application/merge-patch+json" => Some(BodyFormat::MergePatch),
        "application/strategic-merge-patch+json" => Some(BodyFormat::StrategicMergePatch),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            Some(BodyFormat::ApplyPatch)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_forms() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(discovery_for(Some(kubectl)), Discovery::Aggregated("v2"));
        assert_eq!(
            discovery_for(Some(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            )),
            Discovery::Aggregated("v2beta1")
        );
        assert_eq!(
            discovery_for(Some(
                "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            )),
            Discovery::Legacy
        );
        assert_eq!(discovery_for(None), Discovery::Legacy);
        assert_eq!(discovery_for(Some("application/json")), Discovery::Legacy);
    }

    #[test]
    fn kubectl_accepts() {
        let get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            output_for(Some(get)),
            Some(Output::Table { v1beta1: false })
        );
        let proto = "application/vnd.kubernetes.protobuf,application/json";
        assert_eq!(output_for(Some(proto)), Some(Output::Protobuf));
        let proto_table =
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json";
        assert_eq!(output_for(Some(proto_table)), Some(Output::Json));
        let disc =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(output_for(Some(disc)), Some(Output::Json));
        assert_eq!(output_for(None), Some(Output::Json));
        assert_eq!(
            output_for(Some("application/vnd.kubernetes.protobuf")),
            Some(Output::Protobuf)
        );
        assert_eq!(output_for(Some("text/html")), None);
        assert_eq!(
            output_for(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            )),
            Some(Output::PartialMetadata { v1beta1: false })
        );
        assert_eq!(
            body_format(Some("application/json; charset=utf-8")),
            Some(BodyFormat::Json)
        );
        assert_eq!(body_format(Some("text/plain")), None);
    }
}
