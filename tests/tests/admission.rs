//! The admission chain as a user sees it through kubectl: ServiceAccount (the account, its
//! token volume in the Pod object, automount opt-outs), Priority (classes resolved, unknown
//! ones refused), DefaultTolerationSeconds, NamespaceLifecycle; plus what every namespace has
//! (the `default` ServiceAccount, `kube-root-ca.crt`) and the `kubernetes` Service's
//! Endpoints and EndpointSlice.

use krust_e2e::{Server, eventually};
use serde_json::Value;
use std::time::Duration;

fn pod_json(s: &Server, ns: &str, name: &str) -> Value {
    serde_json::from_str(&s.ok(&["get", "pod", name, "-n", ns, "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pods_get_their_service_account_volume_priority_and_tolerations() {
    let s = Server::start();
    s.ok(&["create", "namespace", "adm"]);
    // The default ServiceAccount and kube-root-ca.crt appear in a new namespace.
    assert!(eventually(Duration::from_secs(10), || {
        s.kubectl(&["get", "serviceaccount", "default", "-n", "adm"])
            .status
            .success()
            && s.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", "adm"])
                .status
                .success()
    }));
    let ca = s.ok(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "adm",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");

    s.ok(&[
        "run",
        "p1",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--",
        "sleep",
        "3600",
    ]);
    let p = pod_json(&s, "adm", "p1");
    let spec = &p["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    let sa_volume = volumes
        .iter()
        .find(|v| {
            v["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("kube-api-access-"))
        })
        .unwrap_or_else(|| panic!("no kube-api-access volume: {volumes:?}"));
    let sources = &sa_volume["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(
        sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    let mount = &spec["containers"][0]["volumeMounts"][0];
    assert_eq!(
        mount["mountPath"],
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mount["name"], sa_volume["name"]);
    assert_eq!(mount["readOnly"], true);
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    let tolerations = spec["tolerations"].to_string();
    assert!(
        tolerations.contains("node.kubernetes.io/not-ready")
            && tolerations.contains("node.kubernetes.io/unreachable")
            && tolerations.contains("300"),
        "{tolerations}"
    );

    // Opting out, on the Pod or on its ServiceAccount.
    s.ok(&[
        "run",
        "p2",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--overrides",
        r#"{"spec": {"automountServiceAccountToken": false}}"#,
        "--",
        "sleep",
        "1",
    ]);
    assert!(
        !pod_json(&s, "adm", "p2")
            .to_string()
            .contains("kube-api-access-")
    );
    s.ok_input(&["apply", "-f", "-"], "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: quiet\n  namespace: adm\nautomountServiceAccountToken: false\nimagePullSecrets:\n- name: regcred\n");
    s.ok(&[
        "run",
        "p3",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--overrides",
        r#"{"spec": {"serviceAccountName": "quiet"}}"#,
        "--",
        "sleep",
        "1",
    ]);
    let p3 = pod_json(&s, "adm", "p3");
    assert!(!p3.to_string().contains("kube-api-access-"), "{p3}");
    assert_eq!(p3["spec"]["imagePullSecrets"][0]["name"], "regcred");

    // An account that does not exist is refused.
    let out = s.fails(&[
        "run",
        "p4",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--overrides",
        r#"{"spec": {"serviceAccountName": "nobody"}}"#,
    ]);
    assert!(
        out.contains(
            "error looking up service account adm/nobody: serviceaccount \"nobody\" not found"
        ),
        "{out}"
    );
    assert!(
        out.contains("Forbidden") || out.contains("forbidden"),
        "{out}"
    );

    // Priority classes: built-in, unknown, user-defined global default.
    s.ok(&[
        "run",
        "crit",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--overrides",
        r#"{"spec": {"priorityClassName": "system-node-critical"}}"#,
    ]);
    assert_eq!(
        pod_json(&s, "adm", "crit")["spec"]["priority"],
        2_000_001_000
    );
    let out = s.fails(&[
        "run",
        "bad",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--overrides",
        r#"{"spec": {"priorityClassName": "nope"}}"#,
    ]);
    assert!(
        out.contains("no PriorityClass with name nope was found"),
        "{out}"
    );
    s.ok(&[
        "create",
        "priorityclass",
        "everyone",
        "--value=7",
        "--global-default",
    ]);
    s.ok(&["run", "dflt", "-n", "adm", "--image=busybox:1.36"]);
    let d = pod_json(&s, "adm", "dflt");
    assert_eq!(d["spec"]["priority"], 7);
    assert_eq!(d["spec"]["priorityClassName"], "everyone");
    let out = s.fails(&[
        "create",
        "priorityclass",
        "second",
        "--value=8",
        "--global-default",
    ]);
    assert!(out.contains("globalDefault"), "{out}");
    let out = s.fails(&["create", "priorityclass", "system-mine", "--value=8"]);
    assert!(out.contains("reserved for system use only"), "{out}");
    let out = s.fails(&[
        "run",
        "given",
        "-n",
        "adm",
        "--image=busybox:1.36",
        "--overrides",
        r#"{"spec": {"priority": 99}}"#,
    ]);
    assert!(out.contains("must not be provided in pod spec"), "{out}");

    // NamespaceLifecycle.
    let out = s.fails(&["run", "x", "-n", "missing", "--image=busybox:1.36"]);
    assert!(out.contains("namespaces \"missing\" not found"), "{out}");

    // The order of the chain is upstream's, and said at start.
    assert!(s.log().contains("NamespaceLifecycle") && s.log().contains("DefaultTolerationSeconds"));
}

#[test]
fn every_namespace_keeps_its_root_ca_and_the_kubernetes_service_has_endpoints() {
    let s = Server::start();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            eventually(Duration::from_secs(10), || {
                s.kubectl(&["get", "configmap", "kube-root-ca.crt", "-n", ns])
                    .status
                    .success()
            }),
            "{ns}"
        );
    }
    let uid = s.ok(&[
        "get",
        "cm",
        "kube-root-ca.crt",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    s.ok(&["delete", "configmap", "kube-root-ca.crt"]);
    assert!(
        eventually(Duration::from_secs(10), || {
            let o = s.kubectl(&[
                "get",
                "cm",
                "kube-root-ca.crt",
                "-o",
                "jsonpath={.metadata.uid}",
            ]);
            o.status.success() && String::from_utf8_lossy(&o.stdout) != uid
        }),
        "kube-root-ca.crt was not recreated"
    );
    s.ok(&[
        "patch",
        "configmap",
        "kube-root-ca.crt",
        "--type=merge",
        "-p",
        r#"{"data":{"ca.crt":"tampered"}}"#,
    ]);
    assert!(
        eventually(Duration::from_secs(10), || {
            s.ok(&[
                "get",
                "cm",
                "kube-root-ca.crt",
                "-o",
                "jsonpath={.data.ca\\.crt}",
            ])
            .starts_with("-----BEGIN CERTIFICATE-----")
        }),
        "kube-root-ca.crt was not restored"
    );

    let svc: Value = serde_json::from_str(&s.ok(&["get", "service", "kubernetes", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    let ep = s.ok(&[
        "get",
        "endpoints",
        "kubernetes",
        "-o",
        "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}",
    ]);
    assert!(ep.starts_with("127.0.0.1:"), "{ep}");
    let slice = s.ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", "-o",
        "jsonpath={.items[0].endpoints[0].addresses[0]}:{.items[0].ports[0].port} {.items[0].endpoints[0].conditions.ready}"]);
    assert_eq!(slice, format!("{ep} true"));
}
