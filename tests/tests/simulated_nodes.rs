//! Simulated nodes (`krust agent --simulate-nodes N`): the agent joins with the server's join
//! token (CA pinned by the token's hash), registers Ready nodes with Leases, runs a pod bound
//! to one of them (Running, Ready, an address from the node's podCIDR) and honours its
//! deletion; a token whose CA hash does not match is refused. The simulated pod range, of an
//! agent or of `krust server --simulate-nodes`, is refused when it overlaps the host and is
//! covered by an `unreachable` route while it runs (removed on a clean stop or by cleanup).

use krust_e2e::{Server, eventually, krust_bin};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `krust agent` child process, killed when dropped (its log printed if the test failed).
struct Agent {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(s: &Server, token: &str, extra: &[&str]) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("krust-agent-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let log = dir.path().join("agent.log");
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("agent log: {e}"));
        let err = out.try_clone().unwrap_or_else(|e| panic!("agent log: {e}"));
        let child = Command::new(krust_bin())
            .arg("agent")
            .arg("--server")
            .arg(format!("https://127.0.0.1:{}", s.port))
            .arg("--token")
            .arg(token)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", krust_bin().display()));
        Agent {
            child,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `timeout` for the agent to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // A clean stop first: the agent removes the `unreachable` route of its simulated range.
        let _ = std::process::Command::new("kill")
            .args(["-s", "TERM", "--", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- krust agent log ---\n{}", self.log());
        }
    }
}

fn join_token(s: &Server) -> String {
    std::fs::read_to_string(s.data_dir().join("server").join("token"))
        .unwrap_or_else(|e| panic!("reading the join token: {e}"))
        .trim()
        .to_string()
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    let bad = || panic!("bad address {ip} or CIDR {cidr}");
    let Some((net, prefix)) = cidr.split_once('/') else {
        bad()
    };
    let (Ok(net), Ok(prefix), Ok(ip)) = (
        net.parse::<Ipv4Addr>(),
        prefix.parse::<u32>(),
        ip.parse::<Ipv4Addr>(),
    ) else {
        bad()
    };
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

#[test]
fn simulated_nodes_run_pods() {
    let s = Server::start();
    // A range no other test uses, so the route checked below is this agent's alone.
    let agent = Agent::start(
        &s,
        &join_token(&s),
        &[
            "--simulate-nodes",
            "3",
            "--simulated-pod-cidr",
            "10.97.0.0/16",
        ],
    );

    // Three Ready nodes, marked as simulated.
    let ready = "{range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}";
    let mut last = String::new();
    let all_ready = eventually(Duration::from_secs(60), || {
        let out = s.kubectl(&[
            "get",
            "nodes",
            "-l",
            "krust.io/simulated=true",
            "-o",
            &format!("jsonpath={ready}"),
        ]);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines: Vec<&str> = last.lines().collect();
        lines.sort();
        lines == ["sim-node-0=True", "sim-node-1=True", "sim-node-2=True"]
    });
    assert!(
        all_ready,
        "nodes not Ready: {last:?}\nagent log:\n{}",
        agent.log()
    );
    let table = s.ok(&["get", "nodes"]);
    for n in 0..3 {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("sim-node-{n} ")))
            .unwrap_or_else(|| panic!("sim-node-{n} missing:\n{table}"));
        assert!(row.contains(" Ready "), "{row}");
    }
    let node = s.ok(&["get", "node", "sim-node-1", "-o", "json"]);
    let node: serde_json::Value = serde_json::from_str(&node).unwrap();
    assert_eq!(
        node["metadata"]["labels"]["kubernetes.io/hostname"],
        "sim-node-1"
    );
    assert_eq!(node["status"]["capacity"]["cpu"], "32");
    assert_eq!(node["status"]["capacity"]["pods"], "110");
    assert_eq!(node["status"]["allocatable"], node["status"]["capacity"]);
    assert_eq!(
        node["status"]["nodeInfo"]["kubeletVersion"],
        "v1.33.0-krust"
    );
    let pod_cidr = node["spec"]["podCIDR"].as_str().unwrap().to_string();

    // A Lease per node, renewed.
    let holders = s.ok(&[
        "get",
        "leases",
        "-n",
        "kube-node-lease",
        "-o",
        "jsonpath={.items[*].spec.holderIdentity}",
    ]);
    let mut holders: Vec<&str> = holders.split_whitespace().collect();
    holders.sort();
    assert_eq!(holders, ["sim-node-0", "sim-node-1", "sim-node-2"]);
    let renew = || {
        s.ok(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "sim-node-0",
            "-o",
            "jsonpath={.spec.renewTime}",
        ])
    };
    let first = renew();
    assert!(
        eventually(Duration::from_secs(25), || renew() != first),
        "the lease of sim-node-0 was not renewed (renewTime still {first})"
    );

    // A pod bound by hand runs, with an address from its node's range.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},
            "spec":{"nodeName":"sim-node-1","containers":[{"name":"app","image":"nginx:1.7.9"}]}}"#,
    );
    s.ok(&["wait", "--for=condition=Ready", "pod/x", "--timeout=60s"]);
    let pod = s.ok(&["get", "pod", "x", "-o", "json"]);
    let pod: serde_json::Value = serde_json::from_str(&pod).unwrap();
    assert_eq!(pod["status"]["phase"], "Running");
    let ip = pod["status"]["podIP"].as_str().unwrap();
    assert!(in_cidr(ip, &pod_cidr), "pod IP {ip} outside {pod_cidr}");
    assert_eq!(pod["status"]["podIPs"][0]["ip"], ip);
    assert_eq!(
        pod["status"]["hostIP"],
        node["status"]["addresses"][0]["address"]
    );
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
    assert!(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].is_string());
    let wide = s.ok(&["get", "pod", "x"]);
    assert!(wide.contains("1/1") && wide.contains("Running"), "{wide}");

    // Deletion: graceful, then gone (kubectl waits for it, bounded by its timeout).
    s.ok(&["delete", "pod", "x", "--timeout=30s"]);
    assert!(!s.kubectl(&["get", "pod", "x"]).status.success());

    // The simulated range is covered by an `unreachable` route while the agent runs, and the
    // route goes with a clean stop.
    let route = || {
        let out = std::process::Command::new("ip")
            .args(["route", "show", "10.97.0.0/16"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(route().contains("unreachable 10.97.0.0/16"), "{}", route());
    drop(agent);
    assert!(!route().contains("unreachable"), "{}", route());
}

#[test]
fn agent_refuses_a_wrong_ca_hash() {
    let s = Server::start();
    let token = join_token(&s);
    let secret = token.rsplit_once("::server:").unwrap().1;
    let forged = format!("K10{}::server:{secret}", "0".repeat(64));
    let mut agent = Agent::start(&s, &forged, &["--simulate-nodes", "1"]);
    let status = agent
        .wait_exit(Duration::from_secs(30))
        .expect("the agent kept running with a token whose CA hash does not match");
    assert!(!status.success());
    let log = agent.log();
    assert!(log.contains("does not match the join token"), "{log}");
    assert!(!s.ok(&["get", "nodes"]).contains("sim-node"));
}

/// `ip route show CIDR`.
fn route_of(cidr: &str) -> String {
    let out = Command::new("ip")
        .args(["route", "show", cidr])
        .output()
        .unwrap_or_else(|e| panic!("ip route: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn server_simulated_range_is_checked_and_covered_by_a_route() {
    // A range overlapping this host's loopback is refused, naming the flag.
    let out = Command::new(krust_bin())
        .args([
            "server",
            "--simulate-nodes",
            "1",
            "--simulated-pod-cidr",
            "127.0.0.0/16",
        ])
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")).path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("--simulated-pod-cidr 127.0.0.0/16 overlaps"),
        "{err}"
    );

    // While the server runs, an `unreachable` route covers the range; a clean stop removes it.
    let cidr = "10.98.0.0/16";
    let mut s = Server::start_with(&["--simulate-nodes", "2", "--simulated-pod-cidr", cidr]);
    assert!(eventually(Duration::from_secs(30), || s
        .ok(&["get", "nodes", "--no-headers"])
        .lines()
        .count()
        == 2));
    assert!(
        route_of(cidr).contains(&format!("unreachable {cidr}")),
        "{}",
        route_of(cidr)
    );
    s.stop();
    assert!(
        !route_of(cidr).contains("unreachable"),
        "{}",
        route_of(cidr)
    );

    // After a SIGKILL the route stays; `krust agent cleanup` removes it.
    s.restart();
    assert!(eventually(Duration::from_secs(30), || route_of(cidr)
        .contains("unreachable")));
    s.kill();
    assert!(route_of(cidr).contains("unreachable"), "{}", route_of(cidr));
    let out = Command::new(krust_bin())
        .args(["agent", "cleanup", "--data-dir"])
        .arg(s.data_dir())
        .args([
            "--cluster-cidr",
            "10.99.250.0/24",
            "--service-cidr",
            "10.99.251.0/24",
        ])
        .args(["--cni-bridge", "krustsimtest0"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !route_of(cidr).contains("unreachable"),
        "{}",
        route_of(cidr)
    );
}
