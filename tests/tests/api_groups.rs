//! The API groups and kinds every 1.33 server serves beyond the workloads: admission
//! configuration, API priority and fairness with upstream's bootstrap objects, local
//! APIServices (also for CRDs), CertificateSigningRequests with approval, TokenReview,
//! RuntimeClass with its admission plugin, ServiceCIDR/IPAddress and the CSI storage kinds;
//! each driven with the real kubectl and read back with typed kube-rs clients.

use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use krust_e2e::{Server, eventually};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use std::time::Duration;

fn json_of(s: &Server, args: &[&str]) -> Value {
    let out = s.ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn discovery_lists_every_new_group() {
    let s = Server::start();
    let out = s.ok(&["api-resources", "--no-headers"]);
    for (resource, group) in [
        (
            "validatingwebhookconfigurations",
            "admissionregistration.k8s.io/v1",
        ),
        (
            "mutatingwebhookconfigurations",
            "admissionregistration.k8s.io/v1",
        ),
        (
            "validatingadmissionpolicies",
            "admissionregistration.k8s.io/v1",
        ),
        (
            "validatingadmissionpolicybindings",
            "admissionregistration.k8s.io/v1",
        ),
        ("flowschemas", "flowcontrol.apiserver.k8s.io/v1"),
        (
            "prioritylevelconfigurations",
            "flowcontrol.apiserver.k8s.io/v1",
        ),
        ("apiservices", "apiregistration.k8s.io/v1"),
        ("tokenreviews", "authentication.k8s.io/v1"),
        ("runtimeclasses", "node.k8s.io/v1"),
        ("servicecidrs", "networking.k8s.io/v1"),
        ("ipaddresses", "networking.k8s.io/v1"),
        ("csidrivers", "storage.k8s.io/v1"),
        ("csinodes", "storage.k8s.io/v1"),
        ("csistoragecapacities", "storage.k8s.io/v1"),
        ("volumeattachments", "storage.k8s.io/v1"),
        ("volumeattributesclasses", "storage.k8s.io/v1beta1"),
        ("certificatesigningrequests", "certificates.k8s.io/v1"),
        (
            "mutatingadmissionpolicies",
            "admissionregistration.k8s.io/v1beta1",
        ),
        (
            "mutatingadmissionpolicybindings",
            "admissionregistration.k8s.io/v1beta1",
        ),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(resource) && l.contains(group)),
            "{resource} ({group}) missing from:\n{out}"
        );
    }
    // MutatingAdmissionPolicy at v1beta1 (the issue's; 1.34's) and v1alpha1 (1.33's), one
    // object read at either version.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: admissionregistration.k8s.io/v1alpha1
kind: MutatingAdmissionPolicy
metadata: {name: map1}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"]}]
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration: {expression: "Object{}"}
"#,
    );
    for version in ["v1beta1", "v1alpha1"] {
        let got = s.ok(&[
            "get",
            &format!("mutatingadmissionpolicies.{version}.admissionregistration.k8s.io"),
            "map1",
            "-o",
            "jsonpath={.apiVersion} {.spec.reinvocationPolicy}",
        ]);
        assert_eq!(got, format!("admissionregistration.k8s.io/{version} Never"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flowcontrol_and_apiservices_have_upstreams_objects() {
    let s = Server::start();
    let fs = s.ok(&["get", "flowschemas"]);
    assert!(fs.contains("MATCHINGPRECEDENCE"), "{fs}");
    for name in [
        "exempt",
        "probes",
        "system-leader-election",
        "global-default",
        "catch-all",
    ] {
        assert!(fs.lines().any(|l| l.starts_with(name)), "{name}:\n{fs}");
    }
    let exempt = s.ok(&["get", "flowschema", "exempt"]);
    assert!(
        exempt
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" 1 ") && l.ends_with("False")),
        "{exempt}"
    );
    let plc = s.ok(&["get", "prioritylevelconfigurations"]);
    assert!(
        plc.lines()
            .any(|l| l.starts_with("workload-low") && l.contains("Limited")),
        "{plc}"
    );
    let api = s.ok(&["get", "apiservices"]);
    assert!(
        api.lines()
            .any(|l| l.starts_with("v1.apps ") && l.contains("Local") && l.contains("True")),
        "{api}"
    );
    assert!(api.lines().any(|l| l.starts_with("v1. ")), "{api}");

    let client = s.client().await;
    let schemas = Api::<FlowSchema>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(schemas.items.len(), 13);
    let levels = Api::<PriorityLevelConfiguration>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(levels.items.len(), 8);
    let services = Api::<APIService>::all(client.clone());
    assert!(
        services
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .items
            .len()
            > 20
    );

    // A CRD's group version gets its APIService, which goes with the CRD.
    s.ok_input(
        &["apply", "-f", "-"],
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object}\n",
    );
    assert!(eventually(Duration::from_secs(20), || {
        s.kubectl(&["get", "apiservice", "v1.example.com"])
            .status
            .success()
    }));
    let widget_api = json_of(&s, &["get", "apiservice", "v1.example.com", "-o", "json"]);
    assert_eq!(widget_api["spec"]["group"], "example.com");
    assert_eq!(
        widget_api["metadata"]["labels"]["kube-aggregator.kubernetes.io/automanaged"],
        "true"
    );
    s.ok(&["delete", "crd", "widgets.example.com"]);
    assert!(eventually(Duration::from_secs(30), || {
        !s.kubectl(&["get", "apiservice", "v1.example.com"])
            .status
            .success()
    }));
    // A name that is not version.group is refused as upstream does.
    let err = s.fails_input(
        &["create", "-f", "-"],
        "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: wrong.example.com\nspec:\n  group: example.com\n  version: v2\n  groupPriorityMinimum: 100\n  versionPriority: 10\n",
    );
    assert!(
        err.contains("must be `spec.version+\".\"+spec.group`: \"v2.example.com\""),
        "{err}"
    );
}

#[test]
fn certificate_signing_requests_are_approved_with_kubectl() {
    let s = Server::start();
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alice");
    let pem = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .unwrap_or_else(|e| panic!("{e}"));
    use base64::Engine;
    let request = base64::engine::general_purpose::STANDARD.encode(pem);
    let manifest = format!(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: alice\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 86400\n  usages: [client auth]\n  username: mallory\n"
    );
    s.ok_input(&["create", "-f", "-"], &manifest);
    let csr = json_of(&s, &["get", "csr", "alice", "-o", "json"]);
    // The requester is whoever created it, not what the body claimed.
    assert_ne!(csr["spec"]["username"], "mallory");
    assert!(
        csr["spec"]["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "system:authenticated")),
        "{csr}"
    );
    let pending = s.ok(&["get", "csr", "alice"]);
    assert!(
        pending.contains("Pending") && pending.contains("kubernetes.io/kube-apiserver-client"),
        "{pending}"
    );
    let out = s.ok(&["certificate", "approve", "alice"]);
    assert!(
        out.contains("certificatesigningrequest.certificates.k8s.io/alice approved"),
        "{out}"
    );
    let approved = json_of(&s, &["get", "csr", "alice", "-o", "json"]);
    let cond = &approved["status"]["conditions"][0];
    assert_eq!(
        (cond["type"].as_str(), cond["status"].as_str()),
        (Some("Approved"), Some("True"))
    );
    assert!(cond["lastUpdateTime"].is_string(), "{approved}");
    // kubectl refuses to deny an approved request itself; the server refuses both conditions.
    let deny = s.fails(&["certificate", "deny", "alice"]);
    assert!(deny.contains("already Approved"), "{deny}");
    let mut both = approved.clone();
    both["status"]["conditions"] = serde_json::json!([
        {"type": "Approved", "status": "True", "reason": "r"},
        {"type": "Denied", "status": "True", "reason": "r"}]);
    let err = s.fails_input(
        &[
            "replace",
            "--raw",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/alice/approval",
            "-f",
            "-",
        ],
        &both.to_string(),
    );
    assert!(
        err.contains("Approved and Denied conditions are mutually exclusive"),
        "{err}"
    );
    // A request that is not a CSR PEM block is refused with upstream's message.
    let bad = manifest
        .replace(&request, "bm90IGEgcGVt")
        .replace("name: alice", "name: bad");
    let err = s.fails_input(&["create", "-f", "-"], &bad);
    assert!(
        err.contains("PEM block type must be CERTIFICATE REQUEST"),
        "{err}"
    );
}

#[test]
fn token_review_authenticates_service_account_tokens() {
    let s = Server::start();
    assert!(eventually(Duration::from_secs(10), || {
        s.kubectl(&["get", "serviceaccount", "default"])
            .status
            .success()
    }));
    let token = s.ok(&["create", "token", "default"]);
    let review = |t: &str| {
        let body = format!(
            "{{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{{\"token\":\"{}\"}}}}",
            t.trim()
        );
        let out = s.ok_input(&["create", "-f", "-", "-o", "json"], &body);
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let good = review(&token);
    assert_eq!(good["status"]["authenticated"], true, "{good}");
    assert_eq!(
        good["status"]["user"]["username"],
        "system:serviceaccount:default:default"
    );
    let bad = review("not-a-token");
    assert_ne!(bad["status"]["authenticated"], true, "{bad}");
    assert!(bad["status"]["error"].is_string(), "{bad}");
}

#[test]
fn runtime_classes_set_overhead_and_scheduling() {
    let s = Server::start();
    s.ok_input(
        &["apply", "-f", "-"],
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: sandboxed\nhandler: runc\noverhead:\n  podFixed: {cpu: 250m, memory: 64Mi}\nscheduling:\n  nodeSelector: {sandbox: \"yes\"}\n  tolerations:\n  - {key: sandbox, operator: Exists, effect: NoSchedule}\n",
    );
    let rc = s.ok(&["get", "runtimeclass"]);
    assert!(
        rc.contains("HANDLER")
            && rc
                .lines()
                .any(|l| l.starts_with("sandboxed") && l.contains("runc")),
        "{rc}"
    );
    let pod = |name: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  runtimeClassName: sandboxed\n{extra}  containers:\n  - name: c\n    image: busybox\n"
        )
    };
    s.ok_input(&["create", "-f", "-"], &pod("p1", ""));
    let p1 = json_of(&s, &["get", "pod", "p1", "-o", "json"]);
    assert_eq!(p1["spec"]["overhead"]["cpu"], "250m", "{p1}");
    assert_eq!(p1["spec"]["nodeSelector"]["sandbox"], "yes");
    assert!(
        p1["spec"]["tolerations"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["key"] == "sandbox"))
    );
    let conflict = s.fails_input(
        &["create", "-f", "-"],
        &pod("p2", "  nodeSelector: {sandbox: \"no\"}\n"),
    );
    assert!(conflict.contains("conflict: runtimeClass.scheduling.nodeSelector[\"sandbox\"] = yes; pod.spec.nodeSelector[\"sandbox\"] = no"), "{conflict}");
    let overhead = s.fails_input(
        &["create", "-f", "-"],
        &pod("p3", "  overhead: {cpu: \"1\"}\n"),
    );
    assert!(
        overhead
            .contains("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"),
        "{overhead}"
    );
    let unknown = s.fails_input(
        &["create", "-f", "-"],
        &pod("p4", "").replace("runtimeClassName: sandboxed", "runtimeClassName: nope"),
    );
    assert!(
        unknown.contains("pods \"p4\" is forbidden: pod rejected: RuntimeClass \"nope\" not found"),
        "{unknown}"
    );
}

#[test]
fn service_cidrs_and_storage_kinds_are_served() {
    let s = Server::start();
    let cidr = json_of(&s, &["get", "servicecidr", "kubernetes", "-o", "json"]);
    assert!(
        cidr["spec"]["cidrs"][0]
            .as_str()
            .is_some_and(|c| c.contains('/')),
        "{cidr}"
    );
    assert_eq!(cidr["status"]["conditions"][0]["type"], "Ready");
    s.ok_input(
        &["apply", "-f", "-"],
        "apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata:\n  name: hostpath.csi.k8s.io\nspec:\n  attachRequired: false\n  podInfoOnMount: true\n  volumeLifecycleModes: [Persistent, Ephemeral]\n---\napiVersion: storage.k8s.io/v1\nkind: VolumeAttachment\nmetadata:\n  name: va1\nspec:\n  attacher: hostpath.csi.k8s.io\n  nodeName: n1\n  source: {persistentVolumeName: pv1}\n---\napiVersion: storage.k8s.io/v1beta1\nkind: VolumeAttributesClass\nmetadata:\n  name: gold\ndriverName: hostpath.csi.k8s.io\nparameters: {iops: \"500\"}\n---\napiVersion: networking.k8s.io/v1\nkind: IPAddress\nmetadata:\n  name: 10.96.200.200\nspec:\n  parentRef: {group: \"\", resource: services, namespace: default, name: x}\n",
    );
    let drivers = s.ok(&["get", "csidrivers"]);
    assert!(
        drivers
            .lines()
            .any(|l| l.starts_with("hostpath.csi.k8s.io") && l.contains("Persistent,Ephemeral")),
        "{drivers}"
    );
    let va = s.ok(&["get", "volumeattachments"]);
    assert!(
        va.lines()
            .any(|l| l.starts_with("va1") && l.contains("pv1") && l.contains("false")),
        "{va}"
    );
    assert!(s.ok(&["get", "vac"]).contains("gold"));
    let ip = s.ok(&["get", "ipaddress"]);
    assert!(ip.contains("services/default/x"), "{ip}");
    // Status is a subresource: a write to the main resource keeps it.
    s.ok(&[
        "patch",
        "volumeattachment",
        "va1",
        "--subresource=status",
        "--type=merge",
        "-p",
        "{\"status\":{\"attached\":true}}",
    ]);
    s.ok(&["label", "volumeattachment", "va1", "a=b"]);
    assert_eq!(
        s.ok(&[
            "get",
            "volumeattachment",
            "va1",
            "-o",
            "jsonpath={.status.attached}"
        ]),
        "true"
    );
}

#[test]
fn ipaddresses_follow_service_cluster_ips() {
    let s = Server::start();
    let parent = |ip: &str| {
        s.kubectl(&[
            "get",
            "ipaddress",
            ip,
            "-o",
            "jsonpath={.spec.parentRef.namespace}/{.spec.parentRef.name}",
        ])
    };
    let parent_of = |ip: &str| String::from_utf8_lossy(&parent(ip).stdout).into_owned();
    // The kubernetes Service's address has its IPAddress from the start.
    let kubernetes_ip = s.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(eventually(Duration::from_secs(10), || parent_of(
        &kubernetes_ip
    ) == "default/kubernetes"));
    // A new Service's ClusterIP gets one (upstream's labels), gone with the Service.
    s.ok(&["create", "service", "clusterip", "web", "--tcp=80"]);
    let ip = s.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(eventually(Duration::from_secs(10), || parent_of(&ip) == "default/web"));
    let obj = json_of(&s, &["get", "ipaddress", &ip, "-o", "json"]);
    assert_eq!(
        obj["metadata"]["labels"]["ipaddress.kubernetes.io/managed-by"],
        "ipallocator.k8s.io"
    );
    assert_eq!(obj["spec"]["parentRef"]["resource"], "services");
    s.ok(&["delete", "svc", "web"]);
    assert!(eventually(Duration::from_secs(10), || !parent(&ip)
        .status
        .success()));

    // An IPAddress made by hand reserves its IP until it is deleted.
    let prefix = kubernetes_ip.rsplit_once('.').map_or("10.43.0", |(p, _)| p);
    let reserved = format!("{prefix}.77");
    s.ok_input(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: networking.k8s.io/v1\nkind: IPAddress\nmetadata: {{name: {reserved}}}\nspec:\n  parentRef: {{group: \"\", resource: services, namespace: default, name: held}}\n"
        ),
    );
    let clusterip = format!("--clusterip={reserved}");
    assert!(eventually(Duration::from_secs(10), || {
        let out = s.kubectl(&[
            "create",
            "service",
            "clusterip",
            "taker",
            "--tcp=80",
            &clusterip,
        ]);
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains(&format!(
                "failed to allocate IP {reserved}: provided IP is already allocated"
            ))
    }));
    s.ok(&["delete", "ipaddress", &reserved]);
    assert!(eventually(Duration::from_secs(10), || s
        .kubectl(&[
            "create",
            "service",
            "clusterip",
            "taker",
            "--tcp=80",
            &clusterip
        ])
        .status
        .success()));
    assert!(eventually(Duration::from_secs(10), || parent_of(&reserved)
        == "default/taker"));
}
