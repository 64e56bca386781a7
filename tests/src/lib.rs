//! Test harness for end-to-end tests: starts the real `krust` binary on a temporary data
//! directory and a free loopback port, drives it with the real `kubectl` (`/usr/bin/kubectl`
//! or `$KUBECTL`) and kube-rs, and stops it (SIGKILL) when dropped, even when a test fails.

pub mod cluster;
pub mod dns;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the `krust` binary under test: `$KRUST_BIN`, else `target/<profile>/krust` next to
/// the test executable's `deps/` directory.
pub fn krust_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KRUST_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    profile_dir.join("krust")
}

/// The kubectl to drive the server with.
pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The pod network of a server started with its node agent ([`Server::start_node`]).
#[derive(Debug, Clone)]
pub struct NodeNet {
    pub cluster_cidr: String,
    pub service_cidr: String,
    pub cluster_dns: String,
    pub bridge: String,
    /// The ingress controller's HTTP and HTTPS ports.
    pub ingress_http: u16,
    pub ingress_https: u16,
}

/// A running `krust server`.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub kubeconfig: PathBuf,
    extra_args: Vec<String>,
    /// Set for servers running their node agent (containerd and the kubelet).
    pub node: Option<NodeNet>,
    /// Held while a node server runs: one at a time on this machine.
    _node_lock: Option<std::fs::File>,
    /// The address it binds and advertises (127.0.0.1 unless [`Server::start_on`]).
    pub address: String,
}

/// Sends SIGTERM to `child` and waits up to `grace` for it to exit; whether it did.
pub fn terminate(child: &mut Child, grace: Duration) -> bool {
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// SIGKILL to the process group `child` leads, then reaps it.
pub fn kill_group(child: &mut Child) {
    // `--` is required: procps-ng's kill reads `-12345` as `-1` (every process).
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// The test image archives (`scripts/build-images.sh`), built once into `target/krust-images`
/// (the script skips unchanged inputs; a lock keeps concurrent test processes apart).
pub fn test_images() -> PathBuf {
    let dir = krust_bin()
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join("krust-images"))
        .unwrap_or_else(|| std::env::temp_dir().join("krust-images"));
    let _ = std::fs::create_dir_all(&dir);
    let lock =
        std::fs::File::create(dir.join(".lock")).unwrap_or_else(|e| panic!("image lock: {e}"));
    lock.lock().unwrap_or_else(|e| panic!("image lock: {e}"));
    let out = Command::new(repo_root().join("scripts/build-images.sh"))
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running build-images.sh: {e}"));
    assert!(
        out.status.success(),
        "build-images.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

impl Server {
    /// Starts a server with default flags.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra `krust server` flags.
    pub fn start_with(extra: &[&str]) -> Server {
        Self::start_on("127.0.0.1", extra)
    }

    /// Starts a server that binds and advertises `address`, with extra `krust server` flags.
    pub fn start_on(address: &str, extra: &[&str]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("krust-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let kubeconfig = dir.path().join("admin.yaml");
        let port = free_port();
        let mut extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        // Simulated nodes get a pod range of their own (one /16 of the default 10.64.0.0/11,
        // by port), so parallel servers do not share the `unreachable` route.
        if extra.contains(&"--simulate-nodes") && !extra.contains(&"--simulated-pod-cidr") {
            extra_args.push("--simulated-pod-cidr".into());
            extra_args.push(format!("10.{}.0.0/16", 64 + port % 32));
        }
        let mut s = Server {
            child: None,
            port,
            kubeconfig,
            dir,
            extra_args,
            node: None,
            _node_lock: None,
            address: address.to_string(),
        };
        s.spawn();
        s
    }

    /// The simulated nodes' pod range this server was started with, if it runs any.
    pub fn simulated_pod_cidr(&self) -> Option<&str> {
        let i = self
            .extra_args
            .iter()
            .position(|a| a == "--simulated-pod-cidr")?;
        self.extra_args.get(i + 1).map(String::as_str)
    }

    /// Starts a server WITH its node agent (containerd, the kubelet, real containers), on a
    /// pod network of its own (cluster, Service and bridge names derived from the port), with
    /// the test images in `<data-dir>/agent/images/`. Node servers run one at a time on this
    /// machine. Dropping it kills the server and runs `krust agent cleanup` (containerd, shims,
    /// containers, mounts, routes, bridge).
    pub fn start_node(extra: &[&str]) -> Server {
        let images = test_images();
        let lock_path = images.join(".node.lock");
        let lock = std::fs::File::create(&lock_path).unwrap_or_else(|e| panic!("node lock: {e}"));
        lock.lock().unwrap_or_else(|e| panic!("node lock: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("krust-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let kubeconfig = dir.path().join("admin.yaml");
        let port = free_port();
        let node = NodeNet {
            cluster_cidr: format!("10.{}.0.0/16", 100 + port % 100),
            service_cidr: format!("10.{}.0.0/16", 200 + port % 50),
            cluster_dns: format!("10.{}.0.10", 200 + port % 50),
            bridge: format!("kr{port}"),
            ingress_http: free_port(),
            ingress_https: free_port(),
        };
        let agent_images = dir.path().join("data").join("agent").join("images");
        std::fs::create_dir_all(&agent_images).unwrap_or_else(|e| panic!("images dir: {e}"));
        for f in ["pause.tar", "busybox.tar", "nginx.tar"] {
            std::fs::copy(images.join(f), agent_images.join(f))
                .unwrap_or_else(|e| panic!("copying {f}: {e}"));
        }
        let mut args: Vec<String> = vec![
            "--cluster-cidr".into(),
            node.cluster_cidr.clone(),
            "--service-cidr".into(),
            node.service_cidr.clone(),
            "--cluster-dns".into(),
            node.cluster_dns.clone(),
            "--cni-bridge".into(),
            node.bridge.clone(),
            // [streaming hook] a kubelet server port of its own.
            "--kubelet-port".into(),
            free_port().to_string(),
        ];
        // The machine's /etc/krust/registries.yaml is not the test's: a node has none unless
        // the test names one.
        if !extra.contains(&"--private-registry") {
            args.push("--private-registry".into());
            args.push(
                dir.path()
                    .join("registries.yaml")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        // Nor is its /etc/resolv.conf: the cluster DNS forwards nowhere off this machine (to a
        // loopback address where nothing listens) unless the test names a stub resolver.
        if !extra.contains(&"--resolv-conf") {
            let resolv = dir.path().join("resolv.conf");
            std::fs::write(&resolv, "nameserver 127.0.0.254\n")
                .unwrap_or_else(|e| panic!("resolv.conf: {e}"));
            args.push("--resolv-conf".into());
            args.push(resolv.to_string_lossy().into_owned());
        }
        // Nor ports 80 and 443: the ingress controller gets free ones.
        if !extra.contains(&"--ingress-http-port") {
            args.push("--ingress-http-port".into());
            args.push(node.ingress_http.to_string());
        }
        if !extra.contains(&"--ingress-https-port") {
            args.push("--ingress-https-port".into());
            args.push(node.ingress_https.to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut s = Server {
            child: None,
            port,
            kubeconfig,
            dir,
            extra_args: args,
            node: Some(node),
            _node_lock: Some(lock),
            address: "127.0.0.1".to_string(),
        };
        s.spawn();
        s
    }

    /// Removes everything the node agent left (as `krust agent cleanup`).
    fn cleanup_node(&self) {
        let Some(node) = &self.node else { return };
        let _ = Command::new(krust_bin())
            .arg("agent")
            .arg("cleanup")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--cni-bridge")
            .arg(&node.bridge)
            .arg("--cluster-cidr")
            .arg(&node.cluster_cidr)
            .arg("--service-cidr")
            .arg(&node.service_cidr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The pod bridge of a node server (`start_node`), empty otherwise.
    pub fn node_bridge(&self) -> String {
        self.node
            .as_ref()
            .map(|n| n.bridge.clone())
            .unwrap_or_default()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap_or_else(|e| panic!("log file: {e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let mut cmd = Command::new(krust_bin());
        if self.node.is_some() {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd
            .arg("server")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--https-port")
            .arg(self.port.to_string())
            .arg("--bind-address")
            .arg(&self.address)
            .arg("--advertise-address")
            .arg(&self.address)
            .arg("--write-kubeconfig")
            .arg(&self.kubeconfig)
            .args(self.node.is_none().then_some("--disable-agent"))
            .args(&self.extra_args)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", krust_bin().display()));
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("krust server exited early ({status}):\n{}", self.log());
            }
            if self.kubeconfig.exists()
                && TcpStream::connect((self.address.as_str(), self.port)).is_ok()
                && self.kubectl(&["get", "--raw", "/readyz"]).status.success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("krust server not ready after 60s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no clean shutdown; a node server's whole process group).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.node.is_some() {
                kill_group(&mut c);
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server with SIGTERM (a clean shutdown) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take()
            && !terminate(&mut c, Duration::from_secs(30))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs kubectl against the server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_input(args, None)
    }

    /// Runs kubectl with `input` on stdin.
    pub fn kubectl_input(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut cmd = Command::new(kubectl_bin());
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .arg("--cache-dir")
            .arg(self.dir.path().join("kube-cache"))
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", kubectl_bin()));
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(text.as_bytes());
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for kubectl: {e}"))
    }

    /// Runs kubectl and returns stdout, panicking (with stderr) on failure.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {} failed:\nstdout: {}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl with stdin and returns stdout, panicking on failure.
    pub fn ok_input(&self, args: &[&str], input: &str) -> String {
        let out = self.kubectl_input(args, Some(input));
        assert!(
            out.status.success(),
            "kubectl {} failed:\nstdout: {}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs kubectl with stdin expecting failure; returns stderr.
    pub fn fails_input(&self, args: &[&str], input: &str) -> String {
        let out = self.kubectl_input(args, Some(input));
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A kube-rs client for the server.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading kubeconfig: {e}"));
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("kubeconfig: {e}"));
        kube::Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"))
    }

    /// A kube-rs client that does not retry 429/503/504 answers (to observe them).
    pub async fn client_without_retries(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading kubeconfig: {e}"));
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("kubeconfig: {e}"));
        config.default_retry = false;
        kube::Client::try_from(config).unwrap_or_else(|e| panic!("client: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        self.cleanup_node();
        // A killed server leaves its simulated range's route (recorded in the data dir).
        if self.data_dir().join("simulated-pod-cidr").exists()
            && let Some(cidr) = self.simulated_pod_cidr()
        {
            let _ = Command::new("ip")
                .args(["route", "del", "unreachable", cidr])
                .stderr(Stdio::null())
                .status();
        }
        if std::thread::panicking() {
            eprintln!("--- krust server log ---\n{}", self.log());
        }
    }
}

/// Retries `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

/// The article's Deployment manifest (apps/v1beta1), verbatim.
pub const NGINX_DEPLOYMENT: &str = include_str!("../../examples/nginx-deployment.yaml");
