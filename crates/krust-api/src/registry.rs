//! The kind registry: every resource the API server serves, with its group, versions, plural,
//! scope, short names, categories and subresources.
//!
//! Built-in kinds are listed here; custom resources are added at run time by the API server
//! with the same [`ResourceInfo`] shape, so both share one code path.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Which subresources a resource has besides the main object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subresources {
    /// `/status`: writes to it change only `.status`; writes to the main resource keep `.status`.
    pub status: bool,
    /// `/scale`: an `autoscaling/v1` `Scale` view over a replica count.
    pub scale: Option<ScalePaths>,
    /// Other names listed in discovery (e.g. `pods/log`, `pods/binding`), not served generically.
    pub extra: Vec<String>,
}

/// Where the scale subresource reads and writes, as JSON paths (CRD style: `.spec.replicas`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

impl ScalePaths {
    fn standard() -> Self {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: Some(".status.selector".into()),
        }
    }
}

/// A column of `kubectl get` for a custom resource (`additionalPrinterColumns`).
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    /// A simple JSONPath, e.g. `.spec.cronSpec`.
    pub json_path: String,
}

/// What a CustomResourceDefinition says about one served version.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomSpec {
    /// The CRD's name (`crontabs.stable.example.com`).
    pub crd_name: String,
    /// The version's `openAPIV3Schema`, if any.
    pub schema: Option<serde_json::Value>,
    /// `additionalPrinterColumns` (empty = Name and Age).
    pub printer_columns: Vec<PrinterColumn>,
    /// Whether the schema sets any `default` (then objects are defaulted on read as well, so
    /// objects stored before a default was added come back with it, as upstream).
    pub schema_has_defaults: bool,
}

impl CustomSpec {
    pub fn new(
        crd_name: String,
        schema: Option<serde_json::Value>,
        printer_columns: Vec<PrinterColumn>,
    ) -> CustomSpec {
        let schema_has_defaults = schema.as_ref().is_some_and(has_default);
        CustomSpec {
            crd_name,
            schema,
            printer_columns,
            schema_has_defaults,
        }
    }

    /// The schema, when objects read must be defaulted by it.
    pub fn read_defaults(&self) -> Option<&serde_json::Value> {
        self.schema.as_ref().filter(|_| self.schema_has_defaults)
    }
}

/// Whether a structural schema sets a `default` anywhere (a `default` key inside an `enum`
/// or `example` value counts too: a false positive only costs the defaulting pass).
fn has_default(schema: &serde_json::Value) -> bool {
    match schema {
        serde_json::Value::Object(m) => m.contains_key("default") || m.values().any(has_default),
        serde_json::Value::Array(items) => items.iter().any(has_default),
        _ => false,
    }
}

/// One served resource at one version.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: String,
    /// The version this entry is served at.
    pub version: String,
    /// The version objects are stored at (conversion happens on the way in and out).
    pub storage_version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub subresources: Subresources,
    /// Verbs listed in discovery.
    pub verbs: Vec<String>,
    /// Set when this version is deprecated: the text of the `Warning` header.
    pub deprecation_warning: Option<String>,
    /// Whether spec changes bump `metadata.generation` (kinds with a spec that controllers observe).
    pub tracks_generation: bool,
    /// Set for custom resources: the CRD's schema and printer columns for this version.
    pub custom: Option<Arc<CustomSpec>>,
}

impl ResourceInfo {
    /// `group/version`, or `version` for the core group: the value of `apiVersion`.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// The storage-version `apiVersion`.
    pub fn storage_api_version(&self) -> String {
        api_version(&self.group, &self.storage_version)
    }

    /// `deployments.apps`, `pods`: how upstream names a resource in messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, `Pod`: how upstream names a kind in validation messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Storage key prefix for all objects of this resource: `/registry/<group>/<plural>/`.
    pub fn key_prefix(&self) -> String {
        format!("/registry/{}/{}/", self.storage_key_group(), self.plural)
    }

    /// The group segment of this resource's storage keys. `events.k8s.io` Events share the
    /// core Events' storage, as upstream's do (one object, two API shapes).
    pub fn storage_key_group(&self) -> &str {
        if self.group == "events.k8s.io" && self.plural == "events" {
            "core"
        } else {
            storage_group(&self.group)
        }
    }

    /// Storage key prefix for one namespace (or for all objects when cluster-scoped).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{}/", self.key_prefix(), ns),
            _ => self.key_prefix(),
        }
    }

    /// Storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{}/{}", self.key_prefix(), ns, name),
            _ => format!("{}{}", self.key_prefix(), name),
        }
    }
}

/// The group segment used in storage keys (`core` for the empty group).
pub fn storage_group(group: &str) -> &str {
    if group.is_empty() { "core" } else { group }
}

/// `apiVersion` string of a group and version.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits an `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A compact description of a built-in resource used to build the registry.
struct Builtin {
    group: &'static str,
    versions: &'static [&'static str],
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    extra: &'static [&'static str],
    tracks_generation: bool,
    /// Only `create` is served (review resources that are computed, never stored).
    create_only: bool,
    /// Only `get` and `list` are served (metrics computed on read, never stored).
    read_only: bool,
}

const fn b(
    group: &'static str,
    versions: &'static [&'static str],
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        versions,
        kind,
        plural,
        namespaced,
        short_names: &[],
        categories: &[],
        status: false,
        scale: false,
        extra: &[],
        tracks_generation: false,
        create_only: false,
        read_only: false,
    }
}

impl Builtin {
    const fn short(mut self, s: &'static [&'static str]) -> Self {
        self.short_names = s;
        self
    }
    const fn cat(mut self, c: &'static [&'static str]) -> Self {
        self.categories = c;
        self
    }
    const fn status(mut self) -> Self {
        self.status = true;
        self
    }
    const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }
    const fn extra(mut self, e: &'static [&'static str]) -> Self {
        self.extra = e;
        self
    }
    const fn generation(mut self) -> Self {
        self.tracks_generation = true;
        self
    }
    const fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

const ALL: &[&str] = &["all"];

const BUILTINS: &[Builtin] = &[
    // core/v1
    b("", &["v1"], "Namespace", "namespaces", false)
        .short(&["ns"])
        .status()
        .extra(&["finalize"]),
    b("", &["v1"], "Pod", "pods", true)
        .short(&["po"])
        .cat(ALL)
        .status()
        .extra(&[
            "attach",
            "binding",
            "ephemeralcontainers",
            "eviction",
            "exec",
            "log",
            "portforward",
            "proxy",
            "resize",
        ]),
    b("", &["v1"], "Service", "services", true)
        .short(&["svc"])
        .cat(ALL)
        .status()
        .extra(&["proxy"]),
    b("", &["v1"], "Endpoints", "endpoints", true).short(&["ep"]),
    b("", &["v1"], "Node", "nodes", false)
        .short(&["no"])
        .status()
        .extra(&["proxy"]),
    b("", &["v1"], "ConfigMap", "configmaps", true).short(&["cm"]),
    b("", &["v1"], "Secret", "secrets", true),
    b("", &["v1"], "ServiceAccount", "serviceaccounts", true)
        .short(&["sa"])
        .extra(&["token"]),
    b("", &["v1"], "Event", "events", true).short(&["ev"]),
    b("", &["v1"], "PersistentVolume", "persistentvolumes", false)
        .short(&["pv"])
        .status(),
    b(
        "",
        &["v1"],
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    )
    .short(&["pvc"])
    .status(),
    b("", &["v1"], "ResourceQuota", "resourcequotas", true)
        .short(&["quota"])
        .status(),
    b("", &["v1"], "LimitRange", "limitranges", true).short(&["limits"]),
    b(
        "",
        &["v1"],
        "ReplicationController",
        "replicationcontrollers",
        true,
    )
    .short(&["rc"])
    .cat(ALL)
    .status()
    .scale()
    .generation(),
    b("", &["v1"], "PodTemplate", "podtemplates", true),
    // apps
    b(
        "apps",
        &["v1", "v1beta1"],
        "Deployment",
        "deployments",
        true,
    )
    .short(&["deploy"])
    .cat(ALL)
    .status()
    .scale()
    .generation(),
    b("apps", &["v1"], "ReplicaSet", "replicasets", true)
        .short(&["rs"])
        .cat(ALL)
        .status()
        .scale()
        .generation(),
    b("apps", &["v1"], "StatefulSet", "statefulsets", true)
        .short(&["sts"])
        .cat(ALL)
        .status()
        .scale()
        .generation(),
    b("apps", &["v1"], "DaemonSet", "daemonsets", true)
        .short(&["ds"])
        .cat(ALL)
        .status()
        .generation(),
    b(
        "apps",
        &["v1"],
        "ControllerRevision",
        "controllerrevisions",
        true,
    ),
    // batch
    b("batch", &["v1"], "Job", "jobs", true)
        .cat(ALL)
        .status()
        .generation(),
    b("batch", &["v1"], "CronJob", "cronjobs", true)
        .short(&["cj"])
        .cat(ALL)
        .status()
        .generation(),
    // autoscaling
    b(
        "autoscaling",
        &["v2", "v1"],
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    )
    .short(&["hpa"])
    .cat(ALL)
    .status(),
    // networking
    b("networking.k8s.io", &["v1"], "Ingress", "ingresses", true)
        .short(&["ing"])
        .status()
        .generation(),
    b(
        "networking.k8s.io",
        &["v1"],
        "IngressClass",
        "ingressclasses",
        false,
    ),
    b(
        "networking.k8s.io",
        &["v1"],
        "NetworkPolicy",
        "networkpolicies",
        true,
    )
    .short(&["netpol"])
    .generation(),
    b(
        "discovery.k8s.io",
        &["v1"],
        "EndpointSlice",
        "endpointslices",
        true,
    ),
    b("events.k8s.io", &["v1"], "Event", "events", true).short(&["ev"]),
    b("coordination.k8s.io", &["v1"], "Lease", "leases", true),
    b(
        "storage.k8s.io",
        &["v1"],
        "StorageClass",
        "storageclasses",
        false,
    )
    .short(&["sc"]),
    // rbac
    b("rbac.authorization.k8s.io", &["v1"], "Role", "roles", true),
    b(
        "rbac.authorization.k8s.io",
        &["v1"],
        "RoleBinding",
        "rolebindings",
        true,
    ),
    b(
        "rbac.authorization.k8s.io",
        &["v1"],
        "ClusterRole",
        "clusterroles",
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        &["v1"],
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    b(
        "policy",
        &["v1"],
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    )
    .short(&["pdb"])
    .status()
    .generation(),
    b(
        "scheduling.k8s.io",
        &["v1"],
        "PriorityClass",
        "priorityclasses",
        false,
    )
    .short(&["pc"]),
    b(
        "certificates.k8s.io",
        &["v1"],
        "CertificateSigningRequest",
        "certificatesigningrequests",
        false,
    )
    .short(&["csr"])
    .status()
    .extra(&["approval"]),
    b(
        "apiextensions.k8s.io",
        &["v1"],
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    )
    .short(&["crd", "crds"])
    .cat(&["api-extensions"])
    .status()
    .generation(),
    b(
        "node.k8s.io",
        &["v1"],
        "RuntimeClass",
        "runtimeclasses",
        false,
    ),
    b(
        "networking.k8s.io",
        &["v1"],
        "ServiceCIDR",
        "servicecidrs",
        false,
    )
    .status(),
    b(
        "networking.k8s.io",
        &["v1"],
        "IPAddress",
        "ipaddresses",
        false,
    )
    .short(&["ip"]),
    b("storage.k8s.io", &["v1"], "CSIDriver", "csidrivers", false),
    b("storage.k8s.io", &["v1"], "CSINode", "csinodes", false),
    b(
        "storage.k8s.io",
        &["v1"],
        "CSIStorageCapacity",
        "csistoragecapacities",
        true,
    ),
    b(
        "storage.k8s.io",
        &["v1"],
        "VolumeAttachment",
        "volumeattachments",
        false,
    )
    .status(),
    b(
        "storage.k8s.io",
        &["v1beta1"],
        "VolumeAttributesClass",
        "volumeattributesclasses",
        false,
    )
    .short(&["vac"]),
    // admission configuration (enforced in a later issue)
    b(
        "admissionregistration.k8s.io",
        &["v1"],
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    )
    .cat(&["api-extensions"]),
    b(
        "admissionregistration.k8s.io",
        &["v1"],
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    )
    .cat(&["api-extensions"]),
    b(
        "admissionregistration.k8s.io",
        &["v1"],
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
    )
    .cat(&["api-extensions"])
    .status()
    .generation(),
    b(
        "admissionregistration.k8s.io",
        &["v1"],
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
    )
    .cat(&["api-extensions"]),
    b(
        "admissionregistration.k8s.io",
        &["v1beta1", "v1alpha1"],
        "MutatingAdmissionPolicy",
        "mutatingadmissionpolicies",
        false,
    )
    .cat(&["api-extensions"])
    .generation(),
    b(
        "admissionregistration.k8s.io",
        &["v1beta1", "v1alpha1"],
        "MutatingAdmissionPolicyBinding",
        "mutatingadmissionpolicybindings",
        false,
    )
    .cat(&["api-extensions"]),
    // API priority and fairness configuration
    b(
        "flowcontrol.apiserver.k8s.io",
        &["v1"],
        "FlowSchema",
        "flowschemas",
        false,
    )
    .status(),
    b(
        "flowcontrol.apiserver.k8s.io",
        &["v1"],
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        false,
    )
    .status(),
    b(
        "apiregistration.k8s.io",
        &["v1"],
        "APIService",
        "apiservices",
        false,
    )
    .cat(&["api-extensions"])
    .status(),
    // Reviews: computed on create, never stored.
    b(
        "authorization.k8s.io",
        &["v1"],
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        &["v1"],
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        &["v1"],
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
    )
    .create_only(),
    b(
        "authorization.k8s.io",
        &["v1"],
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
    )
    .create_only(),
    b(
        "authentication.k8s.io",
        &["v1"],
        "TokenReview",
        "tokenreviews",
        false,
    )
    .create_only(),
    b(
        "authentication.k8s.io",
        &["v1"],
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
    )
    .create_only(),
    // Resource metrics (metrics-server's API): read from the kubelets, never stored.
    b(
        "metrics.k8s.io",
        &["v1beta1"],
        "NodeMetrics",
        "nodes",
        false,
    )
    .read_only(),
    b("metrics.k8s.io", &["v1beta1"], "PodMetrics", "pods", true).read_only(),
];

/// The deprecation warning upstream sent for `apps/v1beta1` Deployments.
pub const APPS_V1BETA1_DEPLOYMENT_WARNING: &str =
    "apps/v1beta1 Deployment is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 Deployment";

fn builtin_infos(bi: &Builtin) -> Vec<ResourceInfo> {
    let storage = bi.versions[0];
    bi.versions
        .iter()
        .map(|v| {
            let deprecation_warning = (bi.group == "apps" && *v == "v1beta1")
                .then(|| APPS_V1BETA1_DEPLOYMENT_WARNING.to_string());
            ResourceInfo {
                group: bi.group.into(),
                version: (*v).into(),
                storage_version: storage.into(),
                kind: bi.kind.into(),
                list_kind: format!("{}List", bi.kind),
                plural: bi.plural.into(),
                singular: bi.kind.to_lowercase(),
                namespaced: bi.namespaced,
                short_names: bi.short_names.iter().map(|s| s.to_string()).collect(),
                categories: bi.categories.iter().map(|s| s.to_string()).collect(),
                subresources: Subresources {
                    status: bi.status,
                    scale: bi.scale.then(ScalePaths::standard),
                    extra: bi.extra.iter().map(|s| s.to_string()).collect(),
                },
                verbs: if bi.create_only {
                    vec!["create".to_string()]
                } else if bi.read_only {
                    vec!["get".to_string(), "list".to_string()]
                } else {
                    ALL_VERBS.iter().map(|s| s.to_string()).collect()
                },
                deprecation_warning,
                tracks_generation: bi.tracks_generation,
                custom: None,
            }
        })
        .collect()
}

/// One API group with its served versions, preferred version first.
#[derive(Clone, Debug)]
pub struct GroupInfo {
    pub name: String,
    pub versions: Vec<String>,
}

/// Every served resource, indexed by group, version and plural.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// (group, version, plural) -> info
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceInfo>>,
    /// Groups in discovery order with versions in preference order.
    groups: Vec<GroupInfo>,
}

impl Registry {
    /// The registry of built-in kinds.
    pub fn builtin() -> Self {
        let mut r = Registry::default();
        for bi in BUILTINS {
            for info in builtin_infos(bi) {
                r.insert(info);
            }
        }
        r
    }

    /// Adds (or replaces) one resource version; versions of a new group are appended in order.
    pub fn insert(&mut self, info: ResourceInfo) {
        match self.groups.iter_mut().find(|g| g.name == info.group) {
            Some(g) => {
                if !g.versions.contains(&info.version) {
                    g.versions.push(info.version.clone());
                }
            }
            None => self.groups.push(GroupInfo {
                name: info.group.clone(),
                versions: vec![info.version.clone()],
            }),
        }
        self.by_gvr.insert(
            (
                info.group.clone(),
                info.version.clone(),
                info.plural.clone(),
            ),
            Arc::new(info),
        );
    }

    /// Removes every version of one resource (a deleted CRD).
    pub fn remove_resource(&mut self, group: &str, plural: &str) {
        self.by_gvr
            .retain(|(g, _, p), _| !(g == group && p == plural));
        let remaining: Vec<String> = self
            .by_gvr
            .keys()
            .filter(|(g, _, _)| g == group)
            .map(|(_, v, _)| v.clone())
            .collect();
        if let Some(g) = self.groups.iter_mut().find(|g| g.name == group) {
            g.versions.retain(|v| remaining.contains(v));
        }
        self.groups.retain(|g| !g.versions.is_empty());
    }

    /// The resource served at `group/version` under `plural`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The resource of a kind at a version (`apiVersion` + `kind` of an object).
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .iter()
            .find(|((g, v, _), info)| g == group && v == version && info.kind == kind)
            .map(|(_, i)| i.clone())
    }

    /// The storage-version entry of a resource (any version of it identifies the resource).
    pub fn storage_info(&self, group: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.by_gvr
            .iter()
            .find(|((g, v, p), i)| g == group && p == plural && *v == i.storage_version)
            .map(|(_, i)| i.clone())
    }

    /// Groups in discovery order.
    pub fn groups(&self) -> &[GroupInfo] {
        &self.groups
    }

    /// Resources served at one group version.
    pub fn resources_at(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.by_gvr
            .iter()
            .filter(|((g, v, _), _)| g == group && v == version)
            .map(|(_, i)| i.clone())
            .collect()
    }

    /// Every served resource version.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceInfo>> {
        self.by_gvr.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_article_kinds() {
        let r = Registry::builtin();
        let d = r.get("apps", "v1beta1", "deployments").unwrap();
        assert_eq!(d.storage_version, "v1");
        assert!(d.deprecation_warning.is_some());
        assert_eq!(
            d.key(Some("default"), "web"),
            "/registry/apps/deployments/default/web"
        );
        let ns = r.get("", "v1", "namespaces").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(ns.key(None, "default"), "/registry/core/namespaces/default");
        assert_eq!(r.groups()[0].name, "");
        let apps = r.groups().iter().find(|g| g.name == "apps").unwrap();
        assert_eq!(apps.versions, vec!["v1", "v1beta1"]);
        let hpa = r.groups().iter().find(|g| g.name == "autoscaling").unwrap();
        assert_eq!(hpa.versions, vec!["v2", "v1"]);
        assert!(r.by_kind("batch", "v1", "CronJob").is_some());
        let pm = r.get("metrics.k8s.io", "v1beta1", "pods").unwrap();
        assert_eq!((pm.kind.as_str(), pm.namespaced), ("PodMetrics", true));
        assert_eq!(pm.verbs, vec!["get", "list"]);
        let nm = r.get("metrics.k8s.io", "v1beta1", "nodes").unwrap();
        assert_eq!((nm.kind.as_str(), nm.namespaced), ("NodeMetrics", false));
        assert_eq!(r.get("", "v1", "pods").unwrap().kind, "Pod");
    }
}
