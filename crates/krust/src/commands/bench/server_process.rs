//! A `krust server` child process on a temporary directory and a free loopback port, for
//! benchmarks; killed when dropped.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    child: Child,
    _dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl ServerProcess {
    pub async fn start(binary: Option<PathBuf>, extra_args: &[String]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("krust-bench-").tempdir()?;
        let port = free_port()?;
        let kubeconfig = dir.path().join("admin.yaml");
        let bin = match binary {
            Some(b) => b,
            None => std::env::current_exe().context("locating the krust binary")?,
        };
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let child = Command::new(&bin)
            .args([
                "server",
                "--disable-agent",
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
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut p = ServerProcess {
            child,
            _dir: dir,
            kubeconfig,
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
