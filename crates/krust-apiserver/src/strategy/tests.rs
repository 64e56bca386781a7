use super::*;
use krust_api::Registry;

#[test]
fn create_and_update() {
    let r = Registry::builtin();
    let d = r.get("apps", "v1", "deployments").unwrap();
    let s = of(&d);
    let mut obj = json!({"metadata": {"name": "web", "resourceVersion": "9", "generation": 7},
        "spec": {"replicas": 1}, "status": {"replicas": 5}});
    s.prepare_for_create(&d, &mut obj, None);
    assert_eq!(obj["metadata"]["generation"], 1);
    assert!(obj.get("status").is_none());
    assert!(obj["metadata"].get("resourceVersion").is_none());
    let old = obj.clone();
    let mut new = obj.clone();
    new["metadata"]["labels"] = json!({"a": "b"});
    new["status"] = json!({"replicas": 9});
    s.prepare_for_update(&d, &mut new, &old);
    assert_eq!(new["metadata"]["generation"], 1);
    assert!(new.get("status").is_none());
    new["spec"]["replicas"] = json!(3);
    s.prepare_for_update(&d, &mut new, &old);
    assert_eq!(new["metadata"]["generation"], 2);
    let st = s.status_update(
        &d,
        &json!({"spec": {"replicas": 100}, "status": {"replicas": 3},
            "metadata": {"annotations": {"a": "b"}, "uid": "other"}}),
        &old,
    );
    assert_eq!(st["spec"]["replicas"], 1);
    assert_eq!(st["status"]["replicas"], 3);
    assert_eq!(st["metadata"]["annotations"]["a"], "b");
    assert_eq!(st["metadata"]["uid"], old["metadata"]["uid"]);
}

#[test]
fn qos() {
    use pod::qos_class;
    assert_eq!(
        qos_class(Some(&json!({"containers": [{"name": "a"}]}))),
        "BestEffort"
    );
    assert_eq!(
        qos_class(Some(
            &json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})
        )),
        "Burstable"
    );
    assert_eq!(
        qos_class(Some(
            &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
        )),
        "Guaranteed"
    );
}

#[test]
fn every_kind_has_one_strategy() {
    let r = Registry::builtin();
    let pods = r.get("", "v1", "pods").unwrap();
    let mut pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n",
        "terminationGracePeriodSeconds": 5}});
    of(&pods).prepare_for_create(&pods, &mut pod, None);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(of(&pods).deletion_grace(&pod, None), 5);
    assert_eq!(of(&pods).deletion_grace(&pod, Some(0)), 0);
    let ns = r.get("", "v1", "namespaces").unwrap();
    assert!(of(&ns).check_delete(&ns, "kube-system").is_err());
    assert!(of(&ns).check_delete(&ns, "mine").is_ok());
    let nodes = r.get("", "v1", "nodes").unwrap();
    let mut node = json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}});
    of(&nodes).prepare_for_create(&nodes, &mut node, None);
    assert_eq!(node["status"]["capacity"]["cpu"], "4");
    let cm = r.get("", "v1", "configmaps").unwrap();
    assert!(!of(&cm).delete_returns_object());
    let secrets = r.get("", "v1", "secrets").unwrap();
    let mut secret = json!({"stringData": {"a": "hi"}});
    of(&secrets).canonicalize(&secrets, &mut secret);
    assert_eq!(secret, json!({"data": {"a": "aGk="}}));
}

#[test]
fn csr_approval_and_status() {
    let r = Registry::builtin();
    let info = r
        .get("certificates.k8s.io", "v1", "certificatesigningrequests")
        .unwrap();
    let s = of(&info);
    let user = Identity::new("alice", &["devs", "system:authenticated"]);
    let mut csr = json!({"metadata": {"name": "c"}, "spec": {"username": "mallory",
        "request": "", "signerName": "example.com/s", "usages": ["client auth"]},
        "status": {"certificate": "eA=="}});
    s.prepare_for_create(&info, &mut csr, Some(&user));
    assert_eq!(csr["spec"]["username"], "alice");
    assert_eq!(csr["spec"]["groups"][0], "devs");
    assert!(csr.get("status").is_none());
    let errs = s.validate(&info, &csr, None);
    assert_eq!(errs[0].field, "spec.request", "{errs:?}");
    // /approval: conditions only, timestamps filled.
    let body = json!({"metadata": {}, "spec": {"username": "x"}, "status": {
        "certificate": "eA==", "conditions": [{"type": "Approved", "status": "True"}]}});
    let approved = s.approval_update(&info, &body, &csr);
    assert_eq!(approved["spec"]["username"], "alice");
    assert!(approved["status"].get("certificate").is_none());
    assert!(approved["status"]["conditions"][0]["lastUpdateTime"].is_string());
    // /status: the certificate, never the approval.
    let issued = s.status_update(
        &info,
        &json!({"status": {"certificate": "eA==", "conditions": []}}),
        &approved,
    );
    assert_eq!(issued["status"]["certificate"], "eA==");
    assert_eq!(issued["status"]["conditions"][0]["type"], "Approved");
    // Approved and Denied together are refused.
    let mut both = approved.clone();
    both["status"]["conditions"] = json!([{"type": "Approved", "status": "True"},
        {"type": "Denied", "status": "True"}]);
    let errs = s.validate(&info, &both, Some(&approved));
    assert!(
        errs.iter().any(|e| e.detail.contains("mutually exclusive")),
        "{errs:?}"
    );
}
