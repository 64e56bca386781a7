//! Other client libraries against the real binary: the Python `kubernetes` package (installed
//! by scripts/install-deps.sh).

use krust_e2e::Server;

#[test]
fn python_kubernetes_client() {
    let s = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/client_check.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&s.kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("python client: ok"));
}
