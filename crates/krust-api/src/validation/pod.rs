//! Pods and pod templates: upstream's `ValidatePodSpec` (volumes, containers and init
//! containers with their ports, env, mounts, resources, probes and lifecycle hooks, restart and
//! DNS policies, tolerations...), `ValidatePodTemplateSpec`, and `ValidatePodUpdate`'s rule
//! that a pod's spec is immutable apart from a few fields.

use super::meta::{validate_annotations, validate_labels};
use super::util::{
    Errs, IS_NEGATIVE, NULL, Quantity, get, get_arr, get_int, get_str, get_str_list, get_str_map,
    invalid_each, nonnegative_at, not_found, obj_or_null, parse_quantity, port_num_or_name,
    str_or_empty, type_error,
};
use crate::field_error::{FieldError, Path};
use crate::validation_names as names;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

/// The volume sources of a `VolumeSource`, in the order upstream checks them.
const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flexVolume",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flocker",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "configMap",
    "scaleIO",
    "projected",
    "csi",
    "ephemeral",
    "image",
];

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const INIT_FORBIDDEN_MSG: &str = "may not be set for init containers without restartPolicy=Always";
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// The fields a pod update may change, as upstream lists them.
const UPDATABLE_POD_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// Validates a Pod (its spec on create; on update also the immutability rules).
pub(crate) fn validate_pod(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let root = Path::default();
    let spec_path = Path::new("spec");
    let spec = obj_or_null(errs, obj, "spec", &root);
    validate_pod_spec(errs, spec, &spec_path, &[]);
    match old {
        None => {
            if !get_arr(&mut Vec::new(), spec, "ephemeralContainers", &spec_path).is_empty() {
                errs.push(FieldError::forbidden(
                    spec_path.child("ephemeralContainers"),
                    "cannot be set on create",
                ));
            }
        }
        Some(old) => validate_pod_update(errs, obj, old),
    }
}

/// Upstream's `ValidatePodTemplateSpec`: template labels and annotations (reported at
/// `<path>.labels`, as upstream does) and the pod spec. `extra_volumes` are further names
/// volume mounts may refer to (a StatefulSet's volumeClaimTemplates).
pub(crate) fn validate_pod_template_spec(
    errs: &mut Errs,
    template: &Value,
    path: &Path,
    extra_volumes: &[&str],
) {
    let meta = obj_or_null(errs, template, "metadata", path);
    validate_labels(errs, get(meta, "labels"), &path.child("labels"));
    validate_annotations(errs, get(meta, "annotations"), &path.child("annotations"));
    let spec_path = path.child("spec");
    let spec = obj_or_null(errs, template, "spec", path);
    validate_pod_spec(errs, spec, &spec_path, extra_volumes);
    if !get_arr(&mut Vec::new(), spec, "ephemeralContainers", &spec_path).is_empty() {
        errs.push(FieldError::forbidden(
            spec_path.child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// Upstream's `ValidatePodSpec`.
pub(crate) fn validate_pod_spec(
    errs: &mut Errs,
    spec: &Value,
    path: &Path,
    extra_volumes: &[&str],
) {
    let mut volumes = validate_volumes(errs, spec, path);
    volumes.extend(extra_volumes.iter().map(|v| v.to_string()));

    let containers = get_arr(errs, spec, "containers", path);
    let cpath = path.child("containers");
    if containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    } else {
        let mut names = HashSet::new();
        for (i, c) in containers.iter().enumerate() {
            validate_container(errs, c, &cpath.index(i), &volumes, false, &mut names);
        }
        host_port_conflicts(errs, containers, &cpath);
    }

    let init = get_arr(errs, spec, "initContainers", path);
    let ipath = path.child("initContainers");
    let mut names: HashSet<String> = containers
        .iter()
        .filter_map(|c| get(c, "name").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    for (i, c) in init.iter().enumerate() {
        validate_container(errs, c, &ipath.index(i), &volumes, true, &mut names);
        host_port_conflicts(errs, std::slice::from_ref(c), &ipath);
    }

    if get(spec, "hostNetwork").and_then(Value::as_bool) == Some(true) {
        host_network_ports(errs, containers, &cpath);
    }

    if let Some(p) = get_str(errs, spec, "restartPolicy", path) {
        not_supported_unless(
            errs,
            &path.child("restartPolicy"),
            p,
            &["Always", "OnFailure", "Never"],
        );
    }
    let dns_policy = get_str(errs, spec, "dnsPolicy", path);
    if let Some(p) = dns_policy {
        not_supported_unless(
            errs,
            &path.child("dnsPolicy"),
            p,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        );
    }
    validate_labels(errs, get(spec, "nodeSelector"), &path.child("nodeSelector"));
    if dns_policy == Some("None") && get(spec, "dnsConfig").is_none() {
        errs.push(FieldError::required(
            path.child("dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }

    for key in ["serviceAccountName", "nodeName"] {
        let v = str_or_empty(errs, spec, key, path);
        if !v.is_empty() {
            invalid_each(errs, &path.child(key), v, names::dns1123_subdomain(v));
        }
    }
    if let Some(ads) = get_int(errs, spec, "activeDeadlineSeconds", path)
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            Value::from(ads),
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    for key in ["hostname", "subdomain"] {
        let v = str_or_empty(errs, spec, key, path);
        if !v.is_empty() {
            invalid_each(errs, &path.child(key), v, names::dns1123_label(v));
        }
    }
    validate_tolerations(errs, spec, path);
    validate_sysctls(errs, spec, &path.child("securityContext").child("sysctls"));
    let pcn = str_or_empty(errs, spec, "priorityClassName", path);
    if !pcn.is_empty() {
        invalid_each(
            errs,
            &path.child("priorityClassName"),
            pcn,
            names::dns1123_subdomain(pcn),
        );
    }
    nonnegative_at(errs, spec, "terminationGracePeriodSeconds", path);
}

/// `NotSupported` unless `v` is one of `valid` (an empty value counts as defaulted).
/// Upstream's sysctl name syntax (`kernel.shm_rmid_forced`, `net/ipv4/ip_forward`).
const SYSCTL_REGEX: &str =
    r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";
const SYSCTL_MAX_LENGTH: usize = 253;

/// `spec.securityContext.sysctls`: names present, well formed and unique.
fn validate_sysctls(errs: &mut Errs, spec: &Value, path: &Path) {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(SYSCTL_REGEX).ok());
    let Some(list) = spec
        .get("securityContext")
        .and_then(|s| s.get("sysctls"))
        .and_then(Value::as_array)
    else {
        return;
    };
    let mut seen = HashSet::new();
    for (i, s) in list.iter().enumerate() {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        let at = path.index(i).child("name");
        if name.is_empty() {
            errs.push(FieldError::required(at.as_str(), ""));
        } else if name.len() > SYSCTL_MAX_LENGTH || !re.as_ref().is_some_and(|r| r.is_match(name)) {
            errs.push(FieldError::invalid(
                at.as_str(),
                Value::from(name),
                format!("must have at most {SYSCTL_MAX_LENGTH} characters and match regex {SYSCTL_REGEX}"),
            ));
        } else if !seen.insert(name.to_string()) {
            errs.push(FieldError::duplicate(at.as_str(), Value::from(name)));
        }
    }
}

fn not_supported_unless(errs: &mut Errs, path: &Path, v: &str, valid: &[&str]) {
    if !v.is_empty() && !valid.contains(&v) {
        errs.push(FieldError::not_supported(path, Value::from(v), valid));
    }
}

/// Upstream's `ValidateVolumes`: returns the names of the volumes that are valid.
fn validate_volumes(errs: &mut Errs, spec: &Value, path: &Path) -> HashSet<String> {
    let vpath = path.child("volumes");
    let mut valid = HashSet::new();
    for (i, vol) in get_arr(errs, spec, "volumes", path).iter().enumerate() {
        let ip = vpath.index(i);
        if !vol.is_object() {
            errs.push(type_error(&ip, vol, "object"));
            continue;
        }
        let mut el = Vec::new();
        validate_volume_source(&mut el, vol, &ip);
        let name = str_or_empty(&mut el, vol, "name", &ip);
        if name.is_empty() {
            el.push(FieldError::required(ip.child("name"), ""));
        } else {
            invalid_each(&mut el, &ip.child("name"), name, names::dns1123_label(name));
        }
        if valid.contains(name) {
            el.push(FieldError::duplicate(ip.child("name"), Value::from(name)));
        }
        if el.is_empty() {
            valid.insert(name.to_string());
        } else {
            errs.append(&mut el);
        }
    }
    valid
}

/// Upstream's `validateVolumeSource`: at most one source (a volume without one is defaulted
/// to emptyDir by the v1 API), and the common sources' required fields.
fn validate_volume_source(errs: &mut Errs, vol: &Value, path: &Path) {
    let mut found = 0;
    for key in VOLUME_SOURCES {
        let Some(src) = get(vol, key) else { continue };
        let p = path.child(key);
        if found > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        found += 1;
        if !src.is_object() {
            errs.push(type_error(&p, src, "object"));
            continue;
        }
        match *key {
            "hostPath" => {
                let hp = str_or_empty(errs, src, "path", &p);
                if hp.is_empty() {
                    errs.push(FieldError::required(p.child("path"), ""));
                } else {
                    no_backsteps(errs, hp, &p.child("path"));
                    if let Some(t) = get_str(errs, src, "type", &p) {
                        let valid = [
                            "",
                            "BlockDevice",
                            "CharDevice",
                            "Directory",
                            "DirectoryOrCreate",
                            "File",
                            "FileOrCreate",
                            "Socket",
                        ];
                        if !valid.contains(&t) {
                            errs.push(FieldError::not_supported(
                                p.child("type"),
                                Value::from(t),
                                &valid,
                            ));
                        }
                    }
                }
            }
            "secret" => {
                required_str(errs, src, "secretName", &p);
                key_to_paths(errs, src, &p);
            }
            "configMap" => {
                required_str(errs, src, "name", &p);
                key_to_paths(errs, src, &p);
            }
            "downwardAPI" | "projected" => file_mode(errs, src, "defaultMode", &p),
            "persistentVolumeClaim" => required_str(errs, src, "claimName", &p),
            "nfs" => {
                required_str(errs, src, "server", &p);
                let np = str_or_empty(errs, src, "path", &p);
                if np.is_empty() {
                    errs.push(FieldError::required(p.child("path"), ""));
                } else if !np.starts_with('/') {
                    errs.push(FieldError::invalid(
                        p.child("path"),
                        Value::from(np),
                        "must be an absolute path",
                    ));
                }
            }
            "csi" => required_str(errs, src, "driver", &p),
            _ => {}
        }
    }
}

/// `Required` when the string at `key` is empty or absent.
fn required_str(errs: &mut Errs, v: &Value, key: &str, path: &Path) {
    if get(v, key).is_none_or(Value::is_string) && str_or_empty(errs, v, key, path).is_empty() {
        errs.push(FieldError::required(path.child(key), ""));
    }
}

/// A file mode between 0 and 0777.
fn file_mode(errs: &mut Errs, v: &Value, key: &str, path: &Path) {
    if let Some(m) = get_int(errs, v, key, path)
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(
            path.child(key),
            Value::from(m),
            FILE_MODE_MSG,
        ));
    }
}

/// `defaultMode` and `items` of secret and configMap volumes (upstream's `validateKeyToPath`).
fn key_to_paths(errs: &mut Errs, src: &Value, path: &Path) {
    file_mode(errs, src, "defaultMode", path);
    let items_path = path.child("items");
    for (i, item) in get_arr(errs, src, "items", path).iter().enumerate() {
        let ip = items_path.index(i);
        required_str(errs, item, "key", &ip);
        let p = str_or_empty(errs, item, "path", &ip);
        if p.is_empty() {
            errs.push(FieldError::required(ip.child("path"), ""));
        }
        local_non_reserved_path(errs, p, &ip.child("path"));
        file_mode(errs, item, "mode", &ip);
    }
}

/// Upstream's `validatePathNoBacksteps`.
fn no_backsteps(errs: &mut Errs, p: &str, path: &Path) {
    if p.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(
            path,
            Value::from(p),
            "must not contain '..'",
        ));
    }
}

/// Upstream's `validateLocalDescendingPath`.
fn local_descending_path(errs: &mut Errs, p: &str, path: &Path) {
    if p.starts_with('/') {
        errs.push(FieldError::invalid(
            path,
            Value::from(p),
            "must be a relative path",
        ));
    }
    no_backsteps(errs, p, path);
}

/// Upstream's `ValidateLocalNonReservedPath`.
fn local_non_reserved_path(errs: &mut Errs, p: &str, path: &Path) {
    local_descending_path(errs, p, path);
    let first = p.split('/').next().unwrap_or("");
    if first.starts_with("..") && first.len() > 2 {
        errs.push(FieldError::invalid(
            path,
            Value::from(p),
            "must not start with '..'",
        ));
    }
}

/// One container (regular or init): upstream's `validateContainerCommon` plus the checks
/// specific to its kind. `names` holds the container names seen so far.
fn validate_container(
    errs: &mut Errs,
    c: &Value,
    path: &Path,
    volumes: &HashSet<String>,
    init: bool,
    names: &mut HashSet<String>,
) {
    if !c.is_object() {
        errs.push(type_error(path, c, "object"));
        return;
    }
    let name = str_or_empty(errs, c, "name", path);
    if name.is_empty() {
        if get(c, "name").is_none_or(Value::is_string) {
            errs.push(FieldError::required(path.child("name"), ""));
        }
    } else {
        invalid_each(errs, &path.child("name"), name, names::dns1123_label(name));
    }
    required_str(errs, c, "image", path);
    if let Some(p) = get_str(errs, c, "terminationMessagePolicy", path) {
        not_supported_unless(
            errs,
            &path.child("terminationMessagePolicy"),
            p,
            &["File", "FallbackToLogsOnError"],
        );
    }
    validate_container_ports(errs, c, path);
    validate_env(errs, c, path);
    validate_env_from(errs, c, path);
    validate_volume_mounts(errs, c, path, volumes);
    if let Some(p) = get_str(errs, c, "imagePullPolicy", path) {
        not_supported_unless(
            errs,
            &path.child("imagePullPolicy"),
            p,
            &["Always", "IfNotPresent", "Never"],
        );
    }
    validate_resources(errs, c, path);

    let restart = get_str(errs, c, "restartPolicy", path);
    let sidecar = init && restart == Some("Always");
    if init
        && let Some(r) = restart
        && r != "Always"
    {
        errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            Value::from(r),
            &["Always"],
        ));
    }
    if !names.insert(name.to_string()) && (!init || !name.is_empty()) {
        errs.push(FieldError::duplicate(path.child("name"), Value::from(name)));
    }
    if init && !sidecar {
        for key in [
            "lifecycle",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
        ] {
            if get(c, key).is_some() {
                errs.push(FieldError::forbidden(path.child(key), INIT_FORBIDDEN_MSG));
            }
        }
    } else {
        validate_lifecycle(errs, c, path);
        for (key, kind) in [
            ("livenessProbe", Probe::Liveness),
            ("readinessProbe", Probe::Readiness),
            ("startupProbe", Probe::Startup),
        ] {
            validate_probe(errs, c, key, path, kind);
        }
    }
    if !init && restart.is_some() {
        errs.push(FieldError::forbidden(
            path.child("restartPolicy"),
            "may not be set for non-init containers",
        ));
    }
}

/// Upstream's `validateContainerPorts`.
fn validate_container_ports(errs: &mut Errs, c: &Value, path: &Path) {
    let ports_path = path.child("ports");
    let mut seen = HashSet::new();
    for (i, p) in get_arr(errs, c, "ports", path).iter().enumerate() {
        let ip = ports_path.index(i);
        if !p.is_object() {
            errs.push(type_error(&ip, p, "object"));
            continue;
        }
        let name = str_or_empty(errs, p, "name", &ip);
        if !name.is_empty() {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                invalid_each(errs, &ip.child("name"), name, msgs);
            } else if !seen.insert(name) {
                errs.push(FieldError::duplicate(ip.child("name"), Value::from(name)));
            }
        }
        match get_int(errs, p, "containerPort", &ip) {
            Some(0) => errs.push(FieldError::required(ip.child("containerPort"), "")),
            Some(n) => port_number(errs, n, &ip.child("containerPort")),
            None if get(p, "containerPort").is_none() => {
                errs.push(FieldError::required(ip.child("containerPort"), ""));
            }
            None => {}
        }
        if let Some(n) = get_int(errs, p, "hostPort", &ip).filter(|n| *n != 0) {
            port_number(errs, n, &ip.child("hostPort"));
        }
        if let Some(proto) = get_str(errs, p, "protocol", &ip) {
            not_supported_unless(errs, &ip.child("protocol"), proto, PROTOCOLS);
        }
    }
}

fn port_number(errs: &mut Errs, n: i64, path: &Path) {
    for msg in names::port_number(n) {
        errs.push(FieldError::invalid(path, Value::from(n), msg));
    }
}

/// Upstream's `checkHostPortConflicts`: a hostIP/protocol/hostPort is used once.
fn host_port_conflicts(errs: &mut Errs, containers: &[Value], path: &Path) {
    let mut seen = HashSet::new();
    for (ci, c) in containers.iter().enumerate() {
        let ports_path = path.index(ci).child("ports");
        let ports = get(c, "ports")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (pi, p) in ports.iter().enumerate() {
            let host_port = get(p, "hostPort").and_then(Value::as_i64).unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let ip = get(p, "hostIP").and_then(Value::as_str).unwrap_or("");
            let proto = get(p, "protocol").and_then(Value::as_str).unwrap_or("TCP");
            let key = format!("{ip}/{proto}/{host_port}");
            if seen.contains(&key) {
                errs.push(FieldError::duplicate(
                    ports_path.index(pi).child("hostPort"),
                    Value::from(key),
                ));
            } else {
                seen.insert(key);
            }
        }
    }
}

/// With `hostNetwork`, a host port must equal its container port.
fn host_network_ports(errs: &mut Errs, containers: &[Value], path: &Path) {
    for (ci, c) in containers.iter().enumerate() {
        let ports = get(c, "ports")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (pi, p) in ports.iter().enumerate() {
            let host = get(p, "hostPort").and_then(Value::as_i64).unwrap_or(0);
            let container = get(p, "containerPort").and_then(Value::as_i64).unwrap_or(0);
            if host != 0 && host != container {
                errs.push(FieldError::invalid(
                    path.index(ci).child("ports").index(pi).child("hostPort"),
                    Value::from(host),
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

/// Upstream's `ValidateEnv` (with relaxed environment variable names).
fn validate_env(errs: &mut Errs, c: &Value, path: &Path) {
    let env_path = path.child("env");
    for (i, e) in get_arr(errs, c, "env", path).iter().enumerate() {
        let ip = env_path.index(i);
        if !e.is_object() {
            errs.push(type_error(&ip, e, "object"));
            continue;
        }
        let name = str_or_empty(errs, e, "name", &ip);
        if name.is_empty() {
            if get(e, "name").is_none_or(Value::is_string) {
                errs.push(FieldError::required(ip.child("name"), ""));
            }
        } else {
            invalid_each(errs, &ip.child("name"), name, names::env_var_name(name));
        }
        validate_env_value_from(errs, e, &ip);
    }
}

/// Upstream's `validateEnvVarValueFrom`.
fn validate_env_value_from(errs: &mut Errs, e: &Value, path: &Path) {
    let Some(vf) = get(e, "valueFrom") else {
        return;
    };
    let vp = path.child("valueFrom");
    if !vf.is_object() {
        errs.push(type_error(&vp, vf, "object"));
        return;
    }
    let mut sources = 0;
    if let Some(fr) = get(vf, "fieldRef") {
        sources += 1;
        validate_object_field_selector(errs, fr, &vp.child("fieldRef"));
    }
    if let Some(rr) = get(vf, "resourceFieldRef") {
        sources += 1;
        required_str(errs, rr, "resource", &vp.child("resourceFieldRef"));
    }
    for key in ["configMapKeyRef", "secretKeyRef"] {
        if let Some(sel) = get(vf, key) {
            sources += 1;
            let p = vp.child(key);
            let name = str_or_empty(errs, sel, "name", &p);
            invalid_each(errs, &p.child("name"), name, names::dns1123_subdomain(name));
            let k = str_or_empty(errs, sel, "key", &p);
            if k.is_empty() {
                errs.push(FieldError::required(p.child("key"), ""));
            } else {
                invalid_each(errs, &p.child("key"), k, names::config_map_key(k));
            }
        }
    }
    let value = get(e, "value").and_then(Value::as_str).unwrap_or("");
    let detail = if sources == 0 {
        "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
    } else if !value.is_empty() {
        "may not be specified when `value` is not empty"
    } else if sources > 1 {
        "may not have more than one field specified at a time"
    } else {
        return;
    };
    errs.push(FieldError::invalid(&vp, Value::from(""), detail));
}

/// Upstream's `validateObjectFieldSelector` for environment variables.
fn validate_object_field_selector(errs: &mut Errs, fs: &Value, path: &Path) {
    const CONVERTIBLE: &[&str] = &[
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    const ENV_EXPRESSIONS: &[&str] = &[
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    let fp = str_or_empty(errs, fs, "fieldPath", path);
    if fp.is_empty() {
        errs.push(FieldError::required(path.child("fieldPath"), ""));
        return;
    }
    let subscripted = fp
        .strip_suffix("']")
        .and_then(|s| s.split_once("['"))
        .filter(|(p, _)| !p.is_empty());
    if let Some((p, sub)) = subscripted {
        match p {
            "metadata.annotations" => {
                invalid_each(errs, path, sub, names::qualified_name(&sub.to_lowercase()))
            }
            "metadata.labels" => invalid_each(errs, path, sub, names::qualified_name(sub)),
            _ => errs.push(FieldError::invalid(
                path.child("fieldPath"),
                Value::from(fp),
                format!("error converting fieldPath: field label not supported: {fp}"),
            )),
        }
    } else if !CONVERTIBLE.contains(&fp) {
        errs.push(FieldError::invalid(
            path.child("fieldPath"),
            Value::from(fp),
            format!("error converting fieldPath: field label not supported: {fp}"),
        ));
    } else if !ENV_EXPRESSIONS.contains(&fp) {
        errs.push(FieldError::not_supported(
            path.child("fieldPath"),
            Value::from(fp),
            ENV_EXPRESSIONS,
        ));
    }
}

/// Upstream's `ValidateEnvFrom`.
fn validate_env_from(errs: &mut Errs, c: &Value, path: &Path) {
    let from_path = path.child("envFrom");
    for (i, e) in get_arr(errs, c, "envFrom", path).iter().enumerate() {
        let ip = from_path.index(i);
        let prefix = str_or_empty(errs, e, "prefix", &ip);
        if !prefix.is_empty() {
            invalid_each(
                errs,
                &ip.child("prefix"),
                prefix,
                names::env_var_name(prefix),
            );
        }
        let mut sources = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(r) = get(e, key) {
                sources += 1;
                let p = ip.child(key);
                let name = str_or_empty(errs, r, "name", &p);
                if name.is_empty() {
                    errs.push(FieldError::required(p.child("name"), ""));
                } else {
                    invalid_each(errs, &p.child("name"), name, names::dns1123_subdomain(name));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &from_path,
                Value::from(""),
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &from_path,
                Value::from(""),
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// Upstream's `ValidateVolumeMounts`.
fn validate_volume_mounts(errs: &mut Errs, c: &Value, path: &Path, volumes: &HashSet<String>) {
    let mounts_path = path.child("volumeMounts");
    let mut mount_points = HashSet::new();
    for (i, m) in get_arr(errs, c, "volumeMounts", path).iter().enumerate() {
        let ip = mounts_path.index(i);
        if !m.is_object() {
            errs.push(type_error(&ip, m, "object"));
            continue;
        }
        let name = str_or_empty(errs, m, "name", &ip);
        if name.is_empty() {
            errs.push(FieldError::required(ip.child("name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(not_found(&ip.child("name"), Value::from(name)));
        }
        let mount_path = str_or_empty(errs, m, "mountPath", &ip);
        if mount_path.is_empty() {
            errs.push(FieldError::required(ip.child("mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(
                ip.child("mountPath"),
                Value::from(mount_path),
                "must be unique",
            ));
        }
        // Upstream reports sub-path problems on the list's path.
        let sub_path = str_or_empty(errs, m, "subPath", &ip);
        if !sub_path.is_empty() {
            local_descending_path(errs, sub_path, &mounts_path.child("subPath"));
        }
        let expr = str_or_empty(errs, m, "subPathExpr", &ip);
        if !expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    ip.child("subPathExpr"),
                    Value::from(expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(errs, expr, &mounts_path.child("subPathExpr"));
        }
        if let Some(mp) = get_str(errs, m, "mountPropagation", &ip) {
            not_supported_unless(
                errs,
                &mounts_path.child("mountPropagation"),
                mp,
                &["Bidirectional", "HostToContainer", "None"],
            );
        }
    }
}

/// Whether a resource name is native (unprefixed or in `kubernetes.io/`).
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_huge_pages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// Upstream's `IsExtendedResourceName`.
fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && names::qualified_name(&format!("requests.{name}")).is_empty()
}

/// Upstream's `validateContainerResourceName`.
fn validate_resource_name(errs: &mut Errs, name: &str, path: &Path) {
    const STANDARD: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
    ];
    let msgs = names::qualified_name(name);
    let unprefixed = !name.contains('/');
    if !msgs.is_empty() {
        invalid_each(errs, path, name, msgs);
    } else if unprefixed
        && !STANDARD.contains(&name)
        && !is_huge_pages(name)
        && !name.starts_with("requests.hugepages-")
    {
        errs.push(FieldError::invalid(
            path,
            Value::from(name),
            "must be a standard resource type or fully qualified",
        ));
    }
    if unprefixed {
        if !["cpu", "memory", "ephemeral-storage"].contains(&name) && !is_huge_pages(name) {
            errs.push(FieldError::invalid(
                path,
                Value::from(name),
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            Value::from(name),
            "doesn't follow extended resource name standard",
        ));
    }
}

/// One resource list (`limits` or `requests`): names and quantities checked, parsed values
/// returned.
fn resource_list<'a>(
    errs: &mut Errs,
    res: &'a Value,
    key: &str,
    path: &Path,
) -> Vec<(&'a str, Quantity)> {
    let list_path = path.child(key);
    let mut out = Vec::new();
    let Some(v) = get(res, key) else {
        return out;
    };
    let Some(map) = v.as_object() else {
        errs.push(type_error(&list_path, v, "object"));
        return out;
    };
    for (name, q) in map {
        let p = list_path.key(name);
        validate_resource_name(errs, name, &p);
        match parse_quantity(q) {
            Err(msg) => errs.push(FieldError::invalid(&p, q.clone(), msg)),
            Ok(q) => {
                if q.value < 0.0 {
                    errs.push(FieldError::invalid(
                        &p,
                        Value::from(q.text.clone()),
                        IS_NEGATIVE,
                    ));
                }
                if is_extended_resource(name) && q.value.fract() != 0.0 {
                    errs.push(FieldError::invalid(
                        &p,
                        Value::from(q.text.clone()),
                        "must be an integer",
                    ));
                }
                out.push((name.as_str(), q));
            }
        }
    }
    out
}

/// Upstream's `ValidateResourceRequirements` for a container.
fn validate_resources(errs: &mut Errs, c: &Value, path: &Path) {
    let rp = path.child("resources");
    let res = obj_or_null(errs, c, "resources", path);
    let limits = resource_list(errs, res, "limits", &rp);
    let requests = resource_list(errs, res, "requests", &rp);
    let compute = |l: &[(&str, Quantity)]| l.iter().any(|(n, _)| *n == "cpu" || *n == "memory");
    let huge = |l: &[(&str, Quantity)]| l.iter().any(|(n, _)| is_huge_pages(n));
    for (name, req) in &requests {
        let overcommit = is_native_resource(name) && !is_huge_pages(name);
        match limits.iter().find(|(n, _)| n == name) {
            Some((_, lim)) => {
                if !overcommit && req.value != lim.value {
                    errs.push(FieldError::invalid(
                        rp.child("requests"),
                        Value::from(req.text.clone()),
                        format!("must be equal to {name} limit of {}", lim.text),
                    ));
                } else if req.value > lim.value {
                    errs.push(FieldError::invalid(
                        rp.child("requests"),
                        Value::from(req.text.clone()),
                        format!("must be less than or equal to {name} limit of {}", lim.text),
                    ));
                }
            }
            None if !overcommit => errs.push(FieldError::required(
                rp.child("limits"),
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
    }
    if !compute(&limits) && !compute(&requests) && (huge(&limits) || huge(&requests)) {
        errs.push(FieldError::forbidden(
            &rp,
            "HugePages require cpu or memory",
        ));
    }
}

/// The kinds of probes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    Liveness,
    Readiness,
    Startup,
}

/// Upstream's `validateHandler`: exactly one handler of the allowed kinds.
fn validate_handler(errs: &mut Errs, h: &Value, path: &Path, kinds: &[&str]) {
    let mut found = 0;
    for key in kinds {
        let Some(v) = get(h, key) else { continue };
        let p = path.child(key);
        if found > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        found += 1;
        match *key {
            "exec" if get_str_list(errs, v, "command", &p).is_empty() => {
                errs.push(FieldError::required(p.child("command"), ""));
            }
            "httpGet" | "tcpSocket" => {
                port_num_or_name(
                    errs,
                    get(v, "port").unwrap_or(&Value::from(0)),
                    &p.child("port"),
                );
                if let Some(scheme) = get_str(errs, v, "scheme", &p) {
                    not_supported_unless(errs, &p.child("scheme"), scheme, &["HTTP", "HTTPS"]);
                }
            }
            "grpc" => {
                let port = get_int(errs, v, "port", &p).unwrap_or(0);
                port_number(errs, port, &p.child("port"));
            }
            _ => {}
        }
    }
    if found == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
}

/// Upstream's `validateProbe` and its liveness/readiness/startup variants.
fn validate_probe(errs: &mut Errs, c: &Value, key: &str, path: &Path, kind: Probe) {
    let Some(probe) = get(c, key) else {
        return;
    };
    let p = path.child(key);
    if !probe.is_object() {
        errs.push(type_error(&p, probe, "object"));
        return;
    }
    validate_handler(errs, probe, &p, &["exec", "httpGet", "tcpSocket", "grpc"]);
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        nonnegative_at(errs, probe, field, &p);
    }
    if let Some(tgps) = get_int(errs, probe, "terminationGracePeriodSeconds", &p) {
        if kind == Probe::Readiness {
            errs.push(FieldError::forbidden(
                p.child("terminationGracePeriodSeconds"),
                "must not be set for readinessProbes",
            ));
        } else if tgps <= 0 {
            errs.push(FieldError::invalid(
                p.child("terminationGracePeriodSeconds"),
                Value::from(tgps),
                "must be greater than 0",
            ));
        }
    }
    if kind != Probe::Readiness
        && let Some(st) = get(probe, "successThreshold").and_then(Value::as_i64)
        && st != 1
    {
        errs.push(FieldError::invalid(
            p.child("successThreshold"),
            Value::from(st),
            "must be 1",
        ));
    }
}

/// Upstream's `validateLifecycle`.
fn validate_lifecycle(errs: &mut Errs, c: &Value, path: &Path) {
    let lp = path.child("lifecycle");
    let lifecycle = obj_or_null(errs, c, "lifecycle", path);
    for hook in ["postStart", "preStop"] {
        if let Some(h) = get(lifecycle, hook) {
            validate_handler(
                errs,
                h,
                &lp.child(hook),
                &["exec", "httpGet", "tcpSocket", "sleep"],
            );
        }
    }
}

/// Upstream's `ValidateTolerations`.
fn validate_tolerations(errs: &mut Errs, spec: &Value, path: &Path) {
    let tpath = path.child("tolerations");
    for (i, t) in get_arr(errs, spec, "tolerations", path).iter().enumerate() {
        let ip = tpath.index(i);
        if !t.is_object() {
            errs.push(type_error(&ip, t, "object"));
            continue;
        }
        let key = str_or_empty(errs, t, "key", &ip);
        let op = str_or_empty(errs, t, "operator", &ip);
        let value = str_or_empty(errs, t, "value", &ip);
        let effect = str_or_empty(errs, t, "effect", &ip);
        if !key.is_empty() {
            invalid_each(errs, &ip.child("key"), key, names::qualified_name(key));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                ip.child("operator"),
                Value::from(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if get_int(errs, t, "tolerationSeconds", &ip).is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                ip.child("effect"),
                Value::from(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "" | "Equal" => {
                let msgs = names::label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        ip.child("operator"),
                        Value::from(value),
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        ip.child("operator"),
                        t.clone(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            _ => errs.push(FieldError::not_supported(
                ip.child("operator"),
                Value::from(op),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            let valid = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
            if !valid.contains(&effect) {
                errs.push(FieldError::not_supported(
                    ip.child("effect"),
                    Value::from(effect),
                    &valid,
                ));
            }
        }
    }
}

/// Sets or removes `key` of an object.
fn set_or_remove(map: &mut Map<String, Value>, key: &str, v: Option<&Value>) {
    match v {
        Some(v) => {
            map.insert(key.to_string(), v.clone());
        }
        None => {
            map.remove(key);
        }
    }
}

/// Upstream's `ValidatePodUpdate`: only images, activeDeadlineSeconds, added tolerations, a
/// negative grace period raised to 1 and removed scheduling gates may change.
/// The fields an ephemeral container may set (upstream's allow list); any other is
/// `Forbidden: cannot be set for an Ephemeral Container`.
const EPHEMERAL_ALLOWED: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "volumeMounts",
    "volumeDevices",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "targetContainerName",
];

/// Upstream's `ValidatePodEphemeralContainersUpdate`: existing ephemeral containers may not
/// be removed or changed; new ones need a unique DNS-label name and an image, set only the
/// allowed fields, and target an existing container.
fn validate_ephemeral_containers_update(
    errs: &mut Errs,
    new_spec: &Value,
    old_spec: &Value,
    sp: &Path,
) {
    let path = sp.child("ephemeralContainers");
    let mut scratch = Vec::new();
    let new_list = get_arr(&mut scratch, new_spec, "ephemeralContainers", sp);
    let old_list = get_arr(&mut scratch, old_spec, "ephemeralContainers", sp);
    let name_of = |c: &Value| {
        get(c, "name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for old in old_list {
        let name = name_of(old);
        match new_list.iter().find(|c| name_of(c) == name) {
            None => errs.push(FieldError::forbidden(
                path.clone(),
                format!("existing ephemeral containers {name:?} may not be removed\n"),
            )),
            Some(new) if new != old => errs.push(FieldError::forbidden(
                path.clone(),
                format!("existing ephemeral containers {name:?} may not be changed\n"),
            )),
            Some(_) => {}
        }
    }
    let mut names: HashSet<String> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| {
            get_arr(&mut Vec::new(), new_spec, k, sp)
                .iter()
                .map(&name_of)
                .collect::<Vec<_>>()
        })
        .collect();
    let targets = names.clone();
    for (i, c) in new_list.iter().enumerate() {
        let at = path.index(i);
        let Some(fields) = c.as_object() else {
            errs.push(type_error(&at, c, "object"));
            continue;
        };
        let name = name_of(c);
        if name.is_empty() {
            errs.push(FieldError::required(at.child("name"), ""));
        } else {
            invalid_each(errs, &at.child("name"), &name, names::dns1123_label(&name));
            if !names.insert(name.clone()) {
                errs.push(FieldError::duplicate(
                    at.child("name"),
                    Value::from(name.as_str()),
                ));
            }
        }
        if old_list.iter().any(|o| name_of(o) == name) {
            continue;
        }
        required_str(errs, c, "image", &at);
        for key in fields.keys() {
            // A zero value (Go's check is on the struct: `resources: {}` is unset).
            let zero = match fields.get(key) {
                None | Some(Value::Null) => true,
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::String(s)) => s.is_empty(),
                Some(Value::Bool(b)) => !b,
                Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            };
            if !EPHEMERAL_ALLOWED.contains(&key.as_str()) && !zero {
                errs.push(FieldError::forbidden(
                    at.child(key),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        if let Some(target) = get(c, "targetContainerName").and_then(Value::as_str)
            && !target.is_empty()
            && !targets.contains(target)
        {
            errs.push(FieldError::not_found(
                at.child("targetContainerName"),
                Value::from(target),
            ));
        }
    }
}

fn validate_pod_update(errs: &mut Errs, new: &Value, old: &Value) {
    let sp = Path::new("spec");
    let new_spec = get(new, "spec").filter(|v| v.is_object()).unwrap_or(&NULL);
    let old_spec = get(old, "spec").filter(|v| v.is_object()).unwrap_or(&NULL);
    let mut scratch = Vec::new();

    for key in ["containers", "initContainers"] {
        let nc = get_arr(&mut scratch, new_spec, key, &sp);
        let oc = get_arr(&mut scratch, old_spec, key, &sp);
        if nc.len() != oc.len() {
            errs.push(FieldError::forbidden(
                sp.child(key),
                "pod updates may not add or remove containers",
            ));
            return;
        }
        for (i, c) in nc.iter().enumerate() {
            let image = get(c, "image").and_then(Value::as_str).unwrap_or("");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    sp.child(key).index(i).child("image"),
                    Value::from(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }

    let ads_path = sp.child("activeDeadlineSeconds");
    let new_ads = get(new_spec, "activeDeadlineSeconds").and_then(Value::as_i64);
    let old_ads = get(old_spec, "activeDeadlineSeconds").and_then(Value::as_i64);
    match (new_ads, old_ads) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                ads_path,
                Value::from(n),
                "must be between 0 and 2147483647, inclusive",
            ));
            return;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                ads_path,
                Value::from(n),
                "must be less than or equal to previous value",
            ));
            return;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            ads_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }

    validate_ephemeral_containers_update(errs, new_spec, old_spec, &sp);
    let mut munged = new_spec.clone();
    let Some(m) = munged.as_object_mut() else {
        return;
    };
    // Ephemeral containers change through their own subresource, checked above.
    set_or_remove(
        m,
        "ephemeralContainers",
        get(old_spec, "ephemeralContainers"),
    );
    for key in ["containers", "initContainers"] {
        let old_list = get(old_spec, key).and_then(Value::as_array);
        if let (Some(list), Some(old_list)) =
            (m.get_mut(key).and_then(Value::as_array_mut), old_list)
        {
            for (c, oc) in list.iter_mut().zip(old_list) {
                if let Some(c) = c.as_object_mut() {
                    set_or_remove(c, "image", get(oc, "image"));
                }
            }
        }
    }
    set_or_remove(
        m,
        "activeDeadlineSeconds",
        get(old_spec, "activeDeadlineSeconds"),
    );

    // Tolerations: the old ones must stay (tolerationSeconds may change); new ones may be added.
    let new_tol = get_arr(&mut scratch, new_spec, "tolerations", &sp);
    for old_t in get_arr(&mut scratch, old_spec, "tolerations", &sp) {
        let strip = |t: &Value| {
            let mut t = t.clone();
            if let Some(o) = t.as_object_mut() {
                o.remove("tolerationSeconds");
            }
            t
        };
        let wanted = strip(old_t);
        if !new_tol.iter().any(|t| strip(t) == wanted) {
            errs.push(FieldError::forbidden(
                sp.child("tolerations"),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    set_or_remove(m, "tolerations", get(old_spec, "tolerations"));

    let new_grace = get(new_spec, "terminationGracePeriodSeconds").and_then(Value::as_i64);
    let old_grace = get(old_spec, "terminationGracePeriodSeconds").and_then(Value::as_i64);
    if matches!(old_grace, Some(g) if g < 0) && new_grace == Some(1) {
        set_or_remove(
            m,
            "terminationGracePeriodSeconds",
            get(old_spec, "terminationGracePeriodSeconds"),
        );
    }

    // A pod with scheduling gates may drop gates and add node selector entries.
    let old_gates = get_arr(&mut scratch, old_spec, "schedulingGates", &sp);
    if !old_gates.is_empty() {
        for g in get_arr(&mut scratch, new_spec, "schedulingGates", &sp) {
            if !old_gates.contains(g) {
                let name = get(g, "name").and_then(Value::as_str).unwrap_or("");
                errs.push(FieldError::forbidden(
                    sp.child("schedulingGates"),
                    format!("only deletion is allowed, but found new scheduling gate '{name}'"),
                ));
            }
        }
        set_or_remove(m, "schedulingGates", get(old_spec, "schedulingGates"));
        let new_sel = get_str_map(&mut scratch, new_spec, "nodeSelector", &sp);
        let old_sel = get_str_map(&mut scratch, old_spec, "nodeSelector", &sp);
        if old_sel.iter().all(|kv| new_sel.contains(kv)) {
            set_or_remove(m, "nodeSelector", get(old_spec, "nodeSelector"));
        } else {
            errs.push(FieldError::forbidden(
                sp.child("nodeSelector"),
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            ));
        }
    }

    if munged != *old_spec {
        let mut lines = Vec::new();
        json_diff("", Some(old_spec), Some(&munged), &mut lines);
        lines.truncate(40);
        errs.push(FieldError::forbidden(
            sp,
            format!(
                "pod updates may not change fields other than {}\n  core.PodSpec{{\n{}\n  }}\n",
                UPDATABLE_POD_FIELDS.join(","),
                lines.join("\n")
            ),
        ));
    }
}

/// A line-per-leaf diff of two JSON values, in the spirit of `cmp.Diff`.
fn json_diff(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                json_diff(&p, a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                json_diff(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (a, b) if a != b => {
            if let Some(a) = a {
                out.push(format!("- \t{path}: {a}"));
            }
            if let Some(b) = b {
                out.push(format!("+ \t{path}: {b}"));
            }
        }
        _ => {}
    }
}
