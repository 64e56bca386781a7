//! A `krust server` child process on a temporary directory and a free loopback port, for
//! benchmarks; killed when dropped.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    child: Child,
    dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    bin: PathBuf,
    /// The pod bridge of a server started with its node agent (removed on drop).
    bridge: Option<String>,
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The networks of a benchmark node server.
const CLUSTER_CIDR: &str = "10.199.0.0/16";
const SERVICE_CIDR: &str = "10.249.0.0/16";

impl ServerProcess {
    /// A control plane without a node agent.
    pub async fn start(binary: Option<PathBuf>, extra_args: &[String]) -> anyhow::Result<Self> {
        let mut args = vec!["--disable-agent".to_string()];
        args.extend(extra_args.iter().cloned());
        Self::launch(binary, &args, None, None).await
    }

    /// A server with its node agent (containerd and the kubelet), the images of `images`
    /// imported, on networks of its own.
    pub async fn start_node(
        binary: Option<PathBuf>,
        images: &std::path::Path,
        extra_args: &[String],
    ) -> anyhow::Result<Self> {
        let bridge = "krbench".to_string();
        let mut args = vec![
            "--cluster-cidr".to_string(),
            CLUSTER_CIDR.to_string(),
            "--service-cidr".to_string(),
            SERVICE_CIDR.to_string(),
            "--cluster-dns".to_string(),
            "10.249.0.10".to_string(),
            "--cni-bridge".to_string(),
            bridge.clone(),
            "--kubelet-port".to_string(),
            free_port()?.to_string(),
        ];
        // Not the host's ports 80/443, unless asked for.
        for flag in ["--ingress-http-port", "--ingress-https-port"] {
            if !extra_args.iter().any(|a| a == flag) {
                args.push(flag.to_string());
                args.push("0".to_string());
            }
        }
        args.extend(extra_args.iter().cloned());
        Self::launch(binary, &args, Some(images), Some(bridge)).await
    }

    /// This server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    async fn launch(
        binary: Option<PathBuf>,
        extra_args: &[String],
        images: Option<&std::path::Path>,
        bridge: Option<String>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("krust-bench-").tempdir()?;
        let port = free_port()?;
        let kubeconfig = dir.path().join("admin.yaml");
        let bin = match binary {
            Some(b) => b,
            None => std::env::current_exe().context("locating the krust binary")?,
        };
        if let Some(images) = images {
            let target = dir.path().join("data").join("agent").join("images");
            std::fs::create_dir_all(&target)?;
            for entry in std::fs::read_dir(images)
                .with_context(|| format!("reading {}", images.display()))?
            {
                let entry = entry?;
                if entry.path().extension().is_some_and(|e| e == "tar") {
                    std::fs::copy(entry.path(), target.join(entry.file_name()))?;
                }
            }
        }
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        // The cluster DNS forwards nowhere off this machine (a loopback address where
        // nothing listens).
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.254\n")?;
        let child = Command::new(&bin)
            .args([
                "server",
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--https-port")
            .arg(port.to_string())
            .arg("--write-kubeconfig")
            .arg(&kubeconfig)
            .arg("--log-level")
            .arg("warn")
            .args(
                images
                    .is_some()
                    .then(|| ["--resolv-conf".into(), resolv.clone().into_os_string()])
                    .into_iter()
                    .flatten(),
            )
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut p = ServerProcess {
            child,
            dir,
            kubeconfig,
            bin,
            bridge,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(p.kubeconfig.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
        {
            if let Ok(Some(status)) = p.child.try_wait() {
                bail!("krust server exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("krust server did not start within 60s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(p)
    }

    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Resident memory of the server in MiB (from /proc).
    pub fn rss_mib(&self) -> f64 {
        rss_mib_of(self.child.id())
    }
}

/// Resident memory of a process in MiB (from /proc).
pub fn rss_mib_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

impl ServerProcess {
    /// The pid of the server's containerd child, if it runs one.
    pub fn containerd_pid(&self) -> Option<u32> {
        let config = self
            .data_dir()
            .join("agent")
            .join("containerd")
            .join("config.toml");
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(format!("containerd --config {}", config.display()))
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(bridge) = &self.bridge {
            let _ = Command::new(&self.bin)
                .args(["agent", "cleanup", "--data-dir"])
                .arg(self.data_dir())
                .args(["--cni-bridge", bridge.as_str()])
                .args([
                    "--cluster-cidr",
                    CLUSTER_CIDR,
                    "--service-cidr",
                    SERVICE_CIDR,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("ip")
                .args(["link", "del", bridge])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
