//! CRI configurations built from a pod, as upstream's kuberuntime builds them: the sandbox
//! (metadata, hostname, DNS by `dnsPolicy`, host port mappings, labels, cgroup parent by QoS
//! class, namespaces and security context) and each container (image, command and args with
//! `$(VAR)` expanded, environment, mounts including `/etc/hosts` and the termination message
//! file, resources, security context, labels and annotations).

use crate::env;
use crate::resources::{self, QosClass};
use crate::runtime::{
    ANN_HASH, ANN_RESTART_COUNT, ANN_TERMINATION_GRACE, ANN_TERMINATION_HOST_FILE,
    ANN_TERMINATION_PATH, ANN_TERMINATION_POLICY, LABEL_CONTAINER_NAME, LABEL_POD_NAME,
    LABEL_POD_NAMESPACE, LABEL_POD_UID,
};
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Upstream's default masked paths (unless privileged).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Upstream's default read-only paths (unless privileged).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
/// Most search domains a resolv.conf may have (glibc's limit, as upstream).
const MAX_SEARCH: usize = 32;

/// Node-wide settings the configurations depend on.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub agent_dir: PathBuf,
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    pub cgroup_parent: String,
    pub hostname: String,
    pub memory_capacity: i64,
}

impl NodeSettings {
    /// `<agent_dir>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.agent_dir.join("pods").join(uid)
    }
}

/// A resolv.conf's nameservers, search domains and options.
pub fn parse_resolv_conf(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut ns, mut search, mut opts) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("").trim();
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => ns.extend(f.next().map(str::to_string)),
            Some("search" | "domain") => {
                search = f.map(str::to_string).collect();
            }
            Some("options") => opts.extend(f.map(str::to_string)),
            _ => {}
        }
    }
    (ns, search, opts)
}

/// The resolv.conf pods with `dnsPolicy: Default` get: `configured`, unless every nameserver
/// in it is a loopback address (systemd-resolved's `127.0.0.53`, unreachable from a pod's
/// network) and `fallback` (`/run/systemd/resolve/resolv.conf`, the real upstreams, when
/// `--resolv-conf` is left at `/etc/resolv.conf`) has nameservers — as k3s does.
pub fn pod_resolv_conf(configured: &str, fallback: Option<&str>) -> String {
    let loopback_only = |text: &str| {
        let (ns, _, _) = parse_resolv_conf(text);
        !ns.is_empty()
            && ns.iter().all(|n| {
                n.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
            })
    };
    match fallback {
        Some(f) if loopback_only(configured) && !parse_resolv_conf(f).0.is_empty() => f.to_string(),
        _ => configured.to_string(),
    }
}

fn push_unique(v: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !v.contains(&i) {
            v.push(i);
        }
    }
}

/// The pod's DNS configuration by its `dnsPolicy` (upstream's `GetPodDNS`): `ClusterFirst`
/// points at the cluster DNS with the namespace's search path and `ndots:5`; `Default` copies
/// the host's resolv.conf; `None` uses `dnsConfig` alone; `dnsConfig` is merged into the others.
pub fn dns_config(pod: &Pod, node: &NodeSettings, host_resolv: &str) -> cri::DnsConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network == Some(true);
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let (host_ns, host_search, host_opts) = parse_resolv_conf(host_resolv);
    let mut cfg = cri::DnsConfig::default();
    if policy != "None" {
        if cluster {
            let ns = pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let d = &node.cluster_domain;
            cfg.servers = vec![node.cluster_dns.to_string()];
            cfg.searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
            push_unique(&mut cfg.searches, host_search);
            cfg.options = vec!["ndots:5".to_string()];
        } else {
            cfg.servers = host_ns;
            cfg.searches = host_search;
            cfg.options = host_opts;
        }
    }
    if let Some(extra) = &spec.dns_config {
        push_unique(
            &mut cfg.servers,
            extra.nameservers.clone().unwrap_or_default(),
        );
        push_unique(
            &mut cfg.searches,
            extra.searches.clone().unwrap_or_default(),
        );
        for o in extra.options.iter().flatten() {
            let opt = match &o.value {
                Some(v) => format!("{}:{v}", o.name.clone().unwrap_or_default()),
                None => o.name.clone().unwrap_or_default(),
            };
            let key = opt.split(':').next().unwrap_or("").to_string();
            cfg.options
                .retain(|x| x.split(':').next() != Some(key.as_str()));
            cfg.options.push(opt);
        }
    }
    cfg.searches.truncate(MAX_SEARCH);
    cfg
}

/// The pod's hostname (`spec.hostname`, else its name, at most 63 characters).
pub fn hostname(pod: &Pod, node_hostname: &str) -> String {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_network) == Some(true) {
        return node_hostname.to_string();
    }
    let h = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    let mut h: String = h.chars().take(63).collect();
    while h.ends_with(['-', '.']) {
        h.pop();
    }
    h
}

/// The `/etc/hosts` upstream writes for a pod (`ensureHostsFile`).
pub fn hosts_file(pod: &Pod, pod_ip: &str, node: &NodeSettings) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let host = hostname(pod, &node.hostname);
    if !pod_ip.is_empty() {
        let spec = pod.spec.as_ref();
        match spec
            .and_then(|s| s.subdomain.clone())
            .filter(|s| !s.is_empty())
        {
            Some(sub) => {
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                out.push_str(&format!(
                    "{pod_ip}\t{host}.{sub}.{ns}.svc.{}\t{host}\n",
                    node.cluster_domain
                ));
            }
            None => out.push_str(&format!("{pod_ip}\t{host}\n")),
        }
    }
    let aliases = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.clone())
        .unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names = a.hostnames.unwrap_or_default().join("\t");
            out.push_str(&format!("{}\t{names}\n", a.ip));
        }
    }
    out
}

fn namespace_options(pod: &Pod) -> cri::NamespaceOption {
    let spec = pod.spec.clone().unwrap_or_default();
    let mode = |node: bool, pod_mode: cri::NamespaceMode| {
        if node {
            cri::NamespaceMode::Node as i32
        } else {
            pod_mode as i32
        }
    };
    cri::NamespaceOption {
        network: mode(spec.host_network == Some(true), cri::NamespaceMode::Pod),
        pid: mode(
            spec.host_pid == Some(true),
            if spec.share_process_namespace == Some(true) {
                cri::NamespaceMode::Pod
            } else {
                cri::NamespaceMode::Container
            },
        ),
        ipc: mode(spec.host_ipc == Some(true), cri::NamespaceMode::Pod),
        ..Default::default()
    }
}

fn seccomp(profile: Option<&k8s_openapi::api::core::v1::SeccompProfile>) -> cri::SecurityProfile {
    use cri::security_profile::ProfileType;
    match profile.map(|p| p.type_.as_str()) {
        Some("RuntimeDefault") => cri::SecurityProfile {
            profile_type: ProfileType::RuntimeDefault as i32,
            localhost_ref: String::new(),
        },
        Some("Localhost") => cri::SecurityProfile {
            profile_type: ProfileType::Localhost as i32,
            localhost_ref: profile
                .and_then(|p| p.localhost_profile.clone())
                .unwrap_or_default(),
        },
        _ => cri::SecurityProfile {
            profile_type: ProfileType::Unconfined as i32,
            localhost_ref: String::new(),
        },
    }
}

/// The sandbox's cgroup parent: `<parent>/<qos>/pod<uid>` (Guaranteed pods directly under the
/// parent), as upstream's cgroupfs layout.
pub fn pod_cgroup(parent: &str, qos: QosClass, uid: &str) -> String {
    let parent = parent.trim_end_matches('/');
    match qos.cgroup_dir() {
        "" => format!("{parent}/pod{uid}"),
        dir => format!("{parent}/{dir}/pod{uid}"),
    }
}

/// The pod's sandbox configuration.
pub fn sandbox_config(
    pod: &Pod,
    attempt: u32,
    node: &NodeSettings,
    host_resolv: &str,
) -> cri::PodSandboxConfig {
    let meta = &pod.metadata;
    let uid = meta.uid.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mut labels: HashMap<String, String> = meta
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.insert(LABEL_POD_NAME.into(), name.clone());
    labels.insert(LABEL_POD_NAMESPACE.into(), namespace.clone());
    labels.insert(LABEL_POD_UID.into(), uid.clone());
    let annotations: HashMap<String, String> = meta
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut ports = Vec::new();
    for c in &spec.containers {
        for p in c.ports.iter().flatten() {
            let host_port = p.host_port.unwrap_or(0);
            if host_port <= 0 {
                continue;
            }
            let protocol = match p.protocol.as_deref() {
                Some("UDP") => cri::Protocol::Udp,
                Some("SCTP") => cri::Protocol::Sctp,
                _ => cri::Protocol::Tcp,
            };
            ports.push(cri::PortMapping {
                protocol: protocol as i32,
                container_port: p.container_port,
                host_port,
                host_ip: p.host_ip.clone().unwrap_or_default(),
            });
        }
    }
    let psc = spec.security_context.clone().unwrap_or_default();
    let privileged = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false)
        });
    let mut supplemental: Vec<i64> = psc.supplemental_groups.clone().unwrap_or_default();
    if let Some(g) = psc.fs_group {
        supplemental.push(g);
    }
    let sysctls: HashMap<String, String> = psc
        .sysctls
        .iter()
        .flatten()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    let qos = resources::qos_class(pod);
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name,
            uid: uid.clone(),
            namespace,
            attempt,
        }),
        hostname: hostname(pod, &node.hostname),
        log_directory: node.pod_dir(&uid).join("logs").display().to_string(),
        dns_config: Some(dns_config(pod, node, host_resolv)),
        port_mappings: ports,
        labels,
        annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: pod_cgroup(&node.cgroup_parent, qos, &uid),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(pod)),
                run_as_user: psc.run_as_user.map(|v| cri::Int64Value { value: v }),
                run_as_group: psc.run_as_group.map(|v| cri::Int64Value { value: v }),
                supplemental_groups: supplemental,
                privileged,
                seccomp: Some(seccomp(psc.seccomp_profile.as_ref())),
                ..Default::default()
            }),
            sysctls,
            ..Default::default()
        }),
        windows: None,
    }
}

/// A stable hash of a container's spec (a changed spec restarts the container).
pub fn container_hash(c: &Container) -> String {
    let text = serde_json::to_string(c).unwrap_or_default();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32 ^ (h >> 32) as u32)
}

/// The container's effective security context (container fields over pod fields).
fn security_context(pod: &Pod, c: &Container) -> cri::LinuxContainerSecurityContext {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let sc: SecurityContext = c.security_context.clone().unwrap_or_default();
    let privileged = sc.privileged == Some(true);
    let caps = sc.capabilities.clone().unwrap_or_default();
    let mut supplemental: Vec<i64> = psc.supplemental_groups.clone().unwrap_or_default();
    if let Some(g) = psc.fs_group {
        supplemental.push(g);
    }
    cri::LinuxContainerSecurityContext {
        capabilities: Some(cri::Capability {
            add_capabilities: caps.add.unwrap_or_default(),
            drop_capabilities: caps.drop.unwrap_or_default(),
            add_ambient_capabilities: Vec::new(),
        }),
        privileged,
        namespace_options: Some(namespace_options(pod)),
        run_as_user: sc
            .run_as_user
            .or(psc.run_as_user)
            .map(|v| cri::Int64Value { value: v }),
        run_as_group: sc
            .run_as_group
            .or(psc.run_as_group)
            .map(|v| cri::Int64Value { value: v }),
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
        supplemental_groups: supplemental,
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        masked_paths: if privileged || sc.proc_mount.as_deref() == Some("Unmasked") {
            Vec::new()
        } else {
            MASKED_PATHS.iter().map(|s| s.to_string()).collect()
        },
        readonly_paths: if privileged || sc.proc_mount.as_deref() == Some("Unmasked") {
            Vec::new()
        } else {
            READONLY_PATHS.iter().map(|s| s.to_string()).collect()
        },
        seccomp: Some(seccomp(
            sc.seccomp_profile.as_ref().or(psc.seccomp_profile.as_ref()),
        )),
        ..Default::default()
    }
}

/// Inputs of one container's configuration.
pub struct ContainerInputs<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub restart_count: i32,
    /// The image to run (its ID or reference).
    pub image_ref: &'a str,
    pub env: Vec<(String, String)>,
    pub mounts: Vec<cri::Mount>,
    /// Host file mounted at `/etc/hosts` (None for host-network pods).
    pub hosts_file: Option<&'a Path>,
    /// Host file backing the termination message.
    pub termination_file: &'a Path,
    pub node: &'a NodeSettings,
    /// The runtime ID of the container whose process namespace this one joins (an ephemeral
    /// container's `targetContainerName`).
    pub pid_target: Option<&'a str>,
}

/// The container's configuration.
pub fn container_config(i: ContainerInputs<'_>) -> cri::ContainerConfig {
    let pod = i.pod;
    let c = i.container;
    let meta = &pod.metadata;
    let qos = resources::qos_class(pod);
    let command = env::expand_command(c.command.as_deref().unwrap_or_default(), &i.env);
    let args = env::expand_command(c.args.as_deref().unwrap_or_default(), &i.env);
    let mut mounts = i.mounts;
    let has = |path: &str, mounts: &[cri::Mount]| mounts.iter().any(|m| m.container_path == path);
    if let Some(hosts) = i.hosts_file
        && !has("/etc/hosts", &mounts)
    {
        mounts.push(cri::Mount {
            container_path: "/etc/hosts".into(),
            host_path: hosts.display().to_string(),
            ..Default::default()
        });
    }
    let termination_path = c
        .termination_message_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/dev/termination-log".into());
    if !has(&termination_path, &mounts) {
        mounts.push(cri::Mount {
            container_path: termination_path.clone(),
            host_path: i.termination_file.display().to_string(),
            ..Default::default()
        });
    }
    let labels = HashMap::from([
        (LABEL_CONTAINER_NAME.to_string(), c.name.clone()),
        (
            LABEL_POD_NAME.to_string(),
            meta.name.clone().unwrap_or_default(),
        ),
        (
            LABEL_POD_NAMESPACE.to_string(),
            meta.namespace.clone().unwrap_or_default(),
        ),
        (
            LABEL_POD_UID.to_string(),
            meta.uid.clone().unwrap_or_default(),
        ),
    ]);
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    let annotations = HashMap::from([
        (ANN_HASH.to_string(), container_hash(c)),
        (ANN_RESTART_COUNT.to_string(), i.restart_count.to_string()),
        (ANN_TERMINATION_PATH.to_string(), termination_path),
        (
            ANN_TERMINATION_POLICY.to_string(),
            c.termination_message_policy
                .clone()
                .unwrap_or_else(|| "File".into()),
        ),
        (ANN_TERMINATION_GRACE.to_string(), grace.to_string()),
        (
            ANN_TERMINATION_HOST_FILE.to_string(),
            i.termination_file.display().to_string(),
        ),
        (
            crate::runtime::ANN_TTY.to_string(),
            c.tty.unwrap_or(false).to_string(),
        ),
    ]);
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: c.name.clone(),
            attempt: i.restart_count.max(0) as u32,
        }),
        image: Some(cri::ImageSpec {
            image: i.image_ref.to_string(),
            user_specified_image: c.image.clone().unwrap_or_default(),
            ..Default::default()
        }),
        command,
        args,
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: i
            .env
            .into_iter()
            .map(|(key, value)| cri::KeyValue { key, value })
            .collect(),
        mounts,
        labels,
        annotations,
        log_path: format!("{}/{}.log", c.name, i.restart_count),
        stdin: c.stdin == Some(true),
        stdin_once: c.stdin_once == Some(true),
        tty: c.tty == Some(true),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(resources::linux_resources(c, qos, i.node.memory_capacity)),
            security_context: Some({
                let mut sc = security_context(pod, c);
                if let (Some(target), Some(ns)) = (i.pid_target, sc.namespace_options.as_mut()) {
                    ns.pid = cri::NamespaceMode::Target as i32;
                    ns.target_id = target.to_string();
                }
                sc
            }),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_do_not_get_a_loopback_resolver() {
        let resolved = "nameserver 127.0.0.53\noptions edns0\n";
        let real = "nameserver 192.0.2.53\n";
        assert_eq!(pod_resolv_conf(resolved, Some(real)), real);
        assert_eq!(pod_resolv_conf(resolved, None), resolved);
        assert_eq!(pod_resolv_conf(real, Some("nameserver 192.0.2.1\n")), real);
        assert_eq!(pod_resolv_conf(resolved, Some("# empty\n")), resolved);
    }
    use serde_json::json;

    fn node() -> NodeSettings {
        NodeSettings {
            agent_dir: PathBuf::from("/var/lib/krust/agent"),
            cluster_dns: Ipv4Addr::new(10, 43, 0, 10),
            cluster_domain: "cluster.local".into(),
            cgroup_parent: "/kubepods".into(),
            hostname: "vm".into(),
            memory_capacity: 1 << 30,
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "spec": spec
        }))
        .unwrap()
    }

    #[test]
    fn dns_by_policy() {
        let host = "nameserver 10.255.255.53\nsearch corp.example\noptions edns0\n";
        let p = pod(json!({"containers": []}));
        let d = dns_config(&p, &node(), host);
        assert_eq!(d.servers, vec!["10.43.0.10"]);
        assert_eq!(
            d.searches,
            vec![
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example"
            ]
        );
        assert_eq!(d.options, vec!["ndots:5"]);
        let p = pod(json!({"containers": [], "dnsPolicy": "Default"}));
        let d = dns_config(&p, &node(), host);
        assert_eq!(d.servers, vec!["10.255.255.53"]);
        assert_eq!(d.options, vec!["edns0"]);
        let p = pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.2.3.4"], "searches": ["a.b"], "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}}));
        let d = dns_config(&p, &node(), host);
        assert_eq!(d.servers, vec!["1.2.3.4"]);
        assert_eq!(d.searches, vec!["a.b"]);
        assert_eq!(d.options, vec!["ndots:2", "rotate"]);
        let p = pod(json!({"containers": [], "hostNetwork": true}));
        assert_eq!(dns_config(&p, &node(), host).servers, vec!["10.255.255.53"]);
    }

    #[test]
    fn sandbox_and_container_configs() {
        let p = pod(json!({
            "subdomain": "sub",
            "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c"],
                "args": ["echo $(GREETING) $$(GREETING)"],
                "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}],
                "resources": {"limits": {"memory": "20Mi", "cpu": "100m"}},
                "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": true,
                    "allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}]
        }));
        let sb = sandbox_config(&p, 2, &node(), "");
        let meta = sb.metadata.as_ref().unwrap();
        assert_eq!(
            (
                meta.name.as_str(),
                meta.namespace.as_str(),
                meta.uid.as_str(),
                meta.attempt
            ),
            ("web-1", "shop", "u1", 2)
        );
        assert_eq!(sb.hostname, "web-1");
        assert_eq!(sb.log_directory, "/var/lib/krust/agent/pods/u1/logs");
        assert_eq!(sb.port_mappings.len(), 1);
        assert_eq!(sb.labels[LABEL_POD_UID], "u1");
        assert_eq!(sb.labels["app"], "web");
        assert_eq!(
            sb.linux.as_ref().unwrap().cgroup_parent,
            "/kubepods/burstable/podu1"
        );
        let c = &p.spec.as_ref().unwrap().containers[0];
        let cfg = container_config(ContainerInputs {
            pod: &p,
            container: c,
            restart_count: 3,
            image_ref: "sha256:abc",
            env: vec![("GREETING".into(), "hi".into())],
            mounts: vec![],
            hosts_file: Some(Path::new("/x/etc-hosts")),
            termination_file: Path::new("/x/term"),
            node: &node(),
            pid_target: None,
        });
        assert_eq!(cfg.command, vec!["sh", "-c"]);
        assert_eq!(cfg.args, vec!["echo hi $(GREETING)"]);
        assert_eq!(cfg.log_path, "c/3.log");
        assert_eq!(cfg.metadata.as_ref().unwrap().attempt, 3);
        assert_eq!(cfg.annotations[ANN_RESTART_COUNT], "3");
        assert_eq!(cfg.labels[LABEL_CONTAINER_NAME], "c");
        assert!(cfg.mounts.iter().any(|m| m.container_path == "/etc/hosts"));
        assert!(
            cfg.mounts
                .iter()
                .any(|m| m.container_path == "/dev/termination-log")
        );
        let linux = cfg.linux.as_ref().unwrap();
        let r = linux.resources.as_ref().unwrap();
        assert_eq!(r.memory_limit_in_bytes, 20 << 20);
        assert_eq!(r.cpu_quota, 10_000);
        let sc = linux.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_user.as_ref().unwrap().value, 1000);
        assert!(sc.readonly_rootfs);
        assert!(sc.no_new_privs);
        assert_eq!(
            sc.capabilities.as_ref().unwrap().add_capabilities,
            vec!["NET_ADMIN"]
        );
        assert_eq!(sc.masked_paths.len(), MASKED_PATHS.len());

        let hosts = hosts_file(&p, "10.42.0.9", &node());
        assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(hosts.contains("10.42.0.9\tweb-1.sub.shop.svc.cluster.local\tweb-1\n"));
        assert_eq!(container_hash(c), container_hash(&c.clone()));
        assert_eq!(
            pod_cgroup("/kubepods/", QosClass::Guaranteed, "u"),
            "/kubepods/podu"
        );
    }
}
