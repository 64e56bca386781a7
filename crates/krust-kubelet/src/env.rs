//! Container environments as upstream's kubelet builds them (`makeEnvironmentVariables`):
//! `envFrom` sources first (ConfigMaps and Secrets, with their prefix), then `env` entries in
//! order — literal values with `$(VAR)` references expanded against what is defined so far and
//! the Service variables, `valueFrom` resolved from ConfigMaps, Secrets, the pod's own fields
//! (`fieldRef`) and the container's resources (`resourceFieldRef`) — then the Service
//! variables (`FOO_SERVICE_HOST`, Docker link style `FOO_PORT_80_TCP`, …) not already defined.

use crate::resources::resource_field_value;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use std::collections::{BTreeMap, HashMap};

/// Why a container's environment could not be built (the container then waits with reason
/// `CreateContainerConfigError` and this message, as upstream).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("configmap \"{0}\" not found")]
    ConfigMapNotFound(String),
    #[error("secret \"{0}\" not found")]
    SecretNotFound(String),
    #[error("couldn't find key {key} in ConfigMap {namespace}/{name}")]
    ConfigMapKey {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("couldn't find key {key} in Secret {namespace}/{name}")]
    SecretKey {
        key: String,
        namespace: String,
        name: String,
    },
    #[error("unsupported fieldRef {0:?}")]
    FieldPath(String),
    #[error("{0}")]
    Resource(String),
}

/// What a container's environment is built from: the pod, its addresses, the objects it
/// references (fetched beforehand; absent means not found) and the Service variables.
#[derive(Debug, Default)]
pub struct EnvSource<'a> {
    pub pod: Option<&'a Pod>,
    pub pod_ip: String,
    pub host_ip: String,
    pub config_maps: HashMap<String, ConfigMap>,
    pub secrets: HashMap<String, Secret>,
    /// Service variables (see [`service_env`]).
    pub service_env: BTreeMap<String, String>,
    /// Node allocatable, standing in for unset limits in `resourceFieldRef`.
    pub node_allocatable: BTreeMap<String, String>,
}

/// Expands `$(VAR)` references in `input` as upstream's `expansion.Expand`: `$$` is an escaped
/// `$`, a reference to an undefined variable is left as written, and an unterminated `$(` is
/// kept literally.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let rest = &bytes[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().skip(1).position(|b| *b == b')') {
                    Some(p) => {
                        let name = String::from_utf8_lossy(&rest[1..p + 1]).into_owned();
                        match lookup(&name) {
                            Some(v) => out.extend_from_slice(v.as_bytes()),
                            None => out.extend_from_slice(format!("$({name})").as_bytes()),
                        }
                        p + 2
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    out.push(b'$');
                    out.push(other);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `name` is a valid environment variable name (upstream's `IsEnvVarName`).
pub fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_') => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

fn config_map_value(cm: &ConfigMap, key: &str) -> Option<String> {
    if let Some(v) = cm.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.clone());
    }
    cm.binary_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// The value of a downward-API field path for env (`metadata.name`, `status.podIP`, …).
pub fn pod_field_value(
    pod: &Pod,
    path: &str,
    pod_ip: &str,
    host_ip: &str,
) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let subscript = |prefix: &str| -> Option<String> {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    if let Some(k) = subscript("metadata.labels") {
        return Ok(meta
            .labels
            .as_ref()
            .and_then(|l| l.get(&k))
            .cloned()
            .unwrap_or_default());
    }
    if let Some(k) = subscript("metadata.annotations") {
        return Ok(meta
            .annotations
            .as_ref()
            .and_then(|l| l.get(&k))
            .cloned()
            .unwrap_or_default());
    }
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        other => return Err(EnvError::FieldPath(other.to_string())),
    })
}

/// Labels or annotations as the downward API writes them: `key="value"` lines, sorted, values
/// quoted as Go's `%q`.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    let Some(map) = map else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote` for the characters that matter in labels and annotations.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The environment of `container`, in upstream's precedence, as ordered pairs.
pub fn container_env(
    container: &Container,
    src: &EnvSource<'_>,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = src
        .pod
        .and_then(|p| p.metadata.namespace.clone())
        .unwrap_or_default();
    let mut order: Vec<String> = Vec::new();
    let mut values: HashMap<String, String> = HashMap::new();
    fn set(values: &mut HashMap<String, String>, order: &mut Vec<String>, k: String, v: String) {
        if values.insert(k.clone(), v).is_none() {
            order.push(k);
        }
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            let name = r.name.clone();
            match src.config_maps.get(&name) {
                Some(cm) => {
                    let mut keys: Vec<(String, String)> = cm
                        .data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    keys.sort();
                    for (k, v) in keys {
                        let k = format!("{prefix}{k}");
                        if is_env_var_name(&k) {
                            set(&mut values, &mut order, k, v);
                        }
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(EnvError::ConfigMapNotFound(name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            let name = r.name.clone();
            match src.secrets.get(&name) {
                Some(s) => {
                    let mut keys: Vec<String> =
                        s.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                    keys.sort();
                    for k in keys {
                        let v = secret_value(s, &k).unwrap_or_default();
                        let k = format!("{prefix}{k}");
                        if is_env_var_name(&k) {
                            set(&mut values, &mut order, k, v);
                        }
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(EnvError::SecretNotFound(name)),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(v) = var.value.as_deref().filter(|v| !v.is_empty()) {
            let lookup = |name: &str| -> Option<String> {
                values
                    .get(name)
                    .cloned()
                    .or_else(|| src.service_env.get(name).cloned())
            };
            expand(v, &lookup)
        } else if let Some(from) = &var.value_from {
            if let Some(r) = &from.config_map_key_ref {
                match src.config_maps.get(&r.name) {
                    Some(cm) => match config_map_value(cm, &r.key) {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(EnvError::ConfigMapKey {
                                key: r.key.clone(),
                                namespace: namespace.clone(),
                                name: r.name.clone(),
                            });
                        }
                    },
                    None if r.optional == Some(true) => continue,
                    None => return Err(EnvError::ConfigMapNotFound(r.name.clone())),
                }
            } else if let Some(r) = &from.secret_key_ref {
                match src.secrets.get(&r.name) {
                    Some(s) => match secret_value(s, &r.key) {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(EnvError::SecretKey {
                                key: r.key.clone(),
                                namespace: namespace.clone(),
                                name: r.name.clone(),
                            });
                        }
                    },
                    None if r.optional == Some(true) => continue,
                    None => return Err(EnvError::SecretNotFound(r.name.clone())),
                }
            } else if let Some(r) = &from.field_ref {
                match src.pod {
                    Some(pod) => pod_field_value(pod, &r.field_path, &src.pod_ip, &src.host_ip)?,
                    None => String::new(),
                }
            } else if let Some(r) = &from.resource_field_ref {
                let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                    Some(name) => src
                        .pod
                        .and_then(|p| p.spec.as_ref())
                        .and_then(|s| {
                            s.containers
                                .iter()
                                .chain(s.init_containers.iter().flatten())
                                .find(|c| c.name == name)
                        })
                        .unwrap_or(container),
                    None => container,
                };
                resource_field_value(
                    target,
                    &r.resource,
                    r.divisor.as_ref().map(|q| q.0.as_str()),
                    &src.node_allocatable,
                )
                .map_err(EnvError::Resource)?
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        set(&mut values, &mut order, var.name.clone(), value);
    }
    let mut out: Vec<(String, String)> = order
        .into_iter()
        .map(|k| {
            let v = values.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect();
    for (k, v) in &src.service_env {
        if !values.contains_key(k) {
            out.push((k.clone(), v.clone()));
        }
    }
    Ok(out)
}

/// Expands `$(VAR)` in a container's command and args against its environment.
pub fn expand_command(args: &[String], env: &[(String, String)]) -> Vec<String> {
    let map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let lookup = |name: &str| map.get(name).map(|v| v.to_string());
    args.iter().map(|a| expand(a, &lookup)).collect()
}

/// The Service variables upstream injects for `services` (those of the pod's namespace when
/// `enableServiceLinks`, plus the `kubernetes` Service of `default`): headless Services and
/// those without a cluster IP are skipped.
pub fn service_env(services: &[Service]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let Some(ip) = spec.cluster_ip.as_deref() else {
            continue;
        };
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = svc
            .metadata
            .name
            .clone()
            .unwrap_or_default()
            .to_ascii_uppercase()
            .replace('-', "_");
        let ports = spec.ports.clone().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        out.insert(format!("{name}_SERVICE_HOST"), ip.to_string());
        out.insert(format!("{name}_SERVICE_PORT"), first.port.to_string());
        for p in &ports {
            if let Some(pn) = p.name.as_deref().filter(|n| !n.is_empty()) {
                let pn = pn.to_ascii_uppercase().replace('-', "_");
                out.insert(format!("{name}_SERVICE_PORT_{pn}"), p.port.to_string());
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
            p.protocol.clone().unwrap_or_else(|| "TCP".into())
        };
        out.insert(
            format!("{name}_PORT"),
            format!(
                "{}://{ip}:{}",
                proto(first).to_ascii_lowercase(),
                first.port
            ),
        );
        for p in &ports {
            let pr = proto(p);
            let prefix = format!("{name}_PORT_{}_{}", p.port, pr.to_ascii_uppercase());
            out.insert(
                prefix.clone(),
                format!("{}://{ip}:{}", pr.to_ascii_lowercase(), p.port),
            );
            out.insert(format!("{prefix}_PROTO"), pr.to_ascii_lowercase());
            out.insert(format!("{prefix}_PORT"), p.port.to_string());
            out.insert(format!("{prefix}_ADDR"), ip.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use serde_json::json;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_like_upstream() {
        let cases = [
            ("$(A)", "x"),
            ("pre-$(A)-post", "pre-x-post"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$x"),
            ("$(A", "$(A"),
            ("$A", "$A"),
            ("$", "$"),
            ("a$", "a$"),
            ("$()", "$()"),
            ("$(EMPTY)z", "z"),
            ("$(A)$(A)", "xx"),
            ("héllo $(A) wörld", "héllo x wörld"),
            ("$é", "$é"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &lookup), want, "{input:?}");
        }
    }

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                          "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"note": "n"}},
            "spec": {"nodeName": "node1", "serviceAccountName": "sa",
                     "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn builds_environment_in_upstream_order() {
        let pod = pod();
        let container: Container = serde_json::from_value(json!({
            "name": "c",
            "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}},
            "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"},
                        {"secretRef": {"name": "s"}},
                        {"configMapRef": {"name": "missing", "optional": true}}],
            "env": [
                {"name": "PLAIN", "value": "v"},
                {"name": "REF", "value": "$(PLAIN)-$(CM_k1)-$(UNDEF)-$(FOO_SERVICE_HOST)"},
                {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k1"}}},
                {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope", "optional": true}}},
                {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "PLAIN", "value": "override"}
            ]
        }))
        .unwrap();
        let mut src = EnvSource {
            pod: Some(&pod),
            pod_ip: "10.42.0.5".into(),
            host_ip: "192.0.2.2".into(),
            ..Default::default()
        };
        src.config_maps.insert(
            "cm".into(),
            serde_json::from_value(json!({"data": {"k1": "one", "bad key": "x"}})).unwrap(),
        );
        let secret = Secret {
            data: Some(BTreeMap::from([(
                "pw".to_string(),
                ByteString(b"hunter2".to_vec()),
            )])),
            ..Default::default()
        };
        src.secrets.insert("s".into(), secret);
        src.service_env = service_env(&[serde_json::from_value(json!({
            "metadata": {"name": "foo"},
            "spec": {"clusterIP": "10.43.0.9", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))
        .unwrap()]);
        let env = container_env(&container, &src).unwrap();
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{k} missing from {env:?}"))
        };
        assert_eq!(get("CM_k1"), "one");
        assert!(env.iter().all(|(k, _)| k != "CM_bad key"));
        assert_eq!(get("pw"), "hunter2");
        assert_eq!(get("PLAIN"), "override");
        assert_eq!(get("REF"), "v-one-$(UNDEF)-10.43.0.9");
        assert_eq!(get("FROM_CM"), "one");
        assert_eq!(get("FROM_SECRET"), "hunter2");
        assert!(env.iter().all(|(k, _)| k != "OPT"));
        assert_eq!(get("NAME"), "p");
        assert_eq!(get("LABEL"), "web");
        assert_eq!(get("IP"), "10.42.0.5");
        assert_eq!(get("HOST"), "192.0.2.2");
        assert_eq!(get("NODE"), "node1");
        assert_eq!(get("SA"), "sa");
        assert_eq!(get("MEM"), "64");
        assert_eq!(get("CPU"), "1");
        assert_eq!(get("FOO_SERVICE_PORT"), "80");
        assert_eq!(get("FOO_SERVICE_PORT_HTTP"), "80");
        assert_eq!(get("FOO_PORT"), "tcp://10.43.0.9:80");
        assert_eq!(get("FOO_PORT_80_TCP_ADDR"), "10.43.0.9");
        // Declaration order: envFrom first, then env (an override keeps its first position).
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(&names[..4], &["CM_k1", "pw", "PLAIN", "REF"]);

        let cmd = expand_command(&["echo".into(), "$(NAME)".into(), "$$(NAME)".into()], &env);
        assert_eq!(cmd, vec!["echo", "p", "$(NAME)"]);
    }

    #[test]
    fn missing_sources_fail_with_upstream_messages() {
        let pod = pod();
        let src = EnvSource {
            pod: Some(&pod),
            ..Default::default()
        };
        let c: Container = serde_json::from_value(json!({"name": "c", "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}))
        .unwrap();
        assert_eq!(
            container_env(&c, &src).unwrap_err().to_string(),
            "configmap \"cm\" not found"
        );
        let c: Container = serde_json::from_value(json!({"name": "c", "envFrom": [
            {"secretRef": {"name": "s"}}]}))
        .unwrap();
        assert_eq!(
            container_env(&c, &src).unwrap_err().to_string(),
            "secret \"s\" not found"
        );
        let mut src = src;
        src.config_maps.insert("cm".into(), ConfigMap::default());
        let c: Container = serde_json::from_value(json!({"name": "c", "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}))
        .unwrap();
        assert_eq!(
            container_env(&c, &src).unwrap_err().to_string(),
            "couldn't find key k in ConfigMap ns/cm"
        );
    }

    #[test]
    fn formats_downward_maps() {
        let pod = pod();
        assert_eq!(
            format_map(pod.metadata.labels.as_ref()),
            "app=\"web\"\ntier=\"a\\\"b\""
        );
        assert!(is_env_var_name("A_b.c-d"));
        assert!(!is_env_var_name("1A"));
        assert!(!is_env_var_name("a b"));
    }
}
