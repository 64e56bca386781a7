//! Objects every cluster has from its first start: the namespaces `default`, `kube-system`,
//! `kube-public` and `kube-node-lease`, the `kubernetes` Service with its Endpoints and
//! EndpointSlice pointing at the API server, the system PriorityClasses, the default
//! ServiceCIDR, upstream's API priority and fairness configuration (`flowcontrol`), and the
//! local APIServices.

use crate::ApiServer;
use crate::rest::create_object;
use crate::status::ApiError;
use serde_json::json;

pub(crate) const NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates an object unless one of its name exists, then (for kinds whose status the system
/// owns) gives it `status` when it has none. Returns whether it was created.
pub(crate) async fn create_with_status(
    server: &ApiServer,
    group: &str,
    plural: &str,
    namespace: Option<&str>,
    obj: serde_json::Value,
    status: Option<serde_json::Value>,
) -> Result<bool, ApiError> {
    let info = server
        .registry()
        .storage_info(group, plural)
        .ok_or_else(|| ApiError::internal(format!("no resource {plural}")))?;
    let key = info.key(namespace, krust_api::meta::name(&obj));
    let created = match create_if_missing(server, group, plural, namespace, obj).await {
        Ok(()) => true,
        Err(e) if e.code == 409 => false,
        Err(e) => return Err(e),
    };
    let Some(status) = status else {
        return Ok(created);
    };
    let Some(kv) = server.state.backend.get(&key).await? else {
        return Ok(created);
    };
    let Some(mut stored) = crate::watch_cache::decode_stored(&kv) else {
        return Ok(created);
    };
    if stored
        .get("status")
        .is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty()))
    {
        return Ok(created);
    }
    krust_api::meta::set_path(&mut stored, &["status"], status);
    match server
        .state
        .backend
        .update(
            &key,
            crate::object::encode_for_storage(&stored)?,
            kv.mod_revision,
        )
        .await
    {
        Ok(_) | Err(krust_store::StoreError::Conflict { .. }) => Ok(created),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn create_if_missing(
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
    let cidr = config.service_cidr.to_string();
    create_with_status(
        server,
        "networking.k8s.io",
        "servicecidrs",
        None,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
            "metadata": {"name": "kubernetes"}, "spec": {"cidrs": [cidr]}}),
        Some(
            json!({"conditions": [{"type": "Ready", "status": "True", "reason": "",
            "message": "Kubernetes Service CIDR is ready",
            "lastTransitionTime": krust_api::time::now_rfc3339()}]}),
        ),
    )
    .await?;
    crate::flowcontrol::ensure_bootstrap_configuration(server).await?;
    crate::apiservice::sync(server).await?;
    Ok(())
}
