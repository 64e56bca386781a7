//! Streaming end to end, as root, with real containers: `kubectl logs` (tail, timestamps,
//! follow, previous, errors), `kubectl exec` (exit codes, stdin EOF, TTY with the terminal
//! size), `kubectl cp` both ways, `kubectl attach`, `kubectl debug` (an ephemeral container in
//! the target's process namespace), `kubectl run -i`/`-it` (output of a
//! process that exits before the attach, exit codes, a TTY session ending with its container)
//! and `kubectl port-forward` + HTTP to nginx,
//! each through the API server's proxy to the kubelet's HTTPS server, with the default
//! `/usr/bin/kubectl` (it runs kubectl 1.33 for this server) and kubectl 1.32 when installed.
//!
//! One node server serves every check (node servers run one at a time on a machine). The
//! exec round trip and the port-forward throughput are printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure should panic

use krust_e2e::{Server, eventually, free_port, kubectl_bin};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);
const KUBECTL_132: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.32";

/// Runs `kubectl` (binary `bin`) against `s`, with optional stdin.
fn run(s: &Server, bin: &str, args: &[&str], input: Option<&[u8]>) -> std::process::Output {
    let mut cmd = Command::new(bin);
    cmd.env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {bin}: {e}"));
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn pod(s: &Server, name: &str) -> Value {
    serde_json::from_slice(&s.kubectl(&["get", "pod", name, "-o", "json"]).stdout)
        .unwrap_or(Value::Null)
}

fn wait_running(s: &Server, name: &str) {
    assert!(
        eventually(WAIT, || pod(s, name)["status"]["phase"] == "Running"
            && pod(s, name)["status"]["containerStatuses"][0]["ready"] == true),
        "pod {name} is not running: {}",
        pod(s, name)
    );
}

/// An HTTP/1.0 GET through `port` on 127.0.0.1: the whole answer.
fn http_get(port: u16, path: &str) -> Vec<u8> {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(c, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut body = Vec::new();
    c.read_to_end(&mut body).unwrap();
    body
}

/// `kubectl port-forward pod/web LOCAL:80` until dropped.
struct Forward(std::process::Child);

impl Forward {
    fn start(s: &Server, bin: &str, local: u16) -> Forward {
        let child = Command::new(bin)
            .env("KUBECONFIG", &s.kubeconfig)
            .env("HOME", s.data_dir())
            .args(["port-forward", "pod/web", &format!("{local}:80")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            eventually(Duration::from_secs(20), || std::net::TcpStream::connect((
                "127.0.0.1",
                local
            ))
            .is_ok()),
            "port-forward did not listen on {local}"
        );
        Forward(child)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn checks_for(s: &Server, bin: &str) {
    eprintln!("--- streaming with {bin}");
    // logs: tail, timestamps.
    let o = run(s, bin, &["logs", "counter", "--tail", "2"], None);
    assert!(o.status.success(), "{}", err(&o));
    let lines: Vec<String> = out(&o).lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(lines.len(), 2, "tail 2: {lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("tick ")), "{lines:?}");
    let o = run(
        s,
        bin,
        &["logs", "counter", "--tail", "1", "--timestamps"],
        None,
    );
    let line = out(&o);
    let (ts, rest) = line.trim().split_once(' ').unwrap();
    assert!(
        ts.starts_with("20") && ts.ends_with('Z') && ts.contains('T'),
        "{line}"
    );
    assert!(rest.starts_with("tick "), "{line}");
    // Errors as upstream words them.
    let o = run(s, bin, &["logs", "web", "-c", "nope"], None);
    assert!(!o.status.success());
    assert!(
        err(&o).contains("container nope is not valid for pod web"),
        "{}",
        err(&o)
    );

    // logs -f sees lines as they are written.
    let mut follow = Command::new(bin)
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .args(["logs", "-f", "counter", "--tail", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    let started = Instant::now();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while seen.lines().count() < 4 && started.elapsed() < Duration::from_secs(20) {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let numbers: Vec<u64> = seen
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tick ")?.parse().ok())
        .collect();
    assert!(numbers.len() >= 4, "logs -f saw {seen:?}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "logs -f out of order: {numbers:?}"
    );

    // exec: output, exit codes, stdin EOF.
    let o = run(s, bin, &["exec", "web", "--", "echo", "hello world"], None);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "hello world\n");
    let o = run(s, bin, &["exec", "web", "--", "false"], None);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let o = run(s, bin, &["exec", "web", "--", "sh", "-c", "exit 3"], None);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    let o = run(
        s,
        bin,
        &["exec", "web", "--", "sh", "-c", "echo out; echo err >&2"],
        None,
    );
    assert_eq!(out(&o), "out\n");
    assert!(err(&o).contains("err"), "{}", err(&o));
    let o = run(s, bin, &["exec", "-i", "web", "--", "cat"], Some(b"hi\n"));
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "hi\n");
    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let o = run(s, bin, &["exec", "-i", "web", "--", "wc", "-c"], Some(&big));
    assert_eq!(out(&o).trim(), "300000", "{}", err(&o));

    // exec -it: a terminal of the client's size (the first resize can race the command, as
    // upstream: the command waits a moment).
    let cmd = format!(
        "stty cols 123 rows 45; {bin} exec -it web -- sh -c 'sleep 1; stty size; tty; exit 5'"
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = out(&o);
    assert!(text.contains("45 123"), "exec -it: {text:?} {}", err(&o));
    assert!(text.contains("/dev/pts/"), "exec -it: {text:?}");
    assert_eq!(o.status.code(), Some(5), "exec -it exit code: {text:?}");

    // cp both ways (exec + tar).
    let dir = s.data_dir().join(format!("cp-{}", free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("up.txt");
    std::fs::write(&local, "copied up\n").unwrap();
    let o = run(
        s,
        bin,
        &["cp", local.to_str().unwrap(), "web:/tmp/up.txt"],
        None,
    );
    assert!(o.status.success(), "cp up: {}", err(&o));
    let o = run(s, bin, &["exec", "web", "--", "cat", "/tmp/up.txt"], None);
    assert_eq!(out(&o), "copied up\n");
    let down = dir.join("down.txt");
    let o = run(
        s,
        bin,
        &["cp", "web:/tmp/up.txt", down.to_str().unwrap()],
        None,
    );
    assert!(o.status.success(), "cp down: {}", err(&o));
    assert_eq!(std::fs::read_to_string(&down).unwrap(), "copied up\n");

    // attach: the running process's output.
    let o = Command::new("timeout")
        .args(["5", bin, "attach", "counter"])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out(&o).contains("tick "), "attach: {} {}", out(&o), err(&o));

    // port-forward + HTTP.
    let port = free_port();
    let _fwd = Forward::start(s, bin, port);
    let page = http_get(port, "/");
    assert!(
        String::from_utf8_lossy(&page).contains("Welcome to nginx!"),
        "{}",
        String::from_utf8_lossy(&page)
    );
    // Several connections at once.
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || http_get(port, "/")))
        .collect();
    for h in handles {
        assert!(String::from_utf8_lossy(&h.join().unwrap()).contains("Welcome to nginx!"));
    }
}

#[test]
fn logs_exec_cp_attach_and_port_forward() {
    let s = Server::start_node(&[]);
    s.ok(&["run", "web", "--image=nginx:1.7.9"]);
    s.ok(&[
        "run",
        "counter",
        "--image=busybox:1.36",
        "--command",
        "--",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done",
    ]);
    s.ok(&[
        "run",
        "crash",
        "--image=busybox:1.36",
        "--command",
        "--",
        "sh",
        "-c",
        "echo run at $(date +%s%N); sleep 2; exit 1",
    ]);
    wait_running(&s, "web");
    wait_running(&s, "counter");
    // `--tail 2` below needs two lines logged.
    assert!(
        eventually(WAIT, || out(&s.kubectl(&["logs", "counter"]))
            .lines()
            .count()
            >= 2),
        "counter logged fewer than 2 lines"
    );

    checks_for(&s, &kubectl_bin());
    if std::path::Path::new(KUBECTL_132).exists() {
        checks_for(&s, KUBECTL_132);
    }

    // `kubectl run -i`: a process that writes and exits before the attach connects still has
    // its output shown (kubectl falls back to the log when the attach saw nothing), and the
    // exit code comes back with --restart=Never.
    let bin = kubectl_bin();
    for i in 0..3 {
        let name = format!("once-{i}");
        let o = Command::new("timeout")
            .args(["90", &bin, "run", &name, "--rm", "-i", "--restart=Never"])
            .args(["--image=busybox:1.36", "--", "echo", "hi"])
            .env("KUBECONFIG", &s.kubeconfig)
            .env("HOME", s.data_dir())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "run -i: {} {}", out(&o), err(&o));
        assert!(
            out(&o).lines().any(|l| l == "hi"),
            "run -i: {} {}",
            out(&o),
            err(&o)
        );
        assert!(
            out(&o).contains(&format!("pod \"{name}\" deleted")),
            "{}",
            out(&o)
        );
    }
    let o = Command::new("timeout")
        .args(["90", &bin, "run", "exit3", "--rm", "-i", "--restart=Never"])
        .args(["--image=busybox:1.36", "--", "sh", "-c", "echo bye; exit 3"])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{} {}", out(&o), err(&o));
    assert!(
        out(&o).lines().any(|l| l == "bye"),
        "{} {}",
        out(&o),
        err(&o)
    );
    // `-it` with stdin not a terminal: kubectl drops the TTY, the container has one; the
    // session ends when the container exits (`timeout` would answer 124).
    let o = Command::new("timeout")
        .args(["90", &bin, "run", "tty", "--rm", "-it", "--restart=Never"])
        .args([
            "--image=busybox:1.36",
            "--",
            "sh",
            "-c",
            "echo there; sleep 2",
        ])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "run -it: {:?} {} {}",
        o.status,
        out(&o),
        err(&o)
    );
    assert!(
        out(&o).contains("pod \"tty\" deleted"),
        "{} {}",
        out(&o),
        err(&o)
    );

    // kubectl debug: an ephemeral container in web's process namespace (--target) sees nginx.
    s.ok(&[
        "debug",
        "web",
        "--image=busybox:1.36",
        "--target=web",
        "-c",
        "dbg",
        "--",
        "sleep",
        "3600",
    ]);
    assert!(
        eventually(WAIT, || {
            pod(&s, "web")["status"]["ephemeralContainerStatuses"][0]["state"]["running"]
                .is_object()
        }),
        "{}",
        pod(&s, "web")["status"]
    );
    let ps = s.ok(&["exec", "web", "-c", "dbg", "--", "ps"]);
    assert!(ps.contains("nginx: master process"), "{ps}");
    // The pod itself is unchanged: nothing restarted.
    assert_eq!(
        pod(&s, "web")["status"]["containerStatuses"][0]["restartCount"],
        0
    );
    // An unknown target is refused by the API with upstream's message.
    let bad = s.kubectl(&[
        "debug",
        "web",
        "--image=busybox:1.36",
        "--target=nope",
        "--",
        "true",
    ]);
    assert!(!bad.status.success());
    assert!(
        err(&bad).contains("spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\""),
        "{}",
        err(&bad)
    );
    // Interactive: the output arrives (from the attach, or the log if the command was faster).
    let o = Command::new("timeout")
        .args([
            "90",
            &bin,
            "debug",
            "web",
            "--image=busybox:1.36",
            "--target=web",
            "-c",
            "dbg2",
            "-i",
        ])
        .args(["--", "ps", "-o", "pid,args"])
        .env("KUBECONFIG", &s.kubeconfig)
        .env("HOME", s.data_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "debug -i: {} {}", out(&o), err(&o));
    assert!(
        out(&o).contains("nginx: master process nginx -g daemon off;"),
        "debug -i: {} {}",
        out(&o),
        err(&o)
    );

    // --previous after a restart: the previous attempt's log.
    assert!(
        eventually(WAIT, || pod(&s, "crash")["status"]["containerStatuses"][0]
            ["restartCount"]
            .as_u64()
            .unwrap_or(0)
            >= 1),
        "crash never restarted: {}",
        pod(&s, "crash")
    );
    let prev = s.kubectl(&["logs", "crash", "--previous"]);
    assert!(
        out(&prev).starts_with("run at "),
        "{} {}",
        out(&prev),
        err(&prev)
    );
    let o = s.kubectl(&["logs", "web", "--previous"]);
    assert!(
        err(&o).contains("previous terminated container \"web\" in pod \"web\" not found"),
        "{}",
        err(&o)
    );

    // Measurements: exec round trip (kubectl start included) and port-forward throughput.
    let bin = kubectl_bin();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        assert!(
            run(&s, &bin, &["exec", "web", "--", "true"], None)
                .status
                .success()
        );
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "exec round trip (kubectl exec web -- true): median {:?}",
        times[2]
    );
    s.ok(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "head -c 67108864 /dev/zero > /usr/share/nginx/html/big",
    ]);
    let port = free_port();
    let _fwd = Forward::start(&s, &bin, port);
    let t = Instant::now();
    let body = http_get(port, "/big");
    let secs = t.elapsed().as_secs_f64();
    assert!(body.len() > 64 << 20, "got {} bytes", body.len());
    eprintln!(
        "port-forward throughput: {:.1} MiB/s (64 MiB in {secs:.2}s)",
        (body.len() as f64 / (1 << 20) as f64) / secs
    );
}
