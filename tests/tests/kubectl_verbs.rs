//! Every kubectl verb that only talks to the API, as against upstream: client-side and
//! server-side apply (with pruning of removed fields), diff, edit, patch (all three types),
//! replace, label, annotate, set image/env, scale, autoscale, rollout history/undo on objects
//! written by hand, output formats, describe, wait, get --raw, auth can-i — with the default
//! kubectl and the versioned ones.

use krust_e2e::Server;

const WEB_V1: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    tier: frontend
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.7.9
        ports:
        - containerPort: 80
        - containerPort: 443
        env:
        - name: MODE
          value: prod
        - name: DEBUG
          value: "0"
      - name: sidecar
        image: busybox
        command: ["sleep", "3600"]
"#;

/// The same Deployment with one label, one container, one port and one env var removed, and
/// the replica count and image changed.
const WEB_V2: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.8
        ports:
        - containerPort: 80
        env:
        - name: MODE
          value: prod
"#;

fn jp(s: &Server, what: &str, path: &str) -> String {
    s.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn assert_v2_shape(s: &Server) {
    assert_eq!(jp(s, "deploy/web", "{.spec.replicas}"), "3");
    assert_eq!(
        jp(s, "deploy/web", "{.spec.template.spec.containers[*].name}"),
        "nginx"
    );
    assert_eq!(
        jp(s, "deploy/web", "{.spec.template.spec.containers[0].image}"),
        "nginx:1.8"
    );
    assert_eq!(
        jp(
            s,
            "deploy/web",
            "{.spec.template.spec.containers[0].ports[*].containerPort}"
        ),
        "80"
    );
    assert_eq!(
        jp(
            s,
            "deploy/web",
            "{.spec.template.spec.containers[0].env[*].name}"
        ),
        "MODE"
    );
    assert_eq!(jp(s, "deploy/web", "{.metadata.labels.tier}"), "");
}

#[test]
fn client_side_apply_updates_and_prunes_removed_fields() {
    let s = Server::start();
    assert!(
        s.ok_input(&["apply", "-f", "-"], WEB_V1)
            .contains("deployment.apps/web created")
    );
    assert!(
        s.ok_input(&["apply", "-f", "-"], WEB_V1)
            .contains("deployment.apps/web unchanged")
    );
    let out = s.ok_input(&["apply", "-f", "-"], WEB_V2);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert_v2_shape(&s);
    // The article's walkthrough: apply the v1beta1 manifest, then apply it again with 5 replicas.
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    let five = krust_e2e::NGINX_DEPLOYMENT.replace("replicas: 3", "replicas: 5");
    assert!(
        s.ok_input(&["apply", "-f", "-"], &five)
            .contains("configured")
    );
    assert_eq!(jp(&s, "deploy/nginx-deployment", "{.spec.replicas}"), "5");
}

#[test]
fn server_side_apply_conflicts_force_and_diff() {
    let s = Server::start();
    let out = s.ok_input(&["apply", "--server-side", "-f", "-"], WEB_V1);
    assert!(out.contains("serverside-applied"), "{out}");
    let managers = s.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("kubectl"), "{managers}");
    // Another manager changes replicas: a later apply of a different value conflicts.
    s.ok(&["scale", "deploy/web", "--replicas=7"]);
    let err = String::from_utf8_lossy(
        &s.kubectl_input(&["apply", "--server-side", "-f", "-"], Some(WEB_V2))
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("conflict") && err.contains(".spec.replicas"),
        "{err}"
    );
    s.ok_input(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        WEB_V2,
    );
    assert_v2_shape(&s);
    // diff: no changes exits 0; a change exits 1 and shows it.
    let same = s.kubectl_input(&["diff", "--server-side", "-f", "-"], Some(WEB_V2));
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    // Also the client-side diff of the unchanged manifest (its patch sets `annotations: {}`,
    // which leaves nothing behind, as upstream's typed ObjectMeta does).
    let same = s.kubectl_input(&["diff", "-f", "-"], Some(WEB_V2));
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&same.stdout),
        String::from_utf8_lossy(&same.stderr)
    );
    let changed = s.kubectl_input(
        &["diff", "-f", "-"],
        Some(&WEB_V2.replace("replicas: 3", "replicas: 4")),
    );
    assert_eq!(
        changed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    assert!(String::from_utf8_lossy(&changed.stdout).contains("+  replicas: 4"));
}

#[test]
fn patch_edit_set_scale_autoscale() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], WEB_V1);
    // strategic (the default): merge the container by name
    s.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#]);
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.spec.template.spec.containers[*].image}"
        ),
        "nginx:1.7.9 busybox:1.36"
    );
    // strategic delete directive
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"sidecar"}]}}}}"#,
    ]);
    assert_eq!(
        jp(&s, "deploy/web", "{.spec.template.spec.containers[*].name}"),
        "nginx"
    );
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
    ]);
    s.ok(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#,
    ]);
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.metadata.labels.patched}/{.metadata.labels.json}"
        ),
        "merge/yes"
    );
    // set image / set env
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.9"]);
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.9"
    );
    s.ok(&["set", "env", "deployment/web", "COLOR=blue"]);
    assert!(
        jp(
            &s,
            "deploy/web",
            "{.spec.template.spec.containers[0].env[*].name}"
        )
        .contains("COLOR")
    );
    // edit with an editor script
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 6/' \"$1\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&editor)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(krust_e2e::kubectl_bin())
        .env("KUBECONFIG", &s.kubeconfig)
        .env("EDITOR", &editor)
        .args(["edit", "deployment/web"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "edit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(jp(&s, "deploy/web", "{.spec.replicas}"), "6");
    // scale and autoscale
    s.ok(&["scale", "deployment/web", "--replicas=4"]);
    assert_eq!(jp(&s, "deploy/web", "{.spec.replicas}"), "4");
    s.ok(&[
        "autoscale",
        "deployment/web",
        "--min=2",
        "--max=5",
        "--cpu-percent=60",
    ]);
    let hpa = s.ok(&["get", "hpa", "web"]);
    assert!(
        hpa.contains("Deployment/web") && hpa.contains("60%"),
        "{hpa}"
    );
    // label/annotate --overwrite and removal
    s.ok(&["label", "deploy", "web", "tier=backend", "--overwrite"]);
    s.ok(&["label", "deploy", "web", "json-"]);
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.metadata.labels.tier}/{.metadata.labels.json}"
        ),
        "backend/"
    );
}

#[test]
fn output_formats_wait_raw_and_auth() {
    // The Deployment's status is written by hand here: no controller may overwrite it.
    let s = Server::start_with(&["--controllers", "*,-deployment,-replicaset"]);
    s.ok_input(&["apply", "-f", "-"], WEB_V1);
    assert_eq!(
        s.ok(&["get", "deploy", "-o", "name"]).trim(),
        "deployment.apps/web"
    );
    let cc = s.ok(&[
        "get",
        "deploy",
        "-o",
        "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas",
    ]);
    assert!(
        cc.contains("NAME") && cc.contains("web") && cc.contains('2'),
        "{cc}"
    );
    let gt = s.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "go-template={{.spec.replicas}}",
    ]);
    assert_eq!(gt, "2");
    let sorted = s.ok(&["get", "ns", "--sort-by=.metadata.name", "-o", "name"]);
    assert!(sorted.starts_with("namespace/default"), "{sorted}");
    let labels = s.ok(&["get", "deploy", "--show-labels"]);
    assert!(labels.contains("app=web,tier=frontend"), "{labels}");
    let col = s.ok(&["get", "deploy", "-L", "tier"]);
    assert!(col.contains("TIER") && col.contains("frontend"), "{col}");
    let desc = s.ok(&["describe", "deploy", "web"]);
    assert!(
        desc.contains("Replicas:") && desc.contains("nginx:1.7.9"),
        "{desc}"
    );
    // wait --for=condition on a CRD and --for=delete
    s.ok(&["create", "configmap", "gone-soon", "--from-literal=a=b"]);
    let waiter = std::process::Command::new(krust_e2e::kubectl_bin())
        .env("KUBECONFIG", &s.kubeconfig)
        .args([
            "wait",
            "--for=delete",
            "configmap/gone-soon",
            "--timeout=30s",
        ])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(std::time::Duration::from_millis(800));
    s.ok(&["delete", "configmap", "gone-soon"]);
    let status = waiter.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.status.success(), "wait --for=delete failed");
    s.ok(&["patch", "deploy", "web", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"conditions":[{"type":"Available","status":"True","reason":"Test","message":"ok"}]}}"#]);
    s.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "--timeout=10s",
    ]);
    // get --raw and auth
    let raw = s.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web",
    ]);
    assert!(raw.contains("\"kind\":\"Deployment\""), "{raw}");
    assert_eq!(
        s.ok(&["auth", "can-i", "create", "deployments"]).trim(),
        "yes"
    );
    assert_eq!(s.ok(&["auth", "can-i", "*", "*"]).trim(), "yes");
    let who = s.ok(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(who, "system:admin");
}

#[test]
fn rollout_history_and_undo_on_hand_written_objects() {
    // ReplicaSets written by hand, as the controller would have: no controller runs here.
    let s = Server::start_with(&["--controllers", "*,-deployment,-replicaset"]);
    s.ok_input(&["apply", "-f", "-"], WEB_V1);
    let uid = jp(&s, "deploy/web", "{.metadata.uid}");
    // Two ReplicaSets as the controller would have written them.
    for (rev, image, hash) in [("1", "nginx:1.7.9", "aaaa1"), ("2", "nginx:1.8", "bbbb2")] {
        let rs = format!(
            r#"{{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"web-{hash}","labels":{{"app":"web","pod-template-hash":"{hash}"}},
            "annotations":{{"deployment.kubernetes.io/revision":"{rev}","kubernetes.io/change-cause":"set image {image}"}},
            "ownerReferences":[{{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"{uid}","controller":true,"blockOwnerDeletion":true}}]}},
            "spec":{{"replicas":0,"selector":{{"matchLabels":{{"app":"web","pod-template-hash":"{hash}"}}}},
            "template":{{"metadata":{{"labels":{{"app":"web","pod-template-hash":"{hash}"}}}},"spec":{{"containers":[{{"name":"nginx","image":"{image}"}}]}}}}}}}}"#
        );
        s.ok_input(&["apply", "-f", "-"], &rs);
    }
    s.ok(&[
        "annotate",
        "deploy",
        "web",
        "deployment.kubernetes.io/revision=2",
    ]);
    let hist = s.ok(&["rollout", "history", "deployment/web"]);
    assert!(
        hist.contains("set image nginx:1.7.9") && hist.contains("set image nginx:1.8"),
        "{hist}"
    );
    let rev1 = s.ok(&["rollout", "history", "deployment/web", "--revision=1"]);
    assert!(rev1.contains("nginx:1.7.9"), "{rev1}");
    s.ok(&["rollout", "undo", "deployment/web", "--to-revision=1"]);
    assert_eq!(
        jp(
            &s,
            "deploy/web",
            "{.spec.template.spec.containers[*].image}"
        ),
        "nginx:1.7.9"
    );
    s.ok(&["rollout", "pause", "deployment/web"]);
    assert_eq!(jp(&s, "deploy/web", "{.spec.paused}"), "true");
    s.ok(&["rollout", "resume", "deployment/web"]);
    s.ok(&["rollout", "restart", "deployment/web"]);
    assert!(!jp(&s, "deploy/web", "{.spec.template.metadata.annotations}").is_empty());
}

#[test]
fn versioned_kubectls_drive_the_server() {
    let s = Server::start();
    // Beside /usr/bin/kubectl, or where the Cloud SDK package puts them.
    let dirs = ["/usr/bin", "/usr/lib/google-cloud-sdk/bin"];
    let mut found = Vec::new();
    for minor in 27..=33 {
        let Some(bin) = dirs
            .iter()
            .map(|d| format!("{d}/kubectl.1.{minor}"))
            .find(|b| std::path::Path::new(b).exists())
        else {
            continue;
        };
        found.push(minor);
        let run = |args: &[&str], input: Option<&str>| {
            let mut cmd = std::process::Command::new(&bin);
            cmd.env("KUBECONFIG", &s.kubeconfig).args(args);
            cmd.stdin(if input.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            });
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{bin}: {e}"));
            if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
                use std::io::Write;
                let _ = stdin.write_all(text.as_bytes());
            }
            let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
            assert!(
                out.status.success(),
                "kubectl 1.{minor} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let name = format!("v{minor}");
        let manifest = WEB_V1.replace("name: web\n", &format!("name: {name}\n"));
        run(&["apply", "-f", "-"], Some(&manifest));
        run(
            &["apply", "-f", "-"],
            Some(&manifest.replace("replicas: 2", "replicas: 3")),
        );
        assert!(run(&["get", "deploy", &name], None).contains(&name));
        run(&["scale", &format!("deploy/{name}"), "--replicas=1"], None);
        run(
            &[
                "create",
                "configmap",
                &format!("cm-{name}"),
                "--from-literal=a=b",
            ],
            None,
        );
        run(
            &[
                "patch",
                "deploy",
                &name,
                "-p",
                r#"{"metadata":{"labels":{"x":"y"}}}"#,
            ],
            None,
        );
        run(&["explain", "deployment.spec.replicas"], None);
        run(&["delete", "deploy", &name], None);
    }
    assert!(
        !found.is_empty(),
        "no versioned kubectl (kubectl.1.27 ... kubectl.1.33) in {dirs:?}: install them to run this test"
    );
}

#[test]
fn client_side_to_server_side_apply_migration() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], WEB_V1);
    // kubectl migrates the fields owned through client-side apply to its server-side manager.
    let out = s.ok_input(&["apply", "--server-side", "-f", "-"], WEB_V2);
    assert!(out.contains("serverside-applied"), "{out}");
    assert_v2_shape(&s);
    let managers = s.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}",
    ]);
    assert!(managers.contains("kubectl/Apply"), "{managers}");
    // A later client-side apply of an older manifest still works.
    s.ok_input(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        WEB_V1,
    );
    assert_eq!(
        jp(&s, "deploy/web", "{.spec.template.spec.containers[*].name}"),
        "nginx sidecar"
    );
}
