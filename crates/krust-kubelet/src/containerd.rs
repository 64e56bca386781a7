//! containerd as a child process of the agent (the k3s model): a generated config under
//! `<data-dir>/agent/containerd/` with every directory and socket of its own under that root (so
//! several agents on one machine never collide), the daemon started and watched by a supervisor
//! task that restarts it with backoff when it dies, and stopped gracefully (SIGTERM, then SIGKILL)
//! on shutdown. Containers are run by runc through `containerd-shim-runc-v2`; shims outlive
//! containerd, so a restarted containerd (or agent) adopts the running containers.
//!
//! [`cleanup`] is the other half: it kills what a previous run of the same root left behind
//! (the daemon, its shims and their containers) and unmounts their mounts, so a SIGKILLed agent or
//! a failed test does not leak processes.
//!
//! Only `std::process` is used to run and signal processes (`kill(1)` for signals: the workspace
//! forbids `unsafe`).

mod cleanup;

pub use cleanup::{CleanupReport, cleanup, kill_stale_daemon};

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The sandbox (pause) image CRI uses: built by `scripts/build-images.sh`, never pulled.
pub const DEFAULT_SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// Where Debian's containernetworking-plugins live.
pub const DEFAULT_CNI_BIN_DIR: &str = "/usr/lib/cni";
/// The containerd namespace CRI (and so the kubelet) uses.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The snapshotter CRI unpacks images for.
pub const SNAPSHOTTER: &str = "overlayfs";

/// A unix socket path must fit `sun_path` (108 bytes, NUL included); containerd also listens on
/// `<socket>.ttrpc`.
const MAX_SOCKET_PATH: usize = 107 - ".ttrpc".len();
/// How long `start` waits for the socket to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Restart backoff bounds; a daemon that ran longer than `BACKOFF_RESET` restarts quickly again.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const BACKOFF_RESET: Duration = Duration::from_secs(60);
/// The log is rotated (to `containerd.log.1`) at a (re)start once it is larger than this.
const LOG_ROTATE_BYTES: u64 = 64 << 20;

/// Failures starting or stopping containerd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot run {program}: {source} (run scripts/install-deps.sh)")]
    Spawn { program: String, source: io::Error },
    #[error(
        "containerd socket path {0} is longer than {MAX_SOCKET_PATH} bytes (unix socket limit): use a shorter --data-dir"
    )]
    SocketPathTooLong(PathBuf),
    #[error("containerd exited during start-up ({status}); last log lines:\n{log_tail}")]
    ExitedDuringStartup { status: String, log_tail: String },
    #[error(
        "containerd did not answer on {socket} within {timeout:?}; last log lines:\n{log_tail}"
    )]
    NotReady {
        socket: PathBuf,
        timeout: Duration,
        log_tail: String,
    },
    #[error("containerd supervisor task failed: {0}")]
    Supervisor(String),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What containerd is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerdConfig {
    /// Everything of this containerd lives here: `<data-dir>/agent/containerd`.
    pub root: PathBuf,
    /// CRI's sandbox image (`registry.k8s.io/pause:3.10`).
    pub sandbox_image: String,
    /// CNI plugin binaries (`/usr/lib/cni`).
    pub cni_bin_dir: PathBuf,
    /// CNI network configs (`<data-dir>/agent/etc/cni/net.d`).
    pub cni_conf_dir: PathBuf,
    /// The registries pulls may reach (none: the node is air-gapped).
    pub registries: crate::registries::Registries,
}

impl ContainerdConfig {
    /// The defaults for an agent whose state lives in `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> ContainerdConfig {
        let agent = data_dir.join("agent");
        ContainerdConfig {
            root: agent.join("containerd"),
            sandbox_image: DEFAULT_SANDBOX_IMAGE.to_string(),
            cni_bin_dir: PathBuf::from(DEFAULT_CNI_BIN_DIR),
            cni_conf_dir: agent.join("etc").join("cni").join("net.d"),
            registries: Default::default(),
        }
    }

    /// The same config with absolute paths (containerd and [`cleanup`] match processes by them).
    fn absolute(&self) -> Result<ContainerdConfig, Error> {
        let abs = |p: &Path| std::path::absolute(p).map_err(io_err("resolve", p));
        Ok(ContainerdConfig {
            root: abs(&self.root)?,
            sandbox_image: self.sandbox_image.clone(),
            cni_bin_dir: abs(&self.cni_bin_dir)?,
            cni_conf_dir: abs(&self.cni_conf_dir)?,
            registries: self.registries.clone(),
        })
    }

    /// The gRPC socket: `<root>/containerd.sock`.
    pub fn socket(&self) -> PathBuf {
        socket_path(&self.root)
    }

    /// The generated config file: `<root>/config.toml`.
    pub fn config_path(&self) -> PathBuf {
        config_path(&self.root)
    }

    /// containerd's registry host directory (`config_path`): `<root>/certs.d`.
    pub fn hosts_dir(&self) -> PathBuf {
        self.root.join("certs.d")
    }

    /// Rewrites `<root>/certs.d` from the registries: one `hosts.toml` per registry.
    fn write_hosts(&self) -> Result<(), Error> {
        let dir = self.hosts_dir();
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err("remove", &dir))?;
        }
        for (host, toml) in self.registries.hosts_files() {
            // containerd names a host's directory `host:port` as is.
            let host_dir = dir.join(host.replace('/', "_"));
            fs::create_dir_all(&host_dir).map_err(io_err("create", &host_dir))?;
            let file = host_dir.join("hosts.toml");
            fs::write(&file, toml).map_err(io_err("write", &file))?;
        }
        Ok(())
    }

    /// The daemon's log: `<root>/containerd.log`.
    pub fn log_path(&self) -> PathBuf {
        self.root.join("containerd.log")
    }

    /// containerd's config (version 2, for containerd 1.6): every directory and socket under
    /// `root`; CRI with runc, `restrict_oom_score_adj` (no CAP_SYS_RESOURCE on these machines),
    /// our sandbox image, CNI from `cni_bin_dir`/`cni_conf_dir`, and the registries (none:
    /// no registry configuration at all).
    pub fn render(&self) -> String {
        let root = &self.root;
        let p = |rel: &str| toml_str(&root.join(rel).to_string_lossy());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# Generated by krust; rewritten at every agent start.\nversion = 2\n\
             root = {}\nstate = {}\noom_score = 0\n\
             disabled_plugins = [\"io.containerd.snapshotter.v1.aufs\", \
             \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \
             \"io.containerd.snapshotter.v1.devmapper\"]\n",
            p("root"),
            p("state"),
        );
        let _ = writeln!(
            s,
            "[grpc]\n  address = {}\n\n[ttrpc]\n  address = {}\n\n[debug]\n  address = \"\"\n  \
             level = \"info\"\n\n[metrics]\n  address = \"\"\n",
            toml_str(&self.socket().to_string_lossy()),
            p("containerd.sock.ttrpc"),
        );
        let _ = writeln!(
            s,
            "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = {}\n",
            p("opt")
        );
        let _ = writeln!(
            s,
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = {}\n  \
             restrict_oom_score_adj = true\n  enable_unprivileged_ports = false\n  \
             enable_unprivileged_icmp = false\n  enable_selinux = false\n  \
             stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n  \
             max_container_log_line_size = 16384\n",
            toml_str(&self.sandbox_image),
        );
        let _ = writeln!(
            s,
            "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"{SNAPSHOTTER}\"\n  \
             default_runtime_name = \"runc\"\n  disable_snapshot_annotations = true\n\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  \
             runtime_type = \"io.containerd.runc.v2\"\n\n\
             [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  \
             SystemdCgroup = false\n  Root = {}\n",
            p("runc"),
        );
        let _ = writeln!(
            s,
            "[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = {}\n  conf_dir = {}\n  \
             max_conf_num = 1\n",
            toml_str(&self.cni_bin_dir.to_string_lossy()),
            toml_str(&self.cni_conf_dir.to_string_lossy()),
        );
        let hosts = if self.registries.is_empty() {
            String::new()
        } else {
            self.hosts_dir().to_string_lossy().into_owned()
        };
        let _ = writeln!(
            s,
            "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = {}\n",
            toml_str(&hosts)
        );
        s.push_str(&self.registries.auth_toml());
        s
    }
}

/// `<root>/containerd.sock`.
pub fn socket_path(root: &Path) -> PathBuf {
    root.join("containerd.sock")
}

fn config_path(root: &Path) -> PathBuf {
    root.join("config.toml")
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A running containerd, child of this process, restarted when it dies.
#[derive(Debug)]
pub struct Containerd {
    cfg: ContainerdConfig,
    socket: PathBuf,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    stop_tx: watch::Sender<bool>,
    supervisor: Option<JoinHandle<()>>,
}

impl Containerd {
    /// Writes the config, kills a daemon a previous run of the same root left behind (its shims
    /// and containers are kept, to be adopted), starts `containerd --config …` and waits until
    /// its socket answers (`ctr version`). The returned handle keeps it running (restarting it
    /// with backoff if it dies) until [`Containerd::stop`].
    pub async fn start(cfg: ContainerdConfig) -> Result<Containerd, Error> {
        let cfg = cfg.absolute()?;
        let socket = cfg.socket();
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(Error::SocketPathTooLong(socket));
        }
        for dir in [&cfg.root, &cfg.cni_conf_dir] {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        let root = cfg.root.clone();
        let stale = tokio::task::spawn_blocking(move || kill_stale_daemon(&root))
            .await
            .map_err(|e| Error::Supervisor(e.to_string()))??;
        if !stale.is_empty() {
            tracing::info!(pids = ?stale, "stopped a containerd left behind by a previous run");
        }
        let config_file = cfg.config_path();
        cfg.write_hosts()?;
        fs::write(&config_file, cfg.render()).map_err(io_err("write", &config_file))?;
        // A stale socket makes `ctr version` fail the same way as a missing one; remove it so
        // readiness means the new daemon is listening.
        let _ = fs::remove_file(&socket);

        let started = Instant::now();
        let mut child = spawn(&cfg)?;
        let pid = Arc::new(AtomicU32::new(child.id()));
        loop {
            if let Some(status) = child.try_wait().map_err(io_err("wait for", &socket))? {
                return Err(Error::ExitedDuringStartup {
                    status: status.to_string(),
                    log_tail: log_tail(&cfg.log_path()),
                });
            }
            if socket.exists() && ctr_version(&socket).await {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                terminate(&mut child, STOP_GRACE).await;
                return Err(Error::NotReady {
                    socket,
                    timeout: READY_TIMEOUT,
                    log_tail: log_tail(&cfg.log_path()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(
            socket = %socket.display(),
            pid = child.id(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "containerd is ready"
        );

        let (stop_tx, stop_rx) = watch::channel(false);
        let restarts = Arc::new(AtomicU32::new(0));
        let supervisor = tokio::spawn(supervise(
            cfg.clone(),
            child,
            Arc::clone(&pid),
            Arc::clone(&restarts),
            stop_rx,
        ));
        Ok(Containerd {
            cfg,
            socket,
            pid,
            restarts,
            stop_tx,
            supervisor: Some(supervisor),
        })
    }

    /// The gRPC (and CRI) socket: `<root>/containerd.sock`.
    pub fn endpoint(&self) -> &Path {
        &self.socket
    }

    /// The config it was started with (paths made absolute).
    pub fn config(&self) -> &ContainerdConfig {
        &self.cfg
    }

    /// The daemon's current process id (0 while it is being restarted).
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// How many times the supervisor restarted the daemon.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Stops containerd gracefully: SIGTERM, then SIGKILL after 10 s. Shims and containers keep
    /// running (a later start adopts them; [`cleanup`] removes them).
    pub async fn stop(mut self) -> Result<(), Error> {
        let _ = self.stop_tx.send(true);
        if let Some(task) = self.supervisor.take() {
            task.await.map_err(|e| Error::Supervisor(e.to_string()))?;
        }
        Ok(())
    }
}

impl Drop for Containerd {
    /// Dropped without [`Containerd::stop`]: ask the daemon to terminate (SIGTERM) so it does not
    /// outlive the agent; the supervisor, if its runtime still runs, finishes the job.
    fn drop(&mut self) {
        if self.supervisor.is_some() {
            let _ = self.stop_tx.send(true);
            let pid = self.pid();
            if pid != 0 {
                signal(&[pid], rustix::process::Signal::TERM);
            }
        }
    }
}

/// Starts the daemon: own process group (a terminal's Ctrl-C reaches the agent, which stops it
/// gracefully), output appended to `<root>/containerd.log`.
fn spawn(cfg: &ContainerdConfig) -> Result<Child, Error> {
    use std::os::unix::process::CommandExt;
    let log_path = cfg.log_path();
    rotate_log(&log_path);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err("open", &log_path))?;
    let log2 = log.try_clone().map_err(io_err("open", &log_path))?;
    let mut path = std::env::var("PATH").unwrap_or_default();
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !path.split(':').any(|p| p == dir) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(dir);
        }
    }
    Command::new("containerd")
        .arg("--config")
        .arg(cfg.config_path())
        .env("PATH", path)
        // A registry that is not configured must not be contacted (these machines may have
        // no route out, and a lookup must not leave them either): every pull goes to a dead
        // local proxy, so Go's HTTP client neither resolves nor contacts the registry host...
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        // ...except the registries configured for this node.
        .env("NO_PROXY", cfg.registries.reachable_hosts().join(","))
        .env_remove("no_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .process_group(0)
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "containerd".into(),
            source,
        })
}

fn rotate_log(path: &Path) {
    if fs::metadata(path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = fs::rename(path, path.with_extension("log.1"));
    }
}

/// The last lines of the daemon's log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Whether `ctr version` gets an answer from the daemon on `socket`.
async fn ctr_version(socket: &Path) -> bool {
    let socket = socket.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .arg("--timeout")
            .arg("2s")
            .arg("version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
    .await
    .unwrap_or(false)
}

/// Sends `sig` to each of `pids` (kill(2)); pids that are gone or invalid are skipped.
pub(crate) fn signal(pids: &[u32], sig: rustix::process::Signal) {
    for &pid in pids {
        if let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL; reaps the child.
async fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal(&[child.id()], rustix::process::Signal::TERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::warn!(pid = child.id(), "containerd ignored SIGTERM; killing it");
    let _ = child.kill();
    // SIGKILL cannot be ignored: the exit is a matter of milliseconds.
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Watches the daemon; restarts it with exponential backoff when it exits; terminates it when
/// asked to stop.
async fn supervise(
    cfg: ContainerdConfig,
    mut child: Child,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut started = Instant::now();
    loop {
        // Wait for an exit or a stop request.
        let status = loop {
            if *stop_rx.borrow() {
                let status = terminate(&mut child, STOP_GRACE).await;
                pid.store(0, Ordering::Relaxed);
                tracing::info!(status = ?status, "containerd stopped");
                return;
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot wait for containerd");
                }
            }
            tokio::select! {
                _ = stop_rx.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        };
        pid.store(0, Ordering::Relaxed);
        if started.elapsed() > BACKOFF_RESET {
            backoff = BACKOFF_MIN;
        }
        tracing::warn!(
            %status,
            restart_in_ms = backoff.as_millis() as u64,
            log = %cfg.log_path().display(),
            "containerd exited; restarting it"
        );
        // Back off, unless asked to stop meanwhile.
        tokio::select! {
            _ = stop_rx.changed() => {}
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
        loop {
            if *stop_rx.borrow() {
                return;
            }
            match spawn(&cfg) {
                Ok(c) => {
                    child = c;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot restart containerd");
                    tokio::select! {
                        _ = stop_rx.changed() => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        started = Instant::now();
        pid.store(child.id(), Ordering::Relaxed);
        restarts.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_under_root() {
        let cfg = ContainerdConfig::for_data_dir(Path::new("/var/lib/krust"));
        assert_eq!(
            cfg.socket(),
            Path::new("/var/lib/krust/agent/containerd/containerd.sock")
        );
        assert_eq!(
            cfg.cni_conf_dir,
            Path::new("/var/lib/krust/agent/etc/cni/net.d")
        );
        let toml = cfg.render();
        for needle in [
            "version = 2",
            "root = \"/var/lib/krust/agent/containerd/root\"",
            "state = \"/var/lib/krust/agent/containerd/state\"",
            "address = \"/var/lib/krust/agent/containerd/containerd.sock\"",
            "address = \"/var/lib/krust/agent/containerd/containerd.sock.ttrpc\"",
            "path = \"/var/lib/krust/agent/containerd/opt\"",
            "sandbox_image = \"registry.k8s.io/pause:3.10\"",
            "restrict_oom_score_adj = true",
            "enable_unprivileged_ports = false",
            "enable_unprivileged_icmp = false",
            "stream_server_port = \"0\"",
            "runtime_type = \"io.containerd.runc.v2\"",
            "SystemdCgroup = false",
            "Root = \"/var/lib/krust/agent/containerd/runc\"",
            "bin_dir = \"/usr/lib/cni\"",
            "conf_dir = \"/var/lib/krust/agent/etc/cni/net.d\"",
            "snapshotter = \"overlayfs\"",
        ] {
            assert!(toml.contains(needle), "{needle} missing from\n{toml}");
        }
        assert!(!toml.contains("mirrors"));
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(toml_str("x\ny"), r#""x\ny""#);
    }

    #[tokio::test]
    async fn socket_path_limit_is_checked() {
        let long = PathBuf::from("/tmp").join("x".repeat(120));
        let cfg = ContainerdConfig::for_data_dir(&long);
        match Containerd::start(cfg).await {
            Err(Error::SocketPathTooLong(_)) => {}
            other => panic!("expected SocketPathTooLong, got {other:?}"),
        }
    }
}
