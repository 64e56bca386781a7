//! The real kubectl against the real binary: the issue's user walkthrough and the everyday verbs
//! (get in every format, describe, create, apply, replace, label, annotate, patch, scale, delete).

use krust_e2e::{NGINX_DEPLOYMENT, Server, eventually};
use std::time::Duration;

#[test]
fn fresh_server_has_builtin_namespaces_and_configmaps_work() {
    let s = Server::start();
    let ns = s.ok(&["get", "ns", "-o", "name"]);
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(&format!("namespace/{want}")), "{ns}");
    }
    let out = s.ok(&["create", "configmap", "demo", "--from-literal=a=1"]);
    assert!(out.contains("configmap/demo created"), "{out}");
    let yaml = s.ok(&["get", "cm", "demo", "-o", "yaml"]);
    assert!(yaml.contains("a: \"1\""), "{yaml}");
    assert!(yaml.contains("resourceVersion:"), "{yaml}");
    assert!(yaml.contains("uid:"), "{yaml}");
    assert!(yaml.contains("creationTimestamp:"), "{yaml}");
    let err = s.fails(&["create", "configmap", "demo", "--from-literal=a=2"]);
    assert!(err.contains("configmaps \"demo\" already exists"), "{err}");
    // Version and health endpoints.
    let v = s.ok(&["version", "-o", "json"]);
    assert!(
        v.contains("\"minor\": \"33\"") && v.contains("+krust"),
        "{v}"
    );
    assert_eq!(s.ok(&["get", "--raw", "/readyz"]), "ok");
    assert_eq!(s.ok(&["get", "--raw", "/livez"]), "ok");
    let metrics = s.ok(&["get", "--raw", "/metrics"]);
    assert!(metrics.contains("apiserver_request_total{"), "{metrics}");
    assert!(
        metrics.contains("apiserver_request_duration_seconds_bucket{"),
        "{metrics}"
    );
}

#[test]
fn article_deployment_applies_verbatim_and_everyday_verbs_work() {
    let s = Server::start();
    let out = s.kubectl_input(&["apply", "-f", "-"], Some(NGINX_DEPLOYMENT));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deployment.apps/nginx-deployment created")
    );
    assert!(
        stderr.contains("apps/v1beta1 Deployment is deprecated"),
        "{stderr}"
    );

    // get: table, wide, yaml, json, jsonpath
    let table = s.ok(&["get", "deployments"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("READY") && table.contains("UP-TO-DATE") && table.contains("AVAILABLE"),
        "{table}"
    );
    assert!(table.contains("nginx-deployment   0/3"), "{table}");
    let wide = s.ok(&["get", "deploy", "-o", "wide"]);
    assert!(
        wide.contains("nginx:1.7.9") && wide.contains("app=nginx"),
        "{wide}"
    );
    let sel = s.ok(&[
        "get",
        "deploy",
        "nginx-deployment",
        "-o",
        "jsonpath={.spec.selector.matchLabels.app}",
    ]);
    assert_eq!(
        sel, "nginx",
        "the v1beta1 selector is defaulted from the template labels"
    );
    let json = s.ok(&["get", "deploy", "nginx-deployment", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(v["apiVersion"], "apps/v1");
    assert_eq!(v["metadata"]["generation"], 1);
    assert_eq!(v["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
        "TCP"
    );
    // The same object read through apps/v1beta1.
    let old = s.ok(&[
        "get",
        "deployments.v1beta1.apps",
        "nginx-deployment",
        "-o",
        "jsonpath={.apiVersion}",
    ]);
    assert_eq!(old, "apps/v1beta1");

    // describe shows upstream defaults.
    let d = s.ok(&["describe", "deployment", "nginx-deployment"]);
    for want in [
        "StrategyType:           RollingUpdate",
        "25% max unavailable, 25% max surge",
        "Port:          80/TCP",
        "Selector:               app=nginx",
    ] {
        assert!(d.contains(want), "describe lacks {want:?}:\n{d}");
    }

    // label, annotate, selectors
    s.ok(&["label", "deploy", "nginx-deployment", "tier=web"]);
    s.ok(&["annotate", "deploy", "nginx-deployment", "note=hello"]);
    assert!(
        s.ok(&["get", "deploy", "-l", "tier=web", "-o", "name"])
            .contains("nginx-deployment")
    );
    assert!(
        s.ok(&["get", "deploy", "-l", "tier!=web", "-o", "name"])
            .trim()
            .is_empty()
    );
    assert!(
        s.ok(&["get", "deploy", "-l", "tier in (web,db)", "-o", "name"])
            .contains("nginx-deployment")
    );
    assert!(
        s.ok(&["get", "deploy", "-l", "tier notin (web)", "-o", "name"])
            .trim()
            .is_empty()
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.metadata.annotations.note}"
        ]),
        "hello"
    );

    // scale with and without the precondition; generation bumps on spec changes only
    s.ok(&[
        "scale",
        "--current-replicas=3",
        "--replicas=5",
        "deployment/nginx-deployment",
    ]);
    let err = s.fails(&[
        "scale",
        "--current-replicas=4",
        "--replicas=6",
        "deployment/nginx-deployment",
    ]);
    assert!(err.contains("Expected replicas to be 4, was 5"), "{err}");
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.replicas}/{.metadata.generation}"
        ]),
        "5/2"
    );

    // patch: merge and json
    s.ok(&[
        "patch",
        "deploy",
        "nginx-deployment",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    s.ok(&[
        "patch",
        "deploy",
        "nginx-deployment",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );

    // replace with an edited object
    let current = s.ok(&["get", "deploy", "nginx-deployment", "-o", "json"]);
    let mut obj: serde_json::Value = serde_json::from_str(&current).unwrap_or_default();
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.8".into();
    s.ok_input(&["replace", "-f", "-"], &obj.to_string());
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.8"
    );
    // replace with a stale resourceVersion is a conflict
    let err = String::from_utf8_lossy(
        &s.kubectl_input(&["replace", "-f", "-"], Some(&current))
            .stderr,
    )
    .into_owned();
    assert!(err.contains("the object has been modified"), "{err}");

    // delete --wait, then nothing is found
    s.ok(&["delete", "deployment", "nginx-deployment", "--wait=true"]);
    let out = s.kubectl(&["get", "deployment"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No resources found"),
        "{out:?}"
    );
    let err = s.fails(&["get", "deployment", "nginx-deployment"]);
    assert!(
        err.contains("NotFound") && err.contains("deployments.apps \"nginx-deployment\" not found"),
        "{err}"
    );
}

#[test]
fn delete_by_label_and_all_namespaces() {
    let s = Server::start();
    s.ok(&["create", "namespace", "team-a"]);
    for (ns, name, tier) in [
        ("default", "a", "web"),
        ("default", "b", "db"),
        ("team-a", "c", "web"),
    ] {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    tier: {tier}\ndata:\n  k: v\n"
        );
        s.ok_input(&["apply", "-f", "-"], &cm);
    }
    let all = s.ok(&["get", "cm", "-A", "-l", "tier=web", "--no-headers"]);
    assert!(all.contains("team-a") && all.contains("default"), "{all}");
    assert_eq!(all.lines().count(), 2, "{all}");
    let by_field = s.ok(&[
        "get",
        "cm",
        "-A",
        "--field-selector",
        "metadata.namespace=team-a",
        "-o",
        "name",
    ]);
    // (Every namespace also has the root CA publisher's `kube-root-ca.crt`.)
    assert_eq!(
        by_field
            .lines()
            .filter(|l| *l != "configmap/kube-root-ca.crt")
            .collect::<Vec<_>>(),
        ["configmap/c"]
    );
    s.ok(&["delete", "cm", "-l", "tier=web", "-n", "default"]);
    assert_eq!(
        s.ok(&["get", "cm", "-o", "name", "-l", "tier"]).trim(),
        "configmap/b"
    );
    let err = s.fails(&["get", "pods", "--field-selector", "spec.bogus=x"]);
    assert!(
        err.contains("field label not supported: spec.bogus"),
        "{err}"
    );
    // pagination through --chunk-size gives every object
    for i in 0..7 {
        s.ok(&[
            "create",
            "configmap",
            &format!("page-{i}"),
            "--from-literal=x=y",
        ]);
    }
    let paged = s.ok(&["get", "cm", "--chunk-size=2", "-o", "name"]);
    assert_eq!(
        paged.lines().filter(|l| l.contains("page-")).count(),
        7,
        "{paged}"
    );
}

#[test]
fn api_resources_and_discovery() {
    let s = Server::start();
    let res = s.ok(&["api-resources"]);
    for want in [
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "cronjobs",
        "jobs",
        "horizontalpodautoscalers",
        "ingresses",
        "customresourcedefinitions",
        "persistentvolumeclaims",
        "configmaps",
        "secrets",
        "namespaces",
        "networkpolicies",
        "leases",
        "endpointslices",
        "poddisruptionbudgets",
        "priorityclasses",
        "certificatesigningrequests",
        "clusterrolebindings",
    ] {
        assert!(
            res.lines().any(|l| l.starts_with(want)),
            "api-resources lacks {want}:\n{res}"
        );
    }
    let versions = s.ok(&["api-versions"]);
    for want in [
        "apps/v1",
        "apps/v1beta1",
        "autoscaling/v1",
        "autoscaling/v2",
        "batch/v1",
        "v1",
    ] {
        assert!(
            versions.lines().any(|l| l == want),
            "api-versions lacks {want}:\n{versions}"
        );
    }
    let short = s.ok(&["api-resources", "--api-group=apps", "-o", "wide"]);
    assert!(
        short.contains("deploy") && short.contains("SHORTNAMES"),
        "{short}"
    );
}

#[test]
fn get_watch_sees_changes() {
    let s = Server::start();
    s.ok(&["create", "configmap", "w1", "--from-literal=a=1"]);
    let mut cmd = std::process::Command::new(krust_e2e::kubectl_bin());
    let mut child = cmd
        .env("KUBECONFIG", &s.kubeconfig)
        .args(["get", "cm", "-w", "--request-timeout=0", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // The watcher's lines, as they come.
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout pipe"));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let read_until = |lines: &mut Vec<String>, done: &dyn Fn(&[String]) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done(lines) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => lines.push(l),
                Err(_) => return false,
            }
        }
        true
    };
    // The initial list first, then the changes.
    assert!(
        read_until(&mut lines, &|l| l
            .iter()
            .any(|l| l.contains("configmap/w1"))),
        "{lines:?}"
    );
    s.ok(&["create", "configmap", "w2", "--from-literal=a=1"]);
    s.ok(&["label", "cm", "w1", "x=y"]);
    s.ok(&["delete", "cm", "w2"]);
    let count = |l: &[String], name: &str| l.iter().filter(|l| l.contains(name)).count();
    let seen = read_until(&mut lines, &|l| {
        count(l, "configmap/w1") >= 2 && count(l, "configmap/w2") >= 2
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(seen, "{text}");
}

#[test]
fn data_survives_a_restart() {
    let mut s = Server::start();
    s.ok(&["create", "configmap", "keep", "--from-literal=a=1"]);
    let uid = s.ok(&["get", "cm", "keep", "-o", "jsonpath={.metadata.uid}"]);
    s.restart();
    assert_eq!(
        s.ok(&["get", "cm", "keep", "-o", "jsonpath={.metadata.uid}"]),
        uid
    );
    assert!(eventually(Duration::from_secs(10), || s
        .kubectl(&["get", "ns", "default"])
        .status
        .success()));
}

#[test]
fn tls_only_and_authentication() {
    let mut s = Server::start();
    let kubeconfig_before = std::fs::read_to_string(&s.kubeconfig).unwrap_or_default();
    let url = format!("https://127.0.0.1:{}", s.port);
    // Plain HTTP is not served: the server answers only TLS.
    let plain = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://127.0.0.1:{}/version", s.port))
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    assert_ne!(
        String::from_utf8_lossy(&plain.stdout),
        "200",
        "plain HTTP must not be served"
    );
    // Without a client certificate: /version and /healthz are public, the API needs credentials.
    let anon = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sk", "--max-time", "5", "-w", "\n%{http_code}"])
            .arg(format!("{url}{path}"))
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(anon("/version").ends_with("\n200"), "{}", anon("/version"));
    assert!(anon("/healthz").starts_with("ok"));
    let denied = anon("/api/v1/namespaces");
    assert!(
        denied.ends_with("\n401") && denied.contains("\"reason\":\"Unauthorized\""),
        "{denied}"
    );
    // The serving certificate covers the names clients use.
    let ca = s.data_dir().join("server/tls/ca.crt");
    for host in ["localhost", "kubernetes.default.svc"] {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
            ])
            .arg(&ca)
            .arg("--resolve")
            .arg(format!("{host}:{}:127.0.0.1", s.port))
            .arg(format!("https://{host}:{}/version", s.port))
            .output()
            .unwrap_or_else(|e| panic!("curl: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "certificate does not cover {host}"
        );
    }
    // A restart reuses the CA and the admin credentials.
    s.restart();
    assert_eq!(
        std::fs::read_to_string(&s.kubeconfig).unwrap_or_default(),
        kubeconfig_before
    );
    s.ok(&["get", "ns"]);
    // `krust kubeconfig` prints the admin kubeconfig.
    let out = std::process::Command::new(krust_e2e::krust_bin())
        .args(["kubeconfig", "--data-dir"])
        .arg(s.data_dir())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), kubeconfig_before);
}

#[test]
fn generate_name_dry_run_and_finalizers() {
    let s = Server::start();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\ndata:\n  a: b\n";
    let out = s.ok_input(&["create", "-f", "-", "-o", "name"], cm);
    assert!(
        out.trim().starts_with("configmap/gen-") && out.trim().len() == "configmap/gen-".len() + 5,
        "{out}"
    );
    // dryRun=All validates and answers without storing.
    let out = s.ok(&[
        "create",
        "configmap",
        "dry",
        "--from-literal=a=b",
        "--dry-run=server",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    assert!(!out.is_empty(), "server dry run returns the object");
    assert!(
        !s.kubectl(&["get", "cm", "dry"]).status.success(),
        "dry run stored the object"
    );
    // A finalizer keeps a deleted object (with deletionTimestamp) until it is removed.
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n";
    s.ok_input(&["apply", "-f", "-"], cm);
    s.ok(&["delete", "cm", "held", "--wait=false"]);
    assert!(
        !s.ok(&[
            "get",
            "cm",
            "held",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}"
        ])
        .is_empty()
    );
    s.ok(&[
        "patch",
        "cm",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    assert!(eventually(Duration::from_secs(10), || !s
        .kubectl(&["get", "cm", "held"])
        .status
        .success()));
}
