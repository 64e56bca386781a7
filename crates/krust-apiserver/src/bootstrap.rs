//! Objects every cluster has from its first start: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`, the `kubernetes` Service with its Endpoints and
//! EndpointSlice pointing at the API server, and the system PriorityClasses.

use crate::ApiServer;
use crate::rest::create_object;
use crate::status::ApiError;
use serde_json::json;

pub(crate) const NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn create_if_missing(
    server: &ApiServer,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
    obj: serde_json::Value,
) -> Result<(), ApiError> {
    let info = server
        .registry()
        .storage_info(group, plural)
        .ok_or_else(|| ApiError::internal(format!("no resource {plural}")))?;
    let key = info.key(namespace, krust_api::meta::name(&obj));
    if server.state.backend.get(&key).await?.is_some() {
        return Ok(());
    }
    let opts = crate::rest::WriteOpts {
        dry_run: false,
        manager: Some("kube-apiserver"),
        subresource: None,
        user: None,
    };
    match create_object(server, &info, namespace, obj, &opts).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) async fn ensure_builtin_objects(server: &ApiServer) -> Result<(), ApiError> {
    for ns in NAMESPACES {
        create_if_missing(
            server,
            "",
            "namespaces",
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
                "labels": {"kubernetes.io/metadata.name": ns}}}),
        )
        .await?;
    }
    let config = &server.state.config;
    let ip = config.service_cidr.nth(1).to_string();
    create_if_missing(
        server,
        "",
        "services",
        Some("default"),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                "targetPort": config.https_port}]}}),
    )
    .await?;
    create_if_missing(
        server,
        "",
        "endpoints",
        Some("default"),
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": config.advertise_address.to_string()}],
                "ports": [{"name": "https", "port": config.https_port, "protocol": "TCP"}]}]}),
    )
    .await?;
    create_if_missing(
        server,
        "discovery.k8s.io",
        "endpointslices",
        Some("default"),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [config.advertise_address.to_string()],
                "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": config.https_port, "protocol": "TCP"}]}),
    )
    .await?;
    for (name, value, description) in crate::admission::SYSTEM_PRIORITY_CLASSES {
        create_if_missing(
            server,
            "scheduling.k8s.io",
            "priorityclasses",
            None,
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "description": description,
                "preemptionPolicy": "PreemptLowerPriority"}),
        )
        .await?;
    }
    Ok(())
}
