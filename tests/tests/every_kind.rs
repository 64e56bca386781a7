//! Every built-in kind the article names: created from a manifest with `kubectl apply`, listed
//! with its Table columns, read back, and deleted.

use krust_e2e::Server;

/// (resource for kubectl, object name, a column header upstream prints, manifest)
const KINDS: &[(&str, &str, &str, &str)] = &[
    (
        "namespaces",
        "kinds-ns",
        "STATUS",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kinds-ns\n",
    ),
    (
        "pods",
        "p1",
        "READY",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    ),
    (
        "services",
        "s1",
        "CLUSTER-IP",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s1\nspec:\n  selector:\n    app: a\n  ports:\n  - port: 80\n    targetPort: 8080\n",
    ),
    (
        "endpoints",
        "e1",
        "ENDPOINTS",
        "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: e1\nsubsets:\n- addresses:\n  - ip: 10.42.0.5\n  ports:\n  - port: 80\n",
    ),
    (
        "nodes",
        "n1",
        "ROLES",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n",
    ),
    (
        "configmaps",
        "c1",
        "DATA",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\ndata:\n  a: b\n",
    ),
    (
        "secrets",
        "sec1",
        "TYPE",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec1\nstringData:\n  password: hunter2\n",
    ),
    (
        "serviceaccounts",
        "sa1",
        "NAME",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa1\n",
    ),
    (
        "events",
        "ev1",
        "REASON",
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: ev1\ninvolvedObject:\n  kind: Pod\n  name: p1\n  namespace: default\nreason: Testing\nmessage: hello\ntype: Normal\n",
    ),
    (
        "persistentvolumes",
        "pv1",
        "CAPACITY",
        "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: pv1\nspec:\n  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteOnce]\n  hostPath:\n    path: /tmp/pv1\n",
    ),
    (
        "persistentvolumeclaims",
        "pvc1",
        "STATUS",
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: pvc1\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    ),
    (
        "resourcequotas",
        "q1",
        "REQUEST",
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q1\nspec:\n  hard:\n    pods: \"10\"\n",
    ),
    (
        "limitranges",
        "lr1",
        "CREATED AT",
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr1\nspec:\n  limits:\n  - type: Container\n    default:\n      cpu: 500m\n",
    ),
    (
        "deployments.apps",
        "d1",
        "UP-TO-DATE",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d1\nspec:\n  selector:\n    matchLabels:\n      app: d1\n  template:\n    metadata:\n      labels:\n        app: d1\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
    ),
    (
        "replicasets.apps",
        "rs1",
        "DESIRED",
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: rs1\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: rs1\n  template:\n    metadata:\n      labels:\n        app: rs1\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
    ),
    (
        "statefulsets.apps",
        "st1",
        "READY",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: st1\nspec:\n  serviceName: st1\n  selector:\n    matchLabels:\n      app: st1\n  template:\n    metadata:\n      labels:\n        app: st1\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
    ),
    (
        "daemonsets.apps",
        "ds1",
        "NODE SELECTOR",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: ds1\nspec:\n  selector:\n    matchLabels:\n      app: ds1\n  template:\n    metadata:\n      labels:\n        app: ds1\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
    ),
    (
        "controllerrevisions.apps",
        "cr1",
        "REVISION",
        "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: cr1\nrevision: 1\ndata: {}\n",
    ),
    (
        "jobs.batch",
        "j1",
        "COMPLETIONS",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j1\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n",
    ),
    (
        "cronjobs.batch",
        "cj1",
        "SCHEDULE",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cj1\nspec:\n  schedule: \"*/5 * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: c\n            image: busybox\n",
    ),
    (
        "horizontalpodautoscalers.autoscaling",
        "h1",
        "REFERENCE",
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: h1\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: d1\n  minReplicas: 1\n  maxReplicas: 5\n",
    ),
    (
        "ingresses.networking.k8s.io",
        "i1",
        "HOSTS",
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: i1\nspec:\n  rules:\n  - host: example.test\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: s1\n            port:\n              number: 80\n",
    ),
    (
        "ingressclasses.networking.k8s.io",
        "ic1",
        "CONTROLLER",
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: ic1\nspec:\n  controller: krust.io/ingress\n",
    ),
    (
        "networkpolicies.networking.k8s.io",
        "np1",
        "POD-SELECTOR",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np1\nspec:\n  podSelector: {}\n",
    ),
    (
        "endpointslices.discovery.k8s.io",
        "es1",
        "ADDRESSTYPE",
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: es1\naddressType: IPv4\nendpoints:\n- addresses: [10.42.0.5]\nports:\n- port: 80\n",
    ),
    (
        "events.events.k8s.io",
        "ev2",
        "REASON",
        "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: ev2\neventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: krust.io/test\nreportingInstance: test\naction: Testing\nreason: Testing\ntype: Normal\nregarding:\n  kind: Pod\n  name: p1\n  namespace: default\n",
    ),
    (
        "leases.coordination.k8s.io",
        "l1",
        "HOLDER",
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l1\nspec:\n  holderIdentity: me\n",
    ),
    (
        "storageclasses.storage.k8s.io",
        "sc1",
        "PROVISIONER",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: sc1\nprovisioner: krust.io/local-path\n",
    ),
    (
        "roles.rbac.authorization.k8s.io",
        "r1",
        "CREATED AT",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r1\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n",
    ),
    (
        "rolebindings.rbac.authorization.k8s.io",
        "rb1",
        "ROLE",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb1\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: r1\nsubjects:\n- kind: ServiceAccount\n  name: sa1\n  namespace: default\n",
    ),
    (
        "clusterroles.rbac.authorization.k8s.io",
        "cr-test",
        "CREATED AT",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cr-test\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [list]\n",
    ),
    (
        "clusterrolebindings.rbac.authorization.k8s.io",
        "crb-test",
        "ROLE",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: crb-test\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cr-test\nsubjects:\n- kind: User\n  name: alice\n",
    ),
    (
        "poddisruptionbudgets.policy",
        "pdb1",
        "MIN AVAILABLE",
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: pdb1\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: d1\n",
    ),
    (
        "priorityclasses.scheduling.k8s.io",
        "pc1",
        "VALUE",
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: pc1\nvalue: 1000\n",
    ),
    (
        "certificatesigningrequests.certificates.k8s.io",
        "csr1",
        "SIGNERNAME",
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: csr1\nspec:\n  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==\n  signerName: kubernetes.io/kube-apiserver-client\n  usages: [client auth]\n",
    ),
    (
        "customresourcedefinitions.apiextensions.k8s.io",
        "crontabs.stable.example.com",
        "CREATED AT",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: crontabs.stable.example.com\nspec:\n  group: stable.example.com\n  scope: Namespaced\n  names:\n    plural: crontabs\n    singular: crontab\n    kind: CronTab\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n",
    ),
];

#[test]
fn every_kind_can_be_created_listed_read_and_deleted() {
    let s = Server::start();
    let all: Vec<&str> = KINDS.iter().map(|k| k.3).collect();
    let bundle = all.join("---\n");
    let out = s.ok_input(&["apply", "-f", "-"], &bundle);
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" created")).count(),
        KINDS.len(),
        "{out}"
    );
    for (resource, name, header, _) in KINDS {
        let table = s.ok(&["get", resource, "-o", "wide"]);
        assert!(
            table.contains(header),
            "{resource}: no {header} column:\n{table}"
        );
        let yaml = s.ok(&["get", resource, name, "-o", "yaml"]);
        assert!(
            yaml.contains("uid:") && yaml.contains("resourceVersion:"),
            "{resource}:\n{yaml}"
        );
        assert!(
            yaml.contains(&format!("name: {name}")),
            "{resource}:\n{yaml}"
        );
    }
    // Watches are generic; a bounded watch on a few kinds returns their current objects.
    for resource in [
        "pods",
        "deployments.apps",
        "events",
        "customresourcedefinitions.apiextensions.k8s.io",
    ] {
        let out = s.ok(&["get", resource, "-w", "-o", "name", "--request-timeout=1s"]);
        assert!(!out.trim().is_empty(), "{resource} -w printed nothing");
    }
    // Service got a cluster IP from the service CIDR; secrets keep stringData as data.
    let ip = s.ok(&["get", "svc", "s1", "-o", "jsonpath={.spec.clusterIP}"]);
    assert!(ip.starts_with("10.43."), "{ip}");
    let data = s.ok(&["get", "secret", "sec1", "-o", "jsonpath={.data.password}"]);
    assert_eq!(data, "aHVudGVyMg==");
    let without_ns: Vec<&str> = KINDS
        .iter()
        .filter(|k| k.0 != "namespaces")
        .map(|k| k.3)
        .collect();
    let out = s.ok_input(
        &["delete", "--wait=false", "-f", "-"],
        &without_ns.join("---\n"),
    );
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" deleted")).count(),
        KINDS.len() - 1,
        "{out}"
    );
}
