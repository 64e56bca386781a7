//! OpenAPI through the real kubectls: `explain` (OpenAPI v3, and v2 with
//! `--output=plaintext-openapiv2`) of built-in kinds and of a custom resource, the raw v2/v3
//! documents as kubectl 1.27, 1.28 and 1.33 fetch them (1.27 and 1.28 download the v2 document
//! as protobuf for `apply`), and `apply` sending `fieldValidation=Strict`.

use krust_e2e::{NGINX_DEPLOYMENT, Server, eventually, kubectl_bin};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SDK_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

/// The kubectls to drive the server with: the versioned binaries that exist, plus the default.
fn kubectls(minors: &[u32]) -> Vec<String> {
    let mut out: Vec<String> = minors
        .iter()
        .map(|m| format!("{SDK_BIN}/kubectl.1.{m}"))
        .filter(|b| std::path::Path::new(b).exists())
        .collect();
    out.push(kubectl_bin());
    out
}

/// Runs a specific kubectl binary against the server (its own cache directory per binary).
fn run(s: &Server, bin: &str, args: &[&str], input: Option<&str>) -> Output {
    let cache = s.data_dir().with_file_name(format!(
        "cache-{}",
        bin.rsplit('/').next().unwrap_or("kubectl")
    ));
    let mut cmd = Command::new(bin);
    cmd.env("KUBECONFIG", &s.kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {bin}: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {bin}: {e}"))
}

/// Runs a kubectl binary, asserting success; returns stdout.
fn ok(s: &Server, bin: &str, args: &[&str], input: Option<&str>) -> String {
    let out = run(s, bin, args, input);
    assert!(
        out.status.success(),
        "{bin} {}:\nstdout: {}\nstderr: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:.300}"))
}

#[test]
fn explain_builtin_kinds_with_every_kubectl() {
    let s = Server::start();
    for bin in kubectls(&[27, 28, 32, 33]) {
        let out = ok(&s, &bin, &["explain", "deployment.spec.strategy"], None);
        for want in [
            "GROUP:      apps",
            "KIND:       Deployment",
            "VERSION:    v1",
            "FIELD: strategy <DeploymentStrategy>",
            "DeploymentStrategy describes how to replace existing pods with new ones.",
            "rollingUpdate\t<RollingUpdateDeployment>",
            "Rolling update config params. Present only if DeploymentStrategyType =",
            "type\t<string>",
        ] {
            assert!(out.contains(want), "{bin}: missing {want:?} in\n{out}");
        }
        let out = ok(&s, &bin, &["explain", "pods.spec.containers"], None);
        for want in [
            "KIND:       Pod",
            "FIELD: containers <[]Container>",
            "A single application container that you want to run within a pod.",
            "image\t<string>",
            "name\t<string> -required-",
            "ports\t<[]ContainerPort>",
        ] {
            assert!(out.contains(want), "{bin}: missing {want:?} in\n{out}");
        }
        let out = ok(
            &s,
            &bin,
            &["explain", "pod.spec.containers.resources"],
            None,
        );
        assert!(
            out.contains("limits\t<map[string]Quantity>"),
            "{bin}:\n{out}"
        );
        let out = ok(
            &s,
            &bin,
            &["explain", "deploy.spec.strategy.rollingUpdate"],
            None,
        );
        assert!(out.contains("maxSurge\t<IntOrString>"), "{bin}:\n{out}");
        // The served-only-by-krust apps/v1beta1 Deployment has a schema too.
        let out = ok(
            &s,
            &bin,
            &["explain", "deployment.spec", "--api-version=apps/v1beta1"],
            None,
        );
        assert!(
            out.contains("VERSION:    v1beta1") && out.contains("rollbackTo\t<RollbackConfig>"),
            "{bin}:\n{out}"
        );
        // Explain from the OpenAPI v2 document.
        let out = ok(
            &s,
            &bin,
            &["explain", "deployment.spec", "--output=plaintext-openapiv2"],
            None,
        );
        assert!(
            out.contains("RESOURCE: spec <Object>")
                && out.contains("Specification of the desired behavior of the Deployment."),
            "{bin}:\n{out}"
        );
    }
}

#[test]
fn openapi_documents_fetched_by_kubectl_1_27_1_28_1_33() {
    let s = Server::start();
    for bin in kubectls(&[27, 28, 33]) {
        let root = json(&ok(&s, &bin, &["get", "--raw", "/openapi/v3"], None));
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{root}");
        let doc = json(&ok(&s, &bin, &["get", "--raw", &url], None));
        assert_eq!(doc["openapi"], "3.0.0");
        let deployment = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        let params: Vec<&str> = patch["parameters"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        for want in ["fieldValidation", "fieldManager", "dryRun", "force"] {
            assert!(params.contains(&want), "{params:?}");
        }
        for t in [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ] {
            assert!(patch["requestBody"]["content"].get(t).is_some(), "{t}");
        }
        let v2 = json(&ok(&s, &bin, &["get", "--raw", "/openapi/v2"], None));
        assert_eq!(v2["swagger"], "2.0");
        assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
        assert!(v2["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"].is_object());
    }
}

#[test]
fn apply_sends_strict_field_validation_with_every_kubectl() {
    let s = Server::start();
    for (i, bin) in kubectls(&[27, 28, 33]).iter().enumerate() {
        let manifest = NGINX_DEPLOYMENT.replace(
            "name: nginx-deployment",
            &format!("name: nginx-deployment-{i}"),
        );
        let out = run(&s, bin, &["apply", "-f", "-", "-v=6"], Some(&manifest));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{bin}: {stderr}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("created"),
            "{bin}: {stderr}"
        );
        assert!(
            stderr.contains("fieldManager=kubectl-client-side-apply&fieldValidation=Strict"),
            "{bin}: {stderr}"
        );
        // kubectl 1.27 and 1.28 download the protobuf v2 document first; it must parse.
        assert!(
            !stderr.contains("failed to download openapi"),
            "{bin}: {stderr}"
        );
        let again = ok(&s, bin, &["apply", "-f", "-"], Some(&manifest));
        assert!(again.contains("unchanged"), "{bin}: {again}");
        // An update is a strategic merge patch computed from the published schema.
        let changed = manifest.replace("nginx:1.7.9", "nginx:1.9.1");
        let out = run(&s, bin, &["apply", "-f", "-", "-v=8"], Some(&changed));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{bin}: {stderr}");
        assert!(
            stderr.contains("application/strategic-merge-patch+json")
                && stderr.contains("$setElementOrder/containers")
                && !stderr.contains("error calculating patch"),
            "{bin}: {stderr}"
        );
        let image = ok(
            &s,
            bin,
            &[
                "get",
                "deploy",
                &format!("nginx-deployment-{i}"),
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
            None,
        );
        assert_eq!(image, "nginx:1.9.1", "{bin}");
    }
}

/// Unknown fields are reported under `--validate=strict`: by the server (kubectl sends
/// `fieldValidation=Strict` because the OpenAPI advertises it, as upstream's does), with
/// upstream's `strict decoding error: unknown field "spec.foo"`.
#[test]
fn strict_validation_reports_unknown_fields() {
    let s = Server::start();
    let bad = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  foo: 1
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
      - name: c
        image: nginx
        imagePullPolice: Always
"#;
    for bin in kubectls(&[27, 28, 33]) {
        let out = run(
            &s,
            &bin,
            &["apply", "--validate=strict", "-f", "-"],
            Some(bad),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bin} accepted unknown fields");
        assert!(
            stderr.contains("unknown field \"spec.foo\"")
                && stderr
                    .contains("unknown field \"spec.template.spec.containers[0].imagePullPolice\""),
            "{bin}: {stderr}"
        );
    }
}

const CRONTAB_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: CronTab runs a command on a schedule.
        properties:
          spec:
            type: object
            description: The desired schedule and image of the cron tab.
            properties:
              cronSpec: {type: string, description: The cron schedule.}
              image: {type: string, description: The image to run.}
              replicas: {type: integer}
"#;

#[test]
fn explain_custom_resource_and_apply_it() {
    let s = Server::start();
    s.ok_input(&["apply", "-f", "-"], CRONTAB_CRD);
    s.ok(&[
        "wait",
        "--for=condition=established",
        "crd/crontabs.stable.example.com",
        "--timeout=30s",
    ]);
    for bin in kubectls(&[28, 32, 33]) {
        let mut last = String::new();
        let found = eventually(Duration::from_secs(20), || {
            let out = run(&s, &bin, &["explain", "crontab.spec"], None);
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out.status.success()
        });
        assert!(found, "{bin}: {last}");
        for want in [
            "GROUP:      stable.example.com",
            "KIND:       CronTab",
            "FIELD: spec <Object>",
            "The desired schedule and image of the cron tab.",
            "cronSpec\t<string>",
            "The cron schedule.",
            "replicas\t<integer>",
        ] {
            assert!(last.contains(want), "{bin}: missing {want:?} in\n{last}");
        }
        let top = ok(&s, &bin, &["explain", "crontab"], None);
        assert!(
            top.contains("CronTab runs a command on a schedule.")
                && top.contains("metadata\t<ObjectMeta>"),
            "{bin}:\n{top}"
        );
    }
    let ct = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: c\nspec:\n  cronSpec: '* * * * */5'\n  image: one\n";
    let out = s.kubectl_input(&["apply", "-f", "-", "-v=6"], Some(ct));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("fieldValidation=Strict"), "{stderr}");
    // Custom resources get JSON merge patch (no strategic merge patch is advertised).
    let out = s.kubectl_input(
        &["apply", "-f", "-", "-v=8"],
        Some(&ct.replace("image: one", "image: two")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("application/merge-patch+json"), "{stderr}");
    assert_eq!(
        s.ok(&["get", "ct", "c", "-o", "jsonpath={.spec.image}"]),
        "two"
    );
}
