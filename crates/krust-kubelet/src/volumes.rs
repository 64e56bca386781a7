//! Pod volumes prepared on the host, under `<agent_dir>/pods/<uid>/volumes/<plugin>/<name>`
//! with upstream's plugin directory names, and the CRI mounts of each container:
//!
//! - `emptyDir`: a directory; `medium: Memory` is a tmpfs (`mount -t tmpfs`, sized by
//!   `sizeLimit`), unmounted when the pod is removed;
//! - `configMap`, `secret`, `downwardAPI`, `projected`: files with keys/items/mode/defaultMode
//!   in the atomic `..data` layout ([`crate::atomic_writer`]), rewritten when the source
//!   changes;
//! - `hostPath`: the host path itself, after upstream's type checks (`DirectoryOrCreate`,
//!   `Directory`, `FileOrCreate`, `File`, `Socket`, `CharDevice`, `BlockDevice`);
//! - the ServiceAccount volume upstream's admission adds (`kube-api-access-*`: token, `ca.crt`,
//!   `namespace`) is added here when the pod has none and automounting is not disabled, and
//!   mounted at `/var/run/secrets/kubernetes.io/serviceaccount`.

use crate::atomic_writer::{self, FileData};
use crate::env::{format_map, pod_field_value};
use crate::resources::resource_field_value;
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, Secret, Volume,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where ServiceAccount credentials are mounted.
pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Name of the ServiceAccount volume the unit tests build (the API server's ServiceAccount
/// admission adds `kube-api-access-<random>` to real pods).
#[cfg(test)]
const SERVICE_ACCOUNT_VOLUME: &str = "kube-api-access-krust";
/// Default file mode of configMap, secret, downwardAPI and projected volumes (0644).
pub const DEFAULT_MODE: u32 = 0o644;
/// Token lifetime of the ServiceAccount volume (upstream's 3607 s).
pub const TOKEN_EXPIRATION: i64 = 3607;

/// Why a volume could not be set up (the pod then waits in ContainerCreating with a
/// `FailedMount` event: `MountVolume.SetUp failed for volume "x" : <message>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

fn verr(volume: &str, message: impl Into<String>) -> VolumeError {
    VolumeError {
        volume: volume.to_string(),
        message: message.into(),
    }
}

/// A ServiceAccount token a projected volume needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenSpec {
    pub service_account: String,
    pub audience: Option<String>,
    pub expiration_seconds: i64,
}

/// What the volumes are built from (fetched by the pod worker).
#[derive(Debug, Clone, Copy)]
pub struct VolumeSources<'a> {
    pub config_maps: &'a HashMap<String, ConfigMap>,
    pub secrets: &'a HashMap<String, Secret>,
    /// Tokens by their spec (absent: the token subresource is not available).
    pub tokens: &'a HashMap<TokenSpec, String>,
    /// The cluster CA (for `ca.crt` when `kube-root-ca.crt` does not exist).
    pub ca_pem: &'a str,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    pub node_allocatable: &'a BTreeMap<String, String>,
}

/// The plugin directory of a volume (upstream's escaped plugin names).
pub fn plugin_dir(v: &Volume) -> Option<&'static str> {
    if v.empty_dir.is_some() {
        Some("kubernetes.io~empty-dir")
    } else if v.config_map.is_some() {
        Some("kubernetes.io~configmap")
    } else if v.secret.is_some() {
        Some("kubernetes.io~secret")
    } else if v.downward_api.is_some() {
        Some("kubernetes.io~downward-api")
    } else if v.projected.is_some() {
        Some("kubernetes.io~projected")
    } else {
        None
    }
}

#[cfg(test)]
fn automount(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return false };
    if spec.automount_service_account_token == Some(false) {
        return false;
    }
    let has_volume = spec.volumes.iter().flatten().any(|v| {
        v.name.starts_with("kube-api-access-")
            || v.projected.as_ref().is_some_and(|p| {
                p.sources
                    .iter()
                    .flatten()
                    .any(|s| s.service_account_token.is_some())
            })
    });
    let mounted = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            c.volume_mounts
                .iter()
                .flatten()
                .any(|m| m.mount_path.trim_end_matches('/') == SERVICE_ACCOUNT_MOUNT)
        });
    !has_volume && !mounted
}

/// The pod with a ServiceAccount volume and its mounts added, as the API server's admission
/// adds them (unless the pod already has one or opts out): a fixture for the volume tests.
#[cfg(test)]
fn with_service_account_volume(pod: &Pod) -> Pod {
    if !automount(pod) {
        return pod.clone();
    }
    let mut pod = pod.clone();
    let volume: Volume = match serde_json::from_value(serde_json::json!({
        "name": SERVICE_ACCOUNT_VOLUME,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    })) {
        Ok(v) => v,
        Err(_) => return pod,
    };
    if let Some(spec) = pod.spec.as_mut() {
        spec.volumes.get_or_insert_with(Vec::new).push(volume);
        let mount = k8s_openapi::api::core::v1::VolumeMount {
            name: SERVICE_ACCOUNT_VOLUME.to_string(),
            mount_path: SERVICE_ACCOUNT_MOUNT.to_string(),
            read_only: Some(true),
            ..Default::default()
        };
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            c.volume_mounts
                .get_or_insert_with(Vec::new)
                .push(mount.clone());
        }
    }
    pod
}

/// The ConfigMaps and Secrets a pod references (env, envFrom, volumes), by name.
pub fn referenced_objects(pod: &Pod) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut cms = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let Some(spec) = &pod.spec else {
        return (cms, secrets);
    };
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in c.env.iter().flatten() {
            if let Some(f) = &e.value_from {
                if let Some(r) = &f.config_map_key_ref {
                    cms.insert(r.name.clone());
                }
                if let Some(r) = &f.secret_key_ref {
                    secrets.insert(r.name.clone());
                }
            }
        }
        for e in c.env_from.iter().flatten() {
            if let Some(r) = &e.config_map_ref {
                cms.insert(r.name.clone());
            }
            if let Some(r) = &e.secret_ref {
                secrets.insert(r.name.clone());
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            cms.insert(c.name.clone());
        }
        if let Some(s) = &v.secret
            && let Some(n) = &s.secret_name
        {
            secrets.insert(n.clone());
        }
        if let Some(p) = &v.projected {
            for s in p.sources.iter().flatten() {
                if let Some(c) = &s.config_map {
                    cms.insert(c.name.clone());
                }
                if let Some(c) = &s.secret {
                    secrets.insert(c.name.clone());
                }
            }
        }
    }
    (cms, secrets)
}

/// The ServiceAccount tokens a pod's projected volumes need.
pub fn token_specs(pod: &Pod) -> Vec<TokenSpec> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let sa = spec
        .service_account_name
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string());
    spec.volumes
        .iter()
        .flatten()
        .filter_map(|v| v.projected.as_ref())
        .flat_map(|p| p.sources.iter().flatten())
        .filter_map(|s| s.service_account_token.as_ref())
        .map(|t| TokenSpec {
            service_account: sa.clone(),
            audience: t.audience.clone().filter(|a| !a.is_empty()),
            expiration_seconds: t.expiration_seconds.unwrap_or(3600),
        })
        .collect()
}

fn mode_of(item: Option<i32>, default: Option<i32>) -> u32 {
    item.or(default)
        .map_or(DEFAULT_MODE, |m| (m as u32) & 0o7777)
}

fn key_data<'a>(
    data: impl Fn(&str) -> Option<Vec<u8>> + 'a,
    all_keys: Vec<String>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    missing_key: impl Fn(&str) -> String,
    optional: bool,
) -> Result<BTreeMap<String, FileData>, String> {
    let mut out = BTreeMap::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for k in all_keys {
                if let Some(d) = data(&k) {
                    out.insert(
                        k,
                        FileData {
                            data: d,
                            mode: mode_of(None, default_mode),
                        },
                    );
                }
            }
        }
        Some(items) => {
            for it in items {
                match data(&it.key) {
                    Some(d) => {
                        out.insert(
                            it.path.clone(),
                            FileData {
                                data: d,
                                mode: mode_of(it.mode, default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => return Err(missing_key(&it.key)),
                }
            }
        }
    }
    Ok(out)
}

/// The files of a ConfigMap (data and binaryData).
pub fn config_map_payload(
    cm: &ConfigMap,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<BTreeMap<String, FileData>, String> {
    let mut keys: Vec<String> = cm.data.iter().flatten().map(|(k, _)| k.clone()).collect();
    keys.extend(cm.binary_data.iter().flatten().map(|(k, _)| k.clone()));
    let data = |k: &str| -> Option<Vec<u8>> {
        cm.data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|v| v.as_bytes().to_vec())
            .or_else(|| {
                cm.binary_data
                    .as_ref()
                    .and_then(|d| d.get(k))
                    .map(|v| v.0.clone())
            })
    };
    key_data(
        data,
        keys,
        items,
        default_mode,
        |k| format!("configmap references non-existent config key: {k}"),
        optional,
    )
}

/// The files of a Secret.
pub fn secret_payload(
    s: &Secret,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<BTreeMap<String, FileData>, String> {
    let keys: Vec<String> = s.data.iter().flatten().map(|(k, _)| k.clone()).collect();
    let data = |k: &str| -> Option<Vec<u8>> {
        s.data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|v| v.0.clone())
            .or_else(|| {
                s.string_data
                    .as_ref()
                    .and_then(|d| d.get(k))
                    .map(|v| v.as_bytes().to_vec())
            })
    };
    key_data(
        data,
        keys,
        items,
        default_mode,
        |k| format!("references non-existent secret key: {k}"),
        optional,
    )
}

/// The files of a downward API volume (or projection).
pub fn downward_payload(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
    src: &VolumeSources<'_>,
) -> Result<BTreeMap<String, FileData>, String> {
    let mut out = BTreeMap::new();
    for it in items {
        let value = if let Some(f) = &it.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => format_map(pod.metadata.labels.as_ref()),
                "metadata.annotations" => format_map(pod.metadata.annotations.as_ref()),
                path => pod_field_value(pod, path, src.pod_ip, src.host_ip)
                    .map_err(|e| e.to_string())?,
            }
        } else if let Some(r) = &it.resource_field_ref {
            let spec = pod.spec.as_ref();
            let container: Option<&Container> = spec.and_then(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
                    .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
            });
            match container {
                Some(c) => resource_field_value(
                    c,
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                    src.node_allocatable,
                )?,
                None => {
                    return Err(format!(
                        "container {:?} not found for resourceFieldRef",
                        r.container_name.clone().unwrap_or_default()
                    ));
                }
            }
        } else {
            continue;
        };
        out.insert(
            it.path.clone(),
            FileData {
                data: value.into_bytes(),
                mode: mode_of(it.mode, default_mode),
            },
        );
    }
    Ok(out)
}

/// The files of an atomic-writer volume (configMap, secret, downwardAPI, projected); `Ok(None)`
/// for other kinds.
pub fn payload(
    pod: &Pod,
    v: &Volume,
    src: &VolumeSources<'_>,
) -> Result<Option<BTreeMap<String, FileData>>, String> {
    if let Some(c) = &v.config_map {
        let optional = c.optional == Some(true);
        return match src.config_maps.get(&c.name) {
            Some(cm) => {
                config_map_payload(cm, c.items.as_ref(), c.default_mode, optional).map(Some)
            }
            None if optional => Ok(Some(BTreeMap::new())),
            None => Err(format!("configmap \"{}\" not found", c.name)),
        };
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let optional = s.optional == Some(true);
        return match src.secrets.get(&name) {
            Some(sec) => secret_payload(sec, s.items.as_ref(), s.default_mode, optional).map(Some),
            None if optional => Ok(Some(BTreeMap::new())),
            None => Err(format!("secret \"{name}\" not found")),
        };
    }
    if let Some(d) = &v.downward_api {
        let items = d.items.clone().unwrap_or_default();
        return downward_payload(pod, &items, d.default_mode, src).map(Some);
    }
    if let Some(p) = &v.projected {
        let mut out = BTreeMap::new();
        let sa = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_string());
        for s in p.sources.iter().flatten() {
            if let Some(c) = &s.config_map {
                let optional = c.optional == Some(true);
                match src.config_maps.get(&c.name) {
                    Some(cm) => out.extend(config_map_payload(
                        cm,
                        c.items.as_ref(),
                        p.default_mode,
                        optional,
                    )?),
                    None if c.name == "kube-root-ca.crt" && !src.ca_pem.is_empty() => {
                        // The root-CA publisher has not run (yet): the kubelet's own CA.
                        let path = c
                            .items
                            .iter()
                            .flatten()
                            .find(|i| i.key == "ca.crt")
                            .map_or("ca.crt".to_string(), |i| i.path.clone());
                        out.insert(
                            path,
                            FileData {
                                data: src.ca_pem.as_bytes().to_vec(),
                                mode: mode_of(None, p.default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => return Err(format!("configmap \"{}\" not found", c.name)),
                }
            }
            if let Some(c) = &s.secret {
                let optional = c.optional == Some(true);
                match src.secrets.get(&c.name) {
                    Some(sec) => out.extend(secret_payload(
                        sec,
                        c.items.as_ref(),
                        p.default_mode,
                        optional,
                    )?),
                    None if optional => {}
                    None => return Err(format!("secret \"{}\" not found", c.name)),
                }
            }
            if let Some(d) = &s.downward_api {
                let items = d.items.clone().unwrap_or_default();
                out.extend(downward_payload(pod, &items, p.default_mode, src)?);
            }
            if let Some(t) = &s.service_account_token {
                let spec = TokenSpec {
                    service_account: sa.clone(),
                    audience: t.audience.clone().filter(|a| !a.is_empty()),
                    expiration_seconds: t.expiration_seconds.unwrap_or(3600),
                };
                if let Some(token) = src.tokens.get(&spec) {
                    out.insert(
                        t.path.clone(),
                        FileData {
                            data: token.as_bytes().to_vec(),
                            mode: mode_of(None, p.default_mode),
                        },
                    );
                }
            }
        }
        return Ok(Some(out));
    }
    Ok(None)
}

/// Checks (and for the `…OrCreate` types, creates) a hostPath.
pub fn check_host_path(path: &Path, type_: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path);
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {} is not {what}",
            path.display()
        ))
    };
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" => {
            if meta.is_err() {
                std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
                return Ok(());
            }
            if meta.is_ok_and(|m| m.is_dir()) {
                Ok(())
            } else {
                fail("a directory")
            }
        }
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            _ => fail("a directory"),
        },
        "FileOrCreate" => {
            if meta.is_err() {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path)
                    .map_err(|e| e.to_string())?;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
                return Ok(());
            }
            if meta.is_ok_and(|m| m.is_file()) {
                Ok(())
            } else {
                fail("a file")
            }
        }
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            _ => fail("a file"),
        },
        "Socket" => match meta {
            Ok(m) if m.file_type().is_socket() => Ok(()),
            _ => fail("a socket file"),
        },
        "CharDevice" => match meta {
            Ok(m) if m.file_type().is_char_device() => Ok(()),
            _ => fail("a character device"),
        },
        "BlockDevice" => match meta {
            Ok(m) if m.file_type().is_block_device() => Ok(()),
            _ => fail("a block device"),
        },
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

/// Whether `dir` is a mount point (listed in `/proc/mounts`).
pub fn is_mounted(dir: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return false;
    };
    let want = dir.to_string_lossy();
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|m| m.replace("\\040", " ") == want)
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The host directories of a pod's volumes, by volume name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    pub paths: HashMap<String, PathBuf>,
}

/// Sets up every volume of `pod` under `pod_dir` (idempotent: configMap, secret, downwardAPI
/// and projected volumes are rewritten when their content changed). Returns the host paths
/// and, for each volume whose content changed, its name.
pub fn prepare(
    pod: &Pod,
    pod_dir: &Path,
    src: &VolumeSources<'_>,
) -> Result<(Prepared, Vec<String>), VolumeError> {
    let mut out = Prepared::default();
    let mut changed = Vec::new();
    let Some(spec) = &pod.spec else {
        return Ok((out, changed));
    };
    for v in spec.volumes.iter().flatten() {
        if let Some(h) = &v.host_path {
            let path = PathBuf::from(&h.path);
            check_host_path(&path, h.type_.as_deref().unwrap_or(""))
                .map_err(|m| verr(&v.name, m))?;
            out.paths.insert(v.name.clone(), path);
            continue;
        }
        let Some(plugin) = plugin_dir(v) else {
            // persistentVolumeClaim and others: not supported on this node yet.
            return Err(verr(&v.name, "volume type not supported by this node"));
        };
        let dir = pod_dir.join("volumes").join(plugin).join(&v.name);
        if let Some(e) = &v.empty_dir {
            std::fs::create_dir_all(&dir).map_err(|e| verr(&v.name, e.to_string()))?;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
            if e.medium.as_deref() == Some("Memory") && !is_mounted(&dir) {
                let mut opts = "mode=1777".to_string();
                if let Some(limit) = e
                    .size_limit
                    .as_ref()
                    .and_then(|q| krust_api::quantity::Quantity::parse(&q.0).ok())
                {
                    opts.push_str(&format!(",size={}", limit.value().max(4096)));
                }
                run(
                    "mount",
                    &["-t", "tmpfs", "-o", &opts, "tmpfs", &dir.to_string_lossy()],
                )
                .map_err(|m| verr(&v.name, m))?;
            }
            out.paths.insert(v.name.clone(), dir);
            continue;
        }
        match payload(pod, v, src) {
            Ok(Some(files)) => {
                let wrote =
                    atomic_writer::write(&dir, &files).map_err(|e| verr(&v.name, e.to_string()))?;
                if wrote {
                    changed.push(v.name.clone());
                }
                out.paths.insert(v.name.clone(), dir);
            }
            Ok(None) => {}
            Err(m) => return Err(verr(&v.name, m)),
        }
    }
    Ok((out, changed))
}

/// Unmounts a pod's tmpfs volumes and removes its directory.
pub fn cleanup(pod_dir: &Path) {
    let empty = pod_dir.join("volumes").join("kubernetes.io~empty-dir");
    if let Ok(entries) = std::fs::read_dir(&empty) {
        for e in entries.flatten() {
            let p = e.path();
            if is_mounted(&p) {
                let _ = run("umount", &[&p.to_string_lossy()]);
            }
        }
    }
    // Never follow into a still-mounted tmpfs (a failed umount): remove what we can.
    if !volumes_still_mounted(pod_dir) {
        let _ = std::fs::remove_dir_all(pod_dir);
    }
}

fn volumes_still_mounted(pod_dir: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return false;
    };
    let prefix = format!("{}/", pod_dir.to_string_lossy());
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|m| m.starts_with(&prefix))
}

/// The CRI mounts of container `c`.
pub fn container_mounts(
    c: &Container,
    prepared: &Prepared,
    pod: &Pod,
) -> Result<Vec<cri::Mount>, String> {
    let mut out = Vec::new();
    let volumes: HashMap<&str, &Volume> = pod
        .spec
        .as_ref()
        .map(|s| {
            s.volumes
                .iter()
                .flatten()
                .map(|v| (v.name.as_str(), v))
                .collect()
        })
        .unwrap_or_default();
    for m in c.volume_mounts.iter().flatten() {
        let Some(host) = prepared.paths.get(&m.name) else {
            return Err(format!(
                "volume {:?} of mount {:?} is not prepared",
                m.name, m.mount_path
            ));
        };
        let mut host = host.clone();
        let sub = m
            .sub_path
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| m.sub_path_expr.clone().filter(|s| !s.is_empty()));
        if let Some(sub) = sub {
            if !atomic_writer::valid_path(&sub) {
                return Err(format!("invalid subPath {sub:?}"));
            }
            host = host.join(&sub);
            if std::fs::symlink_metadata(&host).is_err() {
                std::fs::create_dir_all(&host).map_err(|e| e.to_string())?;
            }
        }
        let atomic = volumes.get(m.name.as_str()).is_some_and(|v| {
            v.config_map.is_some()
                || v.secret.is_some()
                || v.downward_api.is_some()
                || v.projected.is_some()
        });
        let propagation = match m.mount_propagation.as_deref() {
            Some("HostToContainer") => cri::MountPropagation::PropagationHostToContainer,
            Some("Bidirectional") => cri::MountPropagation::PropagationBidirectional,
            _ => cri::MountPropagation::PropagationPrivate,
        };
        out.push(cri::Mount {
            container_path: m.mount_path.clone(),
            host_path: host.to_string_lossy().into_owned(),
            readonly: m.read_only == Some(true) || atomic,
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"limits": {"memory": "32Mi"}},
                "volumeMounts": [{"name": "cm", "mountPath": "/cm"}, {"name": "sec", "mountPath": "/s"},
                                 {"name": "dw", "mountPath": "/dw"}, {"name": "ed", "mountPath": "/ed", "subPath": "x"}]}],
                "volumes": [
                    {"name": "cm", "configMap": {"name": "cfg", "items": [{"key": "k1", "path": "dir/one", "mode": 256}]}},
                    {"name": "sec", "secret": {"secretName": "s", "defaultMode": 384}},
                    {"name": "dw", "downwardAPI": {"items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}},
                    {"name": "ed", "emptyDir": {}}
                ]}
        }))
        .unwrap()
    }

    #[test]
    fn lays_out_volumes_like_upstream() {
        let dir = tempfile::tempdir().unwrap();
        let pod = pod();
        let mut cms = HashMap::new();
        cms.insert(
            "cfg".to_string(),
            serde_json::from_value::<ConfigMap>(json!({"data": {"k1": "v1", "k2": "v2"}})).unwrap(),
        );
        let mut secrets = HashMap::new();
        secrets.insert(
            "s".to_string(),
            serde_json::from_value::<Secret>(json!({"data": {"pw": "aHVudGVyMg=="}})).unwrap(),
        );
        let tokens = HashMap::new();
        let alloc = BTreeMap::new();
        let src = VolumeSources {
            config_maps: &cms,
            secrets: &secrets,
            tokens: &tokens,
            ca_pem: "",
            pod_ip: "10.0.0.1",
            host_ip: "10.0.0.2",
            node_allocatable: &alloc,
        };
        let (prepared, changed) = prepare(&pod, dir.path(), &src).unwrap();
        assert_eq!(changed.len(), 3);
        let cm_dir = dir.path().join("volumes/kubernetes.io~configmap/cm");
        assert_eq!(
            std::fs::read_to_string(cm_dir.join("dir/one")).unwrap(),
            "v1"
        );
        assert!(!cm_dir.join("k2").exists());
        let mode = std::fs::metadata(cm_dir.join("dir/one"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o400);
        let s_dir = dir.path().join("volumes/kubernetes.io~secret/sec");
        assert_eq!(
            std::fs::read_to_string(s_dir.join("pw")).unwrap(),
            "hunter2"
        );
        let mode = std::fs::metadata(s_dir.join("pw"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let d_dir = dir.path().join("volumes/kubernetes.io~downward-api/dw");
        assert_eq!(
            std::fs::read_to_string(d_dir.join("labels")).unwrap(),
            "a=\"1\"\nb=\"2\""
        );
        assert_eq!(std::fs::read_to_string(d_dir.join("name")).unwrap(), "p");
        assert_eq!(std::fs::read_to_string(d_dir.join("mem")).unwrap(), "32");
        assert!(
            dir.path()
                .join("volumes/kubernetes.io~empty-dir/ed")
                .is_dir()
        );

        // Unchanged sources: nothing rewritten. A changed ConfigMap: rewritten.
        let (_, changed) = prepare(&pod, dir.path(), &src).unwrap();
        assert!(changed.is_empty());
        let mut cms2 = cms.clone();
        cms2.insert(
            "cfg".to_string(),
            serde_json::from_value::<ConfigMap>(json!({"data": {"k1": "new"}})).unwrap(),
        );
        let src2 = VolumeSources {
            config_maps: &cms2,
            ..src
        };
        let (_, changed) = prepare(&pod, dir.path(), &src2).unwrap();
        assert_eq!(changed, vec!["cm".to_string()]);
        assert_eq!(
            std::fs::read_to_string(cm_dir.join("dir/one")).unwrap(),
            "new"
        );

        let c = &pod.spec.as_ref().unwrap().containers[0];
        let mounts = container_mounts(c, &prepared, &pod).unwrap();
        assert_eq!(mounts.len(), 4);
        assert!(mounts[0].readonly, "configMap volumes are read-only");
        assert!(!mounts[3].readonly);
        assert!(mounts[3].host_path.ends_with("ed/x"));

        // A missing ConfigMap fails with upstream's message.
        let empty = HashMap::new();
        let src3 = VolumeSources {
            config_maps: &empty,
            ..src2
        };
        let err = prepare(&pod, dir.path(), &src3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MountVolume.SetUp failed for volume \"cm\" : configmap \"cfg\" not found"
        );
        cleanup(dir.path());
        assert!(!dir.path().exists());
    }

    #[test]
    fn service_account_volume() {
        let p = with_service_account_volume(&pod());
        let spec = p.spec.as_ref().unwrap();
        assert!(
            spec.volumes
                .as_ref()
                .unwrap()
                .iter()
                .any(|v| v.name == SERVICE_ACCOUNT_VOLUME)
        );
        assert!(
            spec.containers[0]
                .volume_mounts
                .as_ref()
                .unwrap()
                .iter()
                .any(|m| m.mount_path == SERVICE_ACCOUNT_MOUNT)
        );
        assert_eq!(token_specs(&p).len(), 1);
        // Added once only.
        let again = with_service_account_volume(&p);
        assert_eq!(again, p);
        let mut off = pod();
        off.spec.as_mut().unwrap().automount_service_account_token = Some(false);
        assert_eq!(with_service_account_volume(&off), off);

        let dir = tempfile::tempdir().unwrap();
        let cms = HashMap::new();
        let secrets = HashMap::new();
        let mut tokens = HashMap::new();
        tokens.insert(token_specs(&p)[0].clone(), "tok".to_string());
        let alloc = BTreeMap::new();
        let src = VolumeSources {
            config_maps: &cms,
            secrets: &secrets,
            tokens: &tokens,
            ca_pem: "-----BEGIN CERTIFICATE-----\n",
            pod_ip: "",
            host_ip: "",
            node_allocatable: &alloc,
        };
        let mut only_sa = p.clone();
        only_sa
            .spec
            .as_mut()
            .unwrap()
            .volumes
            .as_mut()
            .unwrap()
            .retain(|v| v.name == SERVICE_ACCOUNT_VOLUME);
        prepare(&only_sa, dir.path(), &src).unwrap();
        let d = dir
            .path()
            .join("volumes/kubernetes.io~projected")
            .join(SERVICE_ACCOUNT_VOLUME);
        assert_eq!(std::fs::read_to_string(d.join("token")).unwrap(), "tok");
        assert_eq!(std::fs::read_to_string(d.join("namespace")).unwrap(), "ns");
        assert!(
            std::fs::read_to_string(d.join("ca.crt"))
                .unwrap()
                .starts_with("-----BEGIN")
        );
    }

    #[test]
    fn host_path_types() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("made");
        check_host_path(&d, "DirectoryOrCreate").unwrap();
        assert!(d.is_dir());
        check_host_path(&d, "Directory").unwrap();
        let f = dir.path().join("f");
        check_host_path(&f, "FileOrCreate").unwrap();
        assert!(f.is_file());
        check_host_path(&f, "File").unwrap();
        assert_eq!(
            check_host_path(&f, "Directory").unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                f.display()
            )
        );
        assert!(check_host_path(&dir.path().join("nope"), "File").is_err());
        assert!(check_host_path(&f, "Socket").is_err());
        check_host_path(&dir.path().join("whatever"), "").unwrap();
    }
}
