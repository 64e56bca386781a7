//! Images and containerd, end to end, as root: `scripts/build-images.sh` builds the pause,
//! busybox and nginx archives from Debian packages; containerd is started through the library
//! (`krust_kubelet::containerd`) on a temporary root; `krust images import` / `list` (the real
//! binary) and the library import them; containers run from them through containerd (`ctr run`),
//! nginx in a network namespace of its own answering "Welcome to nginx!". Also: the supervisor
//! restarts a killed containerd, a restarted containerd adopts running containers, a leftover
//! daemon of the same root is replaced, and `cleanup` leaves no process or mount behind.
//!
//! Every test stops and cleans up its containerd in a Drop guard, even when it fails.
//! Measurements are printed (`--nocapture` shows them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use krust_e2e::{eventually, krust_bin};
use krust_kubelet::containerd::{self, Containerd, ContainerdConfig};
use krust_kubelet::images;

const BUSYBOX: &str = "docker.io/library/busybox:latest";
const NGINX: &str = "docker.io/library/nginx:1.7.9";
const EXPECTED: [&str; 6] = [
    "docker.io/library/busybox:1.36",
    "docker.io/library/busybox:latest",
    "docker.io/library/nginx:1.7.9",
    "docker.io/library/nginx:latest",
    "krust.io/pause:3.10",
    "registry.k8s.io/pause:3.10",
];

fn repo_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// Runs the build script into `dir`; returns how long it took.
fn build_images(dir: &Path) -> Duration {
    let t0 = Instant::now();
    let out = Command::new(repo_root().join("scripts/build-images.sh"))
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running build-images.sh: {e}"));
    assert!(
        out.status.success(),
        "build-images.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t0.elapsed()
}

/// The archives, built once per target directory (the script skips unchanged inputs).
fn cached_images() -> PathBuf {
    let dir = krust_bin()
        .parent()
        .map(|p| p.join("krust-test-images"))
        .unwrap_or_else(|| std::env::temp_dir().join("krust-test-images"));
    let took = build_images(&dir);
    eprintln!("build-images (cached dir): {took:.2?}");
    dir
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    ["pause.tar", "busybox.tar", "nginx.tar"]
        .iter()
        .map(|f| dir.join(f))
        .collect()
}

/// A container ID unique on this machine: ctr puts containers in the cgroup `/k8s.io/<id>`,
/// shared by every containerd.
fn cid(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next());
        !matches!(state, Some("Z") | Some("X"))
    })
}

fn mounts_under(root: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(root))
        .map(String::from)
        .collect()
}

/// A containerd on a temporary data dir, cleaned up (processes, mounts, network namespaces, the
/// directory) when dropped, whatever happened.
struct Node {
    ctd: Option<Containerd>,
    root: PathBuf,
    netns: Vec<String>,
    dir: tempfile::TempDir,
}

impl Node {
    async fn start() -> Node {
        assert!(
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout == b"0\n"),
            "these tests run containers: run them as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("krust-img-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let cfg = ContainerdConfig::for_data_dir(&dir.path().join("data"));
        let root = cfg.root.clone();
        // The guard exists before containerd does, so a failed start is cleaned up too.
        let mut node = Node {
            ctd: None,
            root,
            netns: Vec::new(),
            dir,
        };
        let t0 = Instant::now();
        match Containerd::start(cfg).await {
            Ok(c) => node.ctd = Some(c),
            Err(e) => panic!("starting containerd: {e}"),
        }
        eprintln!("containerd start (socket answers): {:.2?}", t0.elapsed());
        node
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket(&self) -> PathBuf {
        containerd::socket_path(&self.root)
    }

    fn ctd(&self) -> &Containerd {
        self.ctd
            .as_ref()
            .unwrap_or_else(|| panic!("containerd is not running"))
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(self.socket()).args(["-n", "k8s.io"]);
        c
    }

    /// `ctr run`, with runc's state under this root (as CRI's runtime options put it), so
    /// containers of different roots never share runc state.
    fn ctr_run(&self) -> Command {
        let mut c = self.ctr();
        c.arg("run").arg("--runc-root").arg(self.root.join("runc"));
        c
    }

    /// A fresh network namespace with loopback up, removed on drop.
    fn netns(&mut self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "krust-img-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(Command::new("ip").args(["netns", "add", &name]));
        self.netns.push(name.clone());
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        name
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Dropping the handle asks containerd to stop; cleanup then kills it and everything it
        // started, and unmounts what it mounted.
        drop(self.ctd.take());
        match containerd::cleanup(&self.root) {
            Ok(report) => eprintln!("cleanup: {report:?}"),
            Err(e) => eprintln!("cleanup failed: {e}"),
        }
        for ns in &self.netns {
            let _ = Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(Stdio::null())
                .status();
        }
        let left = mounts_under(self.dir.path());
        if !left.is_empty() {
            eprintln!("mounts left under {}: {left:?}", self.dir.path().display());
        }
    }
}

#[test]
fn build_script_is_deterministic_and_idempotent() {
    let a = tempfile::tempdir().unwrap();
    let took = build_images(a.path());
    let again = build_images(a.path());
    let cached = cached_images();
    eprintln!("build-images fresh: {took:.2?}, again (unchanged inputs): {again:.2?}");
    assert!(
        took < Duration::from_secs(30),
        "build took {took:?}, expected < 30 s"
    );
    assert!(
        again < Duration::from_secs(5),
        "a no-op rebuild took {again:?}"
    );
    for (x, y) in archives(a.path()).iter().zip(archives(&cached)) {
        let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(&y).unwrap());
        eprintln!("{}: {} bytes", x.display(), bx.len());
        assert!(bx == by, "{} differs between two builds", x.display());
    }
    // The OCI layout: index.json names every tag with both annotations, and the broken tag of
    // the article does not exist.
    let out = run(Command::new("tar")
        .arg("-xOf")
        .arg(a.path().join("nginx.tar"))
        .arg("index.json"));
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["io.containerd.image.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (NGINX.to_string(), "1.7.9".to_string()),
            ("docker.io/library/nginx:latest".into(), "latest".into())
        ]
    );
    let listing = stdout(&run(Command::new("tar")
        .arg("-tf")
        .arg(a.path().join("nginx.tar"))));
    assert!(listing.contains("oci-layout") && listing.contains("blobs/sha256/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_list_and_run_containers() {
    let images_dir = cached_images();
    let mut node = Node::start().await;
    let socket = node.socket();

    // `krust images import` (the binary), with one line per file.
    let t0 = Instant::now();
    let out = run(Command::new(krust_bin())
        .args(["images", "import", "--data-dir"])
        .arg(node.data_dir())
        .args(archives(&images_dir)));
    let import_time = t0.elapsed();
    let text = stdout(&out);
    eprintln!("{text}krust images import (3 archives): {import_time:.2?}");
    assert!(text.contains("[1/3]") && text.contains("[3/3]"), "{text}");
    assert!(
        text.contains("imported 6 images from 3 of 3 archives"),
        "{text}"
    );

    // Listed by the library and by `krust images list`, with the expected tags only.
    let list = images::list(&socket).await.unwrap();
    let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, EXPECTED);
    assert!(!names.iter().any(|n| n.contains("1.7.9-alpine")));
    for i in &list {
        assert!(i.id.starts_with("sha256:") && i.size > 100_000, "{i:?}");
    }
    let busybox = list.iter().find(|i| i.name == BUSYBOX).unwrap();
    let busybox136 = list
        .iter()
        .find(|i| i.name.ends_with("busybox:1.36"))
        .unwrap();
    assert_eq!(busybox.id, busybox136.id);
    let out = run(Command::new(krust_bin())
        .args(["images", "list", "--data-dir"])
        .arg(node.data_dir()));
    let table = stdout(&out);
    eprintln!("{table}");
    assert!(table.starts_with("IMAGE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("docker.io/library/nginx ") && l.contains("1.7.9"))
    );
    assert!(!table.contains("alpine"));

    // CRI saw the imports (it labels the images it manages).
    let ls = stdout(&run(node.ctr().args(["images", "ls"])));
    for name in EXPECTED {
        let line = ls.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(line.contains("io.cri-containerd.image=managed"), "{line}");
    }

    // busybox runs.
    let t0 = Instant::now();
    let out =
        run(node
            .ctr_run()
            .args(["--rm", "--net-host", BUSYBOX, &cid("t1"), "echo", "hello"]));
    let run_time = t0.elapsed();
    assert_eq!(stdout(&out).trim(), "hello");
    eprintln!("ctr run --rm busybox echo hello: {run_time:.2?}");
    // The image's passwd and applets are there.
    let out = run(node.ctr_run().args([
        "--rm",
        "--net-host",
        BUSYBOX,
        &cid("t2"),
        "sh",
        "-c",
        "id -un; which wget",
    ]));
    assert_eq!(stdout(&out).trim(), "root\n/usr/bin/wget");

    // pause runs (as 65535) and exits 0 on SIGTERM, as CRI's sandbox needs.
    let pause_id = cid("p1");
    let pause = node
        .ctr_run()
        .args([
            "--rm",
            "--net-host",
            "registry.k8s.io/pause:3.10",
            &pause_id,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            stdout(&run(node.ctr().args(["tasks", "ls"])))
                .lines()
                .any(|l| l.starts_with(&pause_id) && l.contains("RUNNING"))
        }),
        "pause did not start"
    );
    run(node
        .ctr()
        .args(["tasks", "kill", "--signal", "SIGTERM", &pause_id]));
    let out = pause.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "pause exited with {} on SIGTERM: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // nginx serves the welcome page in a network namespace of its own.
    let ns = node.netns();
    let t0 = Instant::now();
    run(node
        .ctr_run()
        .args(["-d", "--with-ns"])
        .arg(format!("network:/var/run/netns/{ns}"))
        .args([NGINX, &cid("web1")]));
    let mut page = String::new();
    let served = eventually(Duration::from_secs(15), || {
        // (Debian's busybox-static 1.35 wget crashes on `-T`: bound it with timeout(1).)
        let out = Command::new("timeout")
            .args([
                "5",
                "ip",
                "netns",
                "exec",
                &ns,
                "busybox",
                "wget",
                "-qO-",
                "http://127.0.0.1/",
            ])
            .output()
            .unwrap();
        page = stdout(&out);
        out.status.success()
    });
    let nginx_time = t0.elapsed();
    assert!(served, "nginx did not answer: {page}");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    eprintln!("ctr run -d nginx until it serves: {nginx_time:.2?}");
    let tasks = stdout(&run(node.ctr().args(["tasks", "ls"])));
    assert!(
        tasks
            .lines()
            .any(|l| l.starts_with(&cid("web1")) && l.contains("RUNNING")),
        "{tasks}"
    );

    // import_dir: the air-gap directory is imported once, then skipped.
    let air_gap = images::images_dir(&node.data_dir());
    std::fs::create_dir_all(&air_gap).unwrap();
    for a in archives(&images_dir) {
        std::fs::copy(&a, air_gap.join(a.file_name().unwrap())).unwrap();
    }
    std::fs::write(air_gap.join("README.txt"), "not an image").unwrap();
    let t0 = Instant::now();
    let first = images::import_dir(&socket, &air_gap).await.unwrap();
    eprintln!("import_dir (3 archives): {:.2?}", t0.elapsed());
    assert_eq!(first.imported.len(), 3, "{first:?}");
    assert!(first.failed.is_empty(), "{first:?}");
    let t0 = Instant::now();
    let second = images::import_dir(&socket, &air_gap).await.unwrap();
    eprintln!("import_dir again (all skipped): {:.2?}", t0.elapsed());
    assert_eq!(second.skipped.len(), 3, "{second:?}");
    assert!(second.imported.is_empty());
    // A removed image makes its archive import again.
    run(node
        .ctr()
        .args(["images", "rm", "docker.io/library/busybox:1.36"]));
    let third = images::import_dir(&socket, &air_gap).await.unwrap();
    assert_eq!(third.imported.len(), 1, "{third:?}");
    assert!(third.imported[0].0.ends_with("busybox.tar"));

    // A gzip-compressed archive imports too.
    let gz = node.dir.path().join("busybox.tar.gz");
    run(Command::new("sh").arg("-c").arg(format!(
        "gzip -c {} > {}",
        images_dir.join("busybox.tar").display(),
        gz.display()
    )));
    let names = images::import(&socket, &gz).await.unwrap();
    assert_eq!(names, [BUSYBOX, "docker.io/library/busybox:1.36"]);

    // A file that is not an archive fails with containerd's message.
    let junk = node.dir.path().join("junk.tar");
    std::fs::write(&junk, "junk").unwrap();
    let err = images::import(&socket, &junk).await.unwrap_err();
    assert!(matches!(err, images::Error::Import { .. }), "{err}");

    assert_eq!(node.ctd().restarts(), 0);
    node.ctd.take().unwrap().stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_restart_adoption_and_cleanup() {
    let images_dir = cached_images();
    let mut node = Node::start().await;
    let socket = node.socket();
    images::import(&socket, &images_dir.join("busybox.tar"))
        .await
        .unwrap();
    run(node
        .ctr_run()
        .args(["-d", "--net-host", BUSYBOX, &cid("sleeper"), "sleep", "600"]));
    let task_pid = |node: &Node| -> u32 {
        let tasks = stdout(&run(node.ctr().args(["tasks", "ls"])));
        let line = tasks
            .lines()
            .find(|l| l.starts_with(&cid("sleeper")))
            .unwrap()
            .to_string();
        assert!(line.contains("RUNNING"), "{line}");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let sleeper = task_pid(&node);

    // containerd dies: the supervisor restarts it, and the container keeps running.
    let first = node.ctd().pid();
    run(Command::new("kill").args(["-KILL", &first.to_string()]));
    let t0 = Instant::now();
    assert!(
        eventually(Duration::from_secs(20), || {
            let pid = node.ctd().pid();
            pid != 0
                && pid != first
                && Command::new("ctr")
                    .arg("--address")
                    .arg(&socket)
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
        }),
        "containerd was not restarted"
    );
    eprintln!("containerd restarted after SIGKILL in {:.2?}", t0.elapsed());
    assert_eq!(node.ctd().restarts(), 1);
    assert_eq!(task_pid(&node), sleeper);

    // A graceful stop leaves the container running; a new start adopts it.
    node.ctd.take().unwrap().stop().await.unwrap();
    assert!(!is_alive(first));
    assert!(is_alive(sleeper), "the container died with containerd");
    let cfg = ContainerdConfig::for_data_dir(&node.data_dir());
    node.ctd = Some(Containerd::start(cfg.clone()).await.unwrap());
    assert_eq!(task_pid(&node), sleeper);

    // A daemon left behind by a killed agent (same root, nobody to stop it) is replaced by the
    // next start, which adopts the container again.
    node.ctd.take().unwrap().stop().await.unwrap();
    // (Started by hand, as one would: the second one with a relative `--config`.)
    let leftover = |relative: bool| {
        let mut cmd = Command::new("containerd");
        if relative {
            cmd.current_dir(&cfg.root).args(["--config", "config.toml"]);
        } else {
            cmd.arg("--config").arg(cfg.config_path());
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut stale = leftover(false);
    assert!(eventually(Duration::from_secs(10), || Command::new("ctr")
        .arg("--address")
        .arg(&socket)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())));
    node.ctd = Some(Containerd::start(cfg.clone()).await.unwrap());
    assert!(
        eventually(Duration::from_secs(5), || !is_alive(stale.id())),
        "the stale containerd still runs"
    );
    let _ = stale.wait();
    assert_eq!(task_pid(&node), sleeper);

    // cleanup kills the daemon, the shim and the container, and unmounts the rootfs.
    node.ctd.take().unwrap().stop().await.unwrap();
    let mut stale = leftover(true);
    assert!(eventually(Duration::from_secs(10), || is_alive(stale.id())
        && socket.exists()));
    let report = containerd::cleanup(&node.root).unwrap();
    let _ = stale.wait();
    eprintln!("{report:?}");
    assert_eq!(report.daemons, [stale.id()]);
    assert_eq!(report.shims.len(), 1, "{report:?}");
    assert!(report.containers.contains(&sleeper), "{report:?}");
    assert!(!is_alive(sleeper));
    assert!(
        !Path::new("/sys/fs/cgroup/memory/k8s.io")
            .join(cid("sleeper"))
            .exists(),
        "the container's cgroup is left"
    );
    assert!(!node.root.join("runc/k8s.io").join(cid("sleeper")).exists());
    assert!(report.shims.iter().all(|p| !is_alive(*p)));
    assert!(
        mounts_under(&node.root).is_empty(),
        "{:?}",
        mounts_under(&node.root)
    );
    // Idempotent.
    assert!(containerd::cleanup(&node.root).unwrap().is_empty());
}
