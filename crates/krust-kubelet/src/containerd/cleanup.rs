//! Finding and killing what a containerd root left behind, from `/proc`: the daemon (matched by
//! its `--config <root>/config.toml`), its shims (`containerd-shim-runc-v2 … -address
//! <root>/containerd.sock`) and every process below them (the containers), then the mounts under
//! the root (container root filesystems, sandbox `/dev/shm`s), runc's state and cgroups of
//! those containers, and the network namespaces CRI created for this root's sandboxes
//! (`/var/run/netns/cni-…`).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Error, config_path, io_err, signal, socket_path};

/// What [`cleanup`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    /// containerd daemons of this root.
    pub daemons: Vec<u32>,
    /// Their shims.
    pub shims: Vec<u32>,
    /// Processes below the shims (container processes).
    pub containers: Vec<u32>,
    /// Mount points under the root (and sandbox network namespaces) unmounted.
    pub unmounted: Vec<PathBuf>,
}

impl CleanupReport {
    /// Whether nothing had to be done.
    pub fn is_empty(&self) -> bool {
        self.daemons.is_empty()
            && self.shims.is_empty()
            && self.containers.is_empty()
            && self.unmounted.is_empty()
    }
}

#[derive(Debug)]
struct Proc {
    pid: u32,
    ppid: u32,
    zombie: bool,
    argv: Vec<String>,
}

/// Every process, from `/proc/<pid>/stat` and `/proc/<pid>/cmdline`.
fn processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let argv = fs::read(entry.path().join("cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.push(Proc {
            pid,
            ppid,
            zombie: state == "Z" || state == "X",
            argv,
        });
    }
    out
}

fn basename(arg0: &str) -> &str {
    arg0.rsplit('/').next().unwrap_or(arg0)
}

/// Values of `flag value` / `flag=value` in `argv`.
fn flag_values<'a>(argv: &'a [String], flags: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (i, a) in argv.iter().enumerate() {
        if flags.contains(&a.as_str()) {
            if let Some(v) = argv.get(i + 1) {
                out.push(v.as_str());
            }
        } else if let Some(v) = flags
            .iter()
            .find_map(|f| a.strip_prefix(f).and_then(|r| r.strip_prefix('=')))
        {
            out.push(v);
        }
    }
    out
}

/// Whether `p` is a containerd daemon started with `config` (a relative `--config` is resolved
/// against the process's working directory).
fn is_daemon_of(p: &Proc, config: &str) -> bool {
    if p.argv.first().is_none_or(|a| basename(a) != "containerd") {
        return false;
    }
    flag_values(&p.argv, &["--config", "-c"]).iter().any(|v| {
        if Path::new(v).is_absolute() {
            *v == config
        } else {
            fs::read_link(format!("/proc/{}/cwd", p.pid))
                .is_ok_and(|cwd| cwd.join(v) == Path::new(config))
        }
    })
}

fn is_shim_of(p: &Proc, socket: &str) -> bool {
    p.argv
        .first()
        .is_some_and(|a| basename(a).starts_with("containerd-shim"))
        && flag_values(&p.argv, &["-address", "--address"]).contains(&socket)
}

fn absolute(root: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(root).map_err(io_err("resolve", root))
}

/// Waits until none of `pids` is alive (zombies count as gone), at most `timeout`.
fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    let state = s
                        .rfind(')')
                        .and_then(|i| s[i + 1..].split_whitespace().next());
                    !matches!(state, Some("Z") | Some("X"))
                })
            })
            .collect();
        if alive.is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Stops a containerd daemon that a previous run of the same `root` left running (SIGTERM, then
/// SIGKILL after 5 s), leaving its shims and containers alone so the next daemon adopts them.
/// Returns the pids it stopped. Blocking.
pub fn kill_stale_daemon(root: &Path) -> Result<Vec<u32>, Error> {
    let config = config_path(&absolute(root)?).to_string_lossy().into_owned();
    let me = std::process::id();
    let pids: Vec<u32> = processes()
        .iter()
        .filter(|p| !p.zombie && p.pid != me && is_daemon_of(p, &config))
        .map(|p| p.pid)
        .collect();
    if pids.is_empty() {
        return Ok(pids);
    }
    signal(&pids, rustix::process::Signal::TERM);
    if !wait_gone(&pids, Duration::from_secs(5)) {
        signal(&pids, rustix::process::Signal::KILL);
        wait_gone(&pids, Duration::from_secs(2));
    }
    Ok(pids)
}

/// Removes everything a containerd with this `root` left behind: SIGKILLs the daemon, its shims
/// and all their descendants (the containers), unmounts what is mounted under `root` and the
/// sandbox network namespaces its tasks used. Meant for a root no daemon should be running on
/// (stop the [`super::Containerd`] first); idempotent. Blocking.
pub fn cleanup(root: &Path) -> Result<CleanupReport, Error> {
    let root = absolute(root)?;
    let config = config_path(&root).to_string_lossy().into_owned();
    let socket = socket_path(&root).to_string_lossy().into_owned();
    let mut report = CleanupReport::default();
    // This root's tasks (runc state, cgroups, network namespaces), read before anything goes.
    let tasks = tasks(&root);

    let me = std::process::id();
    let procs = processes();
    report.daemons = procs
        .iter()
        .filter(|p| !p.zombie && p.pid != me && is_daemon_of(p, &config))
        .map(|p| p.pid)
        .collect();
    // The daemon first, so it does not react to its shims dying.
    signal(&report.daemons, rustix::process::Signal::KILL);

    report.shims = procs
        .iter()
        .filter(|p| !p.zombie && p.pid != me && is_shim_of(p, &socket))
        .map(|p| p.pid)
        .collect();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in &procs {
        if !p.zombie {
            children.entry(p.ppid).or_default().push(p.pid);
        }
    }
    let mut below = BTreeSet::new();
    let mut stack = report.shims.clone();
    while let Some(pid) = stack.pop() {
        for &c in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            if c != me && below.insert(c) {
                stack.push(c);
            }
        }
    }
    report.containers = below.into_iter().collect();
    signal(&report.containers, rustix::process::Signal::KILL);
    signal(&report.shims, rustix::process::Signal::KILL);
    let all: Vec<u32> = report
        .daemons
        .iter()
        .chain(&report.shims)
        .chain(&report.containers)
        .copied()
        .collect();
    if !wait_gone(&all, Duration::from_secs(5)) {
        tracing::warn!(root = %root.display(), "some containerd processes survived SIGKILL");
    }

    for task in &tasks {
        delete_runc_state(task);
    }
    report.unmounted = unmount_under(&root);
    for ns in tasks.iter().flat_map(|t| &t.netns) {
        if umount(ns) {
            report.unmounted.push(ns.clone());
        }
        let _ = fs::remove_file(ns);
    }
    if !report.is_empty() {
        tracing::info!(
            root = %root.display(),
            daemons = report.daemons.len(),
            shims = report.shims.len(),
            containers = report.containers.len(),
            unmounted = report.unmounted.len(),
            "cleaned up what a containerd left behind"
        );
    }
    Ok(report)
}

/// A task bundle of this root (`<root>/state/io.containerd.runtime.v2.task/<ns>/<id>`).
#[derive(Debug)]
struct Task {
    namespace: String,
    id: String,
    /// runc's root for the namespace (`options.json`'s `root`, else containerd's default).
    runc_root: PathBuf,
    /// `linux.cgroupsPath` of the OCI spec (cgroupfs driver: a path below each hierarchy).
    cgroups_path: Option<String>,
    /// Network namespaces CRI created for it (`/var/run/netns/cni-…`); others belong to
    /// whoever created them.
    netns: Vec<PathBuf>,
}

/// containerd's default runc root.
const DEFAULT_RUNC_ROOT: &str = "/run/containerd/runc";

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// The task bundles of this root, from each bundle's `config.json` and `options.json`.
fn tasks(root: &Path) -> Vec<Task> {
    let dir = root.join("state").join("io.containerd.runtime.v2.task");
    let mut out = Vec::new();
    let Ok(namespaces) = fs::read_dir(&dir) else {
        return out;
    };
    for ns in namespaces.flatten() {
        let Ok(ids) = fs::read_dir(ns.path()) else {
            continue;
        };
        let namespace = ns.file_name().to_string_lossy().into_owned();
        for id in ids.flatten() {
            let bundle = id.path();
            let spec = read_json(&bundle.join("config.json")).unwrap_or_default();
            let runc_root = read_json(&bundle.join("options.json"))
                .and_then(|o| o.get("root").and_then(|r| r.as_str()).map(PathBuf::from))
                .filter(|r| !r.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNC_ROOT));
            let cgroups_path = spec
                .pointer("/linux/cgroupsPath")
                .and_then(|c| c.as_str())
                .filter(|c| !c.is_empty() && !c.contains(':'))
                .map(String::from);
            let netns = spec
                .pointer("/linux/namespaces")
                .and_then(|v| v.as_array())
                .map(|namespaces| {
                    namespaces
                        .iter()
                        .filter(|n| n.get("type").and_then(|t| t.as_str()) == Some("network"))
                        .filter_map(|n| n.get("path").and_then(|p| p.as_str()))
                        .map(PathBuf::from)
                        .filter(|p| {
                            (p.starts_with("/var/run/netns") || p.starts_with("/run/netns"))
                                && p.file_name()
                                    .is_some_and(|n| n.to_string_lossy().starts_with("cni-"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Task {
                namespace: namespace.clone(),
                id: id.file_name().to_string_lossy().into_owned(),
                runc_root,
                cgroups_path,
                netns,
            });
        }
    }
    out
}

/// Removes what runc keeps for a task whose processes are gone: `runc delete --force` (state
/// and cgroups), then, in case runc had no state, the state directory and the cgroup
/// directories themselves.
fn delete_runc_state(task: &Task) {
    let runc_root = task.runc_root.join(&task.namespace);
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["delete", "--force", &task.id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let state = runc_root.join(&task.id);
    if state.join("state.json").exists() || state.is_dir() {
        let _ = fs::remove_dir_all(&state);
    }
    if let Some(path) = &task.cgroups_path {
        let rel = path.trim_start_matches('/');
        if rel.is_empty() {
            return;
        }
        // cgroup v1: one directory per hierarchy; v2: the unified tree itself.
        let mut dirs = vec![PathBuf::from("/sys/fs/cgroup").join(rel)];
        if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
            dirs.extend(hierarchies.flatten().map(|h| h.path().join(rel)));
        }
        for dir in dirs {
            // Nested cgroups first (rmdir only removes empty ones).
            let mut nested = Vec::new();
            collect_dirs(&dir, &mut nested);
            for d in nested.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Mount points at or below `root`, from `/proc/self/mountinfo` (octal escapes decoded).
fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mount(m)))
        .filter(|m| m.starts_with(root))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn unescape_mount(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b))
                && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(oct), 8)
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts everything under `root`, deepest first; returns what was unmounted.
fn unmount_under(root: &Path) -> Vec<PathBuf> {
    let mut done = Vec::new();
    // A mount may hide others; a few passes settle stacked mounts.
    for _ in 0..4 {
        let mut mounts = mounts_under(root);
        if mounts.is_empty() {
            break;
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            if umount(&m) {
                done.push(m);
            }
        }
    }
    done
}

/// Unmounts `path` (umount(2)), falling back to a lazy (detached) unmount.
fn umount(path: &Path) -> bool {
    use rustix::mount::{UnmountFlags, unmount};
    unmount(path, UnmountFlags::empty()).is_ok() || unmount(path, UnmountFlags::DETACH).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn matches_daemon_and_shims_of_one_root_only() {
        let p = |a: &str| Proc {
            pid: 1,
            ppid: 0,
            zombie: false,
            argv: argv(a),
        };
        let cfg = "/d/agent/containerd/config.toml";
        let sock = "/d/agent/containerd/containerd.sock";
        assert!(is_daemon_of(
            &p("containerd --config /d/agent/containerd/config.toml"),
            cfg
        ));
        assert!(is_daemon_of(
            &p("/usr/bin/containerd --config=/d/agent/containerd/config.toml"),
            cfg
        ));
        assert!(!is_daemon_of(
            &p("containerd --config /e/agent/containerd/config.toml"),
            cfg
        ));
        assert!(!is_daemon_of(
            &p("containerd-shim-runc-v2 --config /d/agent/containerd/config.toml"),
            cfg
        ));
        assert!(is_shim_of(
            &p(
                "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id x -address /d/agent/containerd/containerd.sock"
            ),
            sock
        ));
        assert!(!is_shim_of(
            &p(
                "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id x -address /run/containerd/containerd.sock"
            ),
            sock
        ));
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mount(r"/a\040b/c"), "/a b/c");
        assert_eq!(unescape_mount(r"/plain"), "/plain");
        assert_eq!(unescape_mount(r"/end\04"), r"/end\04");
    }

    #[test]
    fn cleanup_of_an_unused_root_does_nothing() {
        let dir = std::env::temp_dir().join(format!("krust-cleanup-test-{}", std::process::id()));
        let report = cleanup(&dir).unwrap();
        assert!(report.is_empty(), "{report:?}");
    }
}
