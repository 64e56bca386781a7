//! Image pulls from real registries: Debian's `docker-registry` (the distribution registry)
//! runs on loopback with TLS and basic auth, an image is pushed to it with `skopeo`, and pods
//! pull it through a mirror entry of `registries.yaml` (k3s's format) and with
//! `imagePullSecrets`; an image of a registry the node has no entry for fails at once with an
//! event naming the fix. Nothing here contacts a public registry.

use base64::Engine;
use krust_e2e::{Server, eventually, free_port, test_images};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "puller";
const PASSWORD: &str = "s3cret-pw";

/// A distribution registry on 127.0.0.1 with TLS and htpasswd auth; killed on drop.
struct Registry {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- docker-registry log ---\n{log}");
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a CA and a server certificate for 127.0.0.1 into `dir` (`ca.crt`, `server.crt`,
/// `server.key`).
fn certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut ca_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "krust test registry CA");
    let ca = ca_params
        .self_signed(&ca_key)
        .unwrap_or_else(|e| panic!("{e}"));
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    let cert = params
        .signed_by(&key, &issuer)
        .unwrap_or_else(|e| panic!("{e}"));
    for (name, pem) in [
        ("ca.crt", ca.pem()),
        ("server.crt", cert.pem()),
        ("server.key", key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), pem).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

fn start_registry(dir: &Path) -> Registry {
    certificates(dir);
    let htpasswd = run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
    std::fs::write(dir.join("htpasswd"), htpasswd).unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let d = dir.display();
    let config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {d}/storage\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\nauth:\n  htpasswd:\n    realm: krust-test\n    path: {d}/htpasswd\n"
    );
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("registry.log"))
                .map(Stdio::from)
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .spawn()
        .unwrap_or_else(|e| panic!("starting docker-registry: {e}"));
    let registry = Registry {
        child,
        port,
        log: dir.join("registry.log"),
    };
    assert!(
        eventually(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "docker-registry did not listen on {port}"
    );
    registry
}

/// Pushes the test busybox image to the registry as `library/busybox:pushed`.
fn push_busybox(dir: &Path, port: u16) {
    let certs = dir.join("skopeo-certs");
    std::fs::create_dir_all(&certs).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).unwrap_or_else(|e| panic!("{e}"));
    let archive = test_images().join("busybox.tar");
    run(Command::new("skopeo").args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--dest-creds",
        &format!("{USER}:{PASSWORD}"),
        "--dest-cert-dir",
        &certs.to_string_lossy(),
        &format!("oci-archive:{}:latest", archive.display()),
        &format!("docker://127.0.0.1:{port}/library/busybox:pushed"),
    ]));
}

fn pod(name: &str, image: &str, secret: Option<&str>) -> String {
    let secrets = secret
        .map(|s| format!("  imagePullSecrets:\n  - name: {s}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{secrets}  terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: {image}\n    imagePullPolicy: Always\n    command: [sleep, \"3600\"]\n"
    )
}

fn pod_json(s: &Server, name: &str) -> Value {
    let out = s.kubectl(&["get", "pod", name, "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn waiting_of(p: &Value) -> (String, String) {
    let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
    (
        w["reason"].as_str().unwrap_or("").to_string(),
        w["message"].as_str().unwrap_or("").to_string(),
    )
}

fn wait_for(s: &Server, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = pod_json(s, name);
        if pred(&p) {
            return p;
        }
        if Instant::now() > deadline {
            let events = s.kubectl(&[
                "get",
                "events",
                "--field-selector",
                &format!("involvedObject.name={name}"),
            ]);
            panic!(
                "pod {name}: {what}:\n{p:#}\nevents:\n{}",
                String::from_utf8_lossy(&events.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Whether the pod's container waits on a failed pull.
fn pull_failed(p: &Value) -> bool {
    matches!(
        waiting_of(p).0.as_str(),
        "ErrImagePull" | "ImagePullBackOff"
    )
}

/// The messages of the pod's `Failed` events.
fn failed_events(s: &Server, name: &str) -> String {
    s.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name},reason=Failed"),
        "-o",
        "jsonpath={.items[*].message}",
    ])
}

fn docker_secret(name: &str, host: &str, user: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}");
    let data = base64::engine::general_purpose::STANDARD.encode(config);
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {data}\n"
    )
}

#[test]
fn pods_pull_through_mirrors_and_pull_secrets() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let registry = start_registry(dir.path());
    let port = registry.port;
    push_busybox(dir.path(), port);
    let host = format!("127.0.0.1:{port}");
    let registries = dir.path().join("registries.yaml");
    std::fs::write(
        &registries,
        format!(
            "mirrors:\n  registry.krust.test:\n    endpoint:\n      - \"https://{host}\"\nconfigs:\n  \"{host}\":\n    auth:\n      username: {USER}\n      password: {PASSWORD}\n    tls:\n      ca_file: {}\n",
            dir.path().join("ca.crt").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s = Server::start_node(&["--private-registry", &registries.to_string_lossy()]);
    assert!(eventually(Duration::from_secs(60), || {
        s.kubectl(&["get", "serviceaccount", "default"])
            .status
            .success()
    }));

    // Through the mirror, with the credentials and CA of the mirror's `configs` entry.
    s.ok_input(
        &["create", "-f", "-"],
        &pod(
            "mirrored",
            "registry.krust.test/library/busybox:pushed",
            None,
        ),
    );
    wait_for(&s, "mirrored", "running from the mirror", |p| {
        p["status"]["phase"] == "Running"
    });
    let pulled = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=mirrored,reason=Pulled",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        pulled.contains("Successfully pulled image \"registry.krust.test/library/busybox:pushed\""),
        "{pulled}"
    );

    // imagePullSecrets are what the pull presents: wrong ones are refused by the registry...
    s.ok_input(
        &["apply", "-f", "-"],
        &docker_secret("wrong", &host, USER, "not-the-password"),
    );
    s.ok_input(
        &["create", "-f", "-"],
        &pod(
            "wrong-secret",
            &format!("{host}/library/busybox:pushed"),
            Some("wrong"),
        ),
    );
    let p = wait_for(&s, "wrong-secret", "refused with the wrong secret", |p| {
        let (reason, message) = waiting_of(p);
        matches!(reason.as_str(), "ErrImagePull" | "ImagePullBackOff") && !message.is_empty()
    });
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=wrong-secret",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("401 Unauthorized") || events.contains("unauthorized"),
        "{events}\n{p:#}"
    );
    // ...and the right ones let it through.
    s.ok_input(
        &["apply", "-f", "-"],
        &docker_secret("right", &host, USER, PASSWORD),
    );
    s.ok_input(
        &["create", "-f", "-"],
        &pod(
            "right-secret",
            &format!("{host}/library/busybox:pushed"),
            Some("right"),
        ),
    );
    wait_for(&s, "right-secret", "running with the right secret", |p| {
        p["status"]["phase"] == "Running"
    });

    // A registry the node has no entry for: refused at once, the event names the fix.
    s.ok_input(
        &["create", "-f", "-"],
        &pod("elsewhere", "quay.io/krust/none:1", None),
    );
    wait_for(
        &s,
        "elsewhere",
        "refused without contacting quay.io",
        pull_failed,
    );
    let failed = failed_events(&s, "elsewhere");
    assert!(
        failed.contains("no registry or mirror for \"quay.io\" is configured")
            && failed.contains(&registries.to_string_lossy().into_owned()),
        "{failed}"
    );
    drop(s);
    drop(registry);
}

#[test]
fn an_air_gapped_node_says_how_to_get_an_image() {
    let s = Server::start_node(&[]);
    s.ok_input(&["create", "-f", "-"], &pod("latest", "busybox", None));
    wait_for(&s, "latest", "refused at once", pull_failed);
    let failed = failed_events(&s, "latest");
    assert!(
        failed.contains("Failed to pull image \"busybox\": this node is air-gapped (no registry is configured): import the image (krust images import), use a tag that is present with imagePullPolicy IfNotPresent, or configure a registry for \"docker.io\" in "),
        "{failed}"
    );
}
