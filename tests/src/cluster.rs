//! Multi-node test clusters on one machine: a `krust server` on the host (no agent of its own)
//! and N `krust agent`s, each in a network namespace of its own (a test "node", entered with
//! `nsenter --net`, so the mounts — cgroups included — stay the host's) with its own
//! containerd and data dir, joined to the server by a bridge on the host (veth pairs,
//! `10.251.x.0/24`). Nodes reach each other's pods only through the agents' host-gw routes.
//! Dropping the cluster stops every agent, runs `krust agent cleanup` in each namespace and
//! removes the namespaces, veths, bridge and host routes it made, even when a test fails.

use crate::{NodeNet, Server, free_port, kill_group, krust_bin, terminate, test_images};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One agent in its network namespace.
pub struct ClusterNode {
    /// The Node's name.
    pub name: String,
    /// The network namespace (`/run/netns/<netns>`).
    pub netns: String,
    /// The node's address on the bridge (its InternalIP).
    pub ip: String,
    /// The agent's pod bridge (inside its namespace).
    pub cni_bridge: String,
    host_veth: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A server and its agents.
pub struct Cluster {
    pub server: Server,
    pub nodes: Vec<ClusterNode>,
    /// The cluster's pod and Service networks and DNS address.
    pub net: NodeNet,
    /// The first address of the server's `--service-lb-pool` (8 addresses on the nodes' link).
    pub lb_pool_first: String,
    // Dropped after the agents and the server are stopped (field order).
    _host: HostNet,
    _lock: std::fs::File,
}

/// The host's part of the cluster network: the bridge and the `unreachable` routes.
struct HostNet {
    bridge: String,
    net: NodeNet,
}

impl Drop for HostNet {
    fn drop(&mut self) {
        for cidr in [&self.net.cluster_cidr, &self.net.service_cidr] {
            let _ = run("ip", &["route", "del", "unreachable", cidr]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
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

fn must(cmd: &str, args: &[&str]) {
    if let Err(e) = run(cmd, args) {
        panic!("{e}");
    }
}

impl ClusterNode {
    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a command inside the node's network namespace.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> std::process::Output {
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("--")
            .arg(cmd)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("nsenter: {e}"))
    }

    fn stop(&mut self, net: &NodeNet) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(20));
            // Whatever it left in its process group goes too.
            kill_group(&mut c);
        }
        let data = self.data_dir();
        let krust = krust_bin();
        let _ = self.exec(
            &krust.to_string_lossy(),
            &[
                "agent",
                "cleanup",
                "--data-dir",
                &data.to_string_lossy(),
                "--cni-bridge",
                &self.cni_bridge,
                "--cluster-cidr",
                &net.cluster_cidr,
                "--service-cidr",
                &net.service_cidr,
            ],
        );
        let _ = run("ip", &["netns", "del", &self.netns]);
        let _ = run("ip", &["link", "del", &self.host_veth]);
    }
}

impl Cluster {
    /// Starts the server and `n` agents (at most 8) and waits until every node is Ready.
    pub fn start(n: usize) -> Cluster {
        let images = test_images();
        let lock = std::fs::File::create(images.join(".node.lock"))
            .unwrap_or_else(|e| panic!("node lock: {e}"));
        lock.lock().unwrap_or_else(|e| panic!("node lock: {e}"));
        let port = free_port();
        let subnet = 20 + port % 200;
        let bridge = format!("kb{port}");
        let gateway = format!("10.251.{subnet}.1");
        let net = NodeNet {
            cluster_cidr: format!("10.{}.0.0/16", 100 + port % 100),
            service_cidr: format!("10.{}.0.0/16", 200 + port % 50),
            cluster_dns: format!("10.{}.0.10", 200 + port % 50),
            bridge: bridge.clone(),
            ingress_http: 80,
            ingress_https: 443,
        };
        must("ip", &["link", "add", &bridge, "type", "bridge"]);
        let host = HostNet {
            bridge: bridge.clone(),
            net: net.clone(),
        };
        must(
            "ip",
            &["addr", "add", &format!("{gateway}/24"), "dev", &bridge],
        );
        must("ip", &["link", "set", &bridge, "up"]);
        // The host has no agent: its packets to pods and Services die here too.
        for cidr in [&net.cluster_cidr, &net.service_cidr] {
            must("ip", &["route", "replace", "unreachable", cidr]);
        }
        let server = Server::start_on(
            &gateway,
            &[
                "--cluster-cidr",
                &net.cluster_cidr,
                "--service-cidr",
                &net.service_cidr,
                "--cluster-dns",
                &net.cluster_dns,
                "--service-lb-pool",
                &format!("10.251.{subnet}.200-10.251.{subnet}.207"),
            ],
        );
        let token = std::fs::read_to_string(server.data_dir().join("server").join("token"))
            .unwrap_or_else(|e| panic!("join token: {e}"));
        let mut cluster = Cluster {
            server,
            nodes: Vec::new(),
            net,
            lb_pool_first: format!("10.251.{subnet}.200"),
            _host: host,
            _lock: lock,
        };
        for i in 0..n.min(8) {
            let letter = char::from(b'a' + i as u8);
            let node = cluster.add_node(port, subnet, letter, token.trim());
            cluster.nodes.push(node);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = cluster
                .server
                .kubectl(&[
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status} {.spec.podCIDR}{\"\\n\"}{end}",
                ])
                .stdout;
            let ready = String::from_utf8_lossy(&ready);
            let count = ready
                .lines()
                .filter(|l| l.starts_with("True ") && l.len() > 5)
                .count();
            if count == cluster.nodes.len() {
                break;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = cluster.nodes.iter().map(ClusterNode::log).collect();
                panic!(
                    "nodes not Ready after 120s:\n{ready}\n{}\n{}",
                    cluster.server.log(),
                    logs.join("\n----\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        cluster
    }

    fn add_node(&mut self, port: u16, subnet: u16, letter: char, token: &str) -> ClusterNode {
        let netns = format!("kn{port}{letter}");
        let host_veth = format!("kv{port}{letter}");
        let peer = format!("kp{port}{letter}");
        let ip = format!("10.251.{subnet}.{}", 2 + u16::from(letter as u8 - b'a'));
        let dir = tempfile::Builder::new()
            .prefix("krust-node-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut node = ClusterNode {
            name: format!("node-{letter}"),
            netns: netns.clone(),
            ip: ip.clone(),
            cni_bridge: format!("kc{port}{letter}"),
            host_veth: host_veth.clone(),
            dir,
            child: None,
        };
        let setup = || -> Result<(), String> {
            run("ip", &["netns", "add", &netns])?;
            run(
                "ip",
                &[
                    "link", "add", &host_veth, "type", "veth", "peer", "name", &peer, "netns",
                    &netns,
                ],
            )?;
            run(
                "ip",
                &[
                    "link",
                    "set",
                    &host_veth,
                    "master",
                    &self._host.bridge,
                    "up",
                ],
            )?;
            run("ip", &["-n", &netns, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &[
                    "-n",
                    &netns,
                    "addr",
                    "add",
                    &format!("{ip}/24"),
                    "dev",
                    &peer,
                ],
            )?;
            run("ip", &["-n", &netns, "link", "set", &peer, "up"])?;
            Ok(())
        };
        if let Err(e) = setup() {
            node.stop(&self.net);
            panic!("{e}");
        }
        let data = node.data_dir();
        let images = data.join("agent").join("images");
        std::fs::create_dir_all(&images).unwrap_or_else(|e| panic!("{e}"));
        for f in ["pause.tar", "busybox.tar", "nginx.tar"] {
            std::fs::copy(test_images().join(f), images.join(f))
                .unwrap_or_else(|e| panic!("copying {f}: {e}"));
        }
        let resolv = node.dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.254\n").unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(node.dir.path().join("agent.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::process::CommandExt;
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("--")
            .arg(krust_bin())
            .args(["agent", "--server"])
            .arg(format!(
                "https://{}:{}",
                self.server.address, self.server.port
            ))
            .args(["--token", token, "--data-dir"])
            .arg(&data)
            .args(["--node-name", &node.name, "--node-ip", &ip])
            .args(["--cluster-cidr", &self.net.cluster_cidr])
            .args(["--service-cidr", &self.net.service_cidr])
            .args(["--cluster-dns", &self.net.cluster_dns])
            .args(["--cni-bridge", &node.cni_bridge])
            .arg("--private-registry")
            .arg(node.dir.path().join("registries.yaml"))
            .arg("--resolv-conf")
            .arg(&resolv)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .unwrap_or_else(|e| panic!("starting the agent: {e}"));
        node.child = Some(child);
        node
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let net = self.net.clone();
        for node in &mut self.nodes {
            node.stop(&net);
        }
        self.server.stop();
    }
}
