//! The real kubelet, end to end, as root: `krust server` WITH its node agent (containerd as a
//! child, the kubelet in-process, the test images of `scripts/build-images.sh` imported at
//! start), driven with the real kubectl. Pods become real containers with IPs from the node's
//! podCIDR (assigned by the node IPAM controller), reachable from the host; init containers,
//! env, volumes, probes, restart backoff, OOM kills, image pull failures, graceful
//! termination, static pods and restart adoption behave as upstream's kubelet; the article's
//! Deployment and the full acceptance walkthrough pass against real nginx pods.
//!
//! Containers report what they saw through their termination message (`/dev/termination-log`)
//! or a hostPath the test reads. Node servers run one at a time ([`Server::start_node`]) and
//! every one is cleaned up (containerd, shims, mounts, routes, bridge) when dropped.

use krust_e2e::{Server, eventually};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

fn pod_json(s: &Server, name: &str) -> Value {
    let out = s.kubectl(&["get", "pod", name, "-o", "json"]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Polls pod `name` until `pred` holds; panics with the last object otherwise.
fn wait_pod(s: &Server, name: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
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
                "pod {name} did not reach the expected state in {timeout:?}:\n{}\nevents:\n{}",
                serde_json::to_string_pretty(&p).unwrap_or_default(),
                String::from_utf8_lossy(&events.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

fn container_status<'a>(p: &'a Value, name: &str) -> &'a Value {
    p["status"]["containerStatuses"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

fn termination_message(p: &Value, name: &str) -> String {
    container_status(p, name)["state"]["terminated"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn condition(p: &Value, type_: &str) -> String {
    p["status"]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == type_))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", url])
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn events_of(s: &Server, name: &str) -> String {
    s.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    ])
}

#[test]
fn pods_run_with_ips_and_nginx_answers_from_the_host() {
    let s = Server::start_node(&[]);
    // The node: registered, Ready, with a podCIDR from the cluster CIDR.
    let node_cidr = s
        .node
        .as_ref()
        .map(|n| n.cluster_cidr.clone())
        .unwrap_or_default();
    let prefix = node_cidr.split('.').take(2).collect::<Vec<_>>().join(".");
    assert!(eventually(WAIT, || {
        s.ok(&["get", "nodes", "-o", "jsonpath={.items[0].spec.podCIDR}"])
            .starts_with(&prefix)
    }));
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "node",
        "--all",
        "--timeout=60s",
    ]);
    let wide = s.ok(&["get", "nodes", "-o", "wide"]);
    assert!(wide.contains("INTERNAL-IP"), "{wide}");
    assert!(wide.contains("containerd://"), "{wide}");
    assert!(wide.contains("v1.33.0+krust"), "{wide}");
    let describe = s.ok(&["describe", "node"]);
    for field in [
        "KubeletReady",
        "KubeletHasSufficientMemory",
        "Kubelet Version:",
        "Container Runtime Version:  containerd://",
        "PodCIDR:",
        "Capacity:",
        "Allocatable:",
    ] {
        assert!(
            describe.contains(field),
            "describe node lacks {field}:\n{describe}"
        );
    }

    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: bb
spec:
  containers:
  - name: bb
    image: busybox:1.36
    command: ["sh", "-c", "sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: nginx
    image: nginx:1.7.9
    ports:
    - containerPort: 80
"#,
    );
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/bb",
        "pod/web",
        "--timeout=90s",
    ]);
    let web = pod_json(&s, "web");
    let ip = web["status"]["podIP"].as_str().unwrap_or("").to_string();
    assert!(ip.starts_with(&prefix), "pod IP {ip} is not in {node_cidr}");
    assert_eq!(web["status"]["qosClass"], "BestEffort");
    let cs = container_status(&web, "nginx");
    assert!(
        cs["containerID"]
            .as_str()
            .unwrap_or("")
            .starts_with("containerd://")
    );
    assert!(cs["ready"].as_bool().unwrap_or(false));
    assert!(curl(&format!("http://{ip}/")).contains("Welcome to nginx!"));

    // Pod to pod, and the pod's DNS configuration and hostname.
    s.ok_input(
        &["apply", "-f", "-"],
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "wget -q -O - http://{ip}/ | grep -o 'Welcome to nginx!' > /dev/termination-log; hostname >> /dev/termination-log; cat /etc/resolv.conf >> /dev/termination-log"]
"#
        ),
    );
    let p = wait_pod(&s, "client", WAIT, |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    });
    assert_eq!(phase(&p), "Succeeded", "{p}");
    let msg = termination_message(&p, "c");
    assert!(msg.contains("Welcome to nginx!"), "{msg}");
    assert!(msg.contains("\nclient\n"), "{msg}");
    let dns = s
        .node
        .as_ref()
        .map(|n| n.cluster_dns.clone())
        .unwrap_or_default();
    assert!(msg.contains(&format!("nameserver {dns}")), "{msg}");
    assert!(
        msg.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{msg}"
    );
    assert!(msg.contains("options ndots:5"), "{msg}");

    // Events as upstream words them.
    let ev = events_of(&s, "web");
    assert!(
        ev.contains("Container image \"nginx:1.7.9\" already present on machine"),
        "{ev}"
    );
    assert!(ev.contains("Created container: nginx"), "{ev}");
    assert!(ev.contains("Started container nginx"), "{ev}");

    // Deletion: the pods disappear, their sandboxes too.
    s.ok(&["delete", "pod", "web", "bb", "client", "--grace-period=1"]);
    assert!(eventually(WAIT, || s
        .ok(&["get", "pods", "-o", "name"])
        .trim()
        .is_empty()));
}

#[test]
fn init_containers_env_and_volumes() {
    let s = Server::start_node(&[]);
    let host_dir = s.data_dir().join("hostpath-test");
    s.ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=greeting=hello",
        "--from-literal=color=blue",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "--from-literal=password=s3cret",
    ]);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels: {{app: vols, tier: test}}
  annotations: {{note: hi}}
spec:
  restartPolicy: Never
  initContainers:
  - name: first
    image: busybox:1.36
    command: ["sh", "-c", "echo first >> /work/order"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  - name: second
    image: busybox:1.36
    command: ["sh", "-c", "echo second >> /work/order"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: main
    image: busybox:1.36
    resources:
      limits: {{memory: 64Mi}}
    env:
    - name: GREETING
      valueFrom: {{configMapKeyRef: {{name: cfg, key: greeting}}}}
    - name: PASSWORD
      valueFrom: {{secretKeyRef: {{name: sec, key: password}}}}
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    - name: POD_IP
      valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
    - name: NODE
      valueFrom: {{fieldRef: {{fieldPath: spec.nodeName}}}}
    - name: MEM
      valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}
    - name: COMBINED
      value: "$(GREETING)-$(POD_NAME)"
    envFrom:
    - configMapRef: {{name: cfg}}
      prefix: CM_
    command: ["sh", "-c"]
    args:
    - |
      out=/out/result
      cat /work/order > $out
      echo "GREETING=$GREETING PASSWORD=$PASSWORD POD_NAME=$POD_NAME NODE=$NODE MEM=$MEM COMBINED=$COMBINED CM_color=$CM_color" >> $out
      echo "POD_IP=$POD_IP" >> $out
      echo "cm=$(cat /cm/greeting) items=$(cat /cm-items/sub/c.txt)" >> $out
      echo "secret=$(cat /sec/password)" >> $out
      echo "labels=$(cat /downward/labels | tr '\n' ',')" >> $out
      echo "ns=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)" >> $out
      head -1 /var/run/secrets/kubernetes.io/serviceaccount/ca.crt >> $out
      grep " /mem " /proc/mounts | cut -d' ' -f3 >> $out
      ls -la /cm-items/sub/c.txt | cut -c1-10 >> $out
      touch /cm/x 2>/dev/null && echo cm-writable >> $out || echo cm-readonly >> $out
      echo ok > /mem/x && cat /mem/x >> $out
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: out, mountPath: /out}}
    - {{name: cm, mountPath: /cm}}
    - {{name: cm-items, mountPath: /cm-items}}
    - {{name: sec, mountPath: /sec}}
    - {{name: downward, mountPath: /downward}}
    - {{name: mem, mountPath: /mem}}
  volumes:
  - name: work
    emptyDir: {{}}
  - name: mem
    emptyDir: {{medium: Memory}}
  - name: out
    hostPath: {{path: {host}, type: DirectoryOrCreate}}
  - name: cm
    configMap: {{name: cfg}}
  - name: cm-items
    configMap:
      name: cfg
      items: [{{key: color, path: sub/c.txt, mode: 0400}}]
  - name: sec
    secret: {{secretName: sec}}
  - name: downward
    downwardAPI:
      items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]
"#,
        host = host_dir.display()
    );
    s.ok_input(&["apply", "-f", "-"], &manifest);
    let p = wait_pod(&s, "vols", WAIT, |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    });
    let result = std::fs::read_to_string(host_dir.join("result")).unwrap_or_default();
    assert_eq!(phase(&p), "Succeeded", "{p}\n{result}");
    let pod_ip = p["status"]["podIP"].as_str().unwrap_or("").to_string();
    let node = p["spec"]["nodeName"].as_str().unwrap_or("").to_string();
    let expect = [
        "first\nsecond\n".to_string(),
        format!(
            "GREETING=hello PASSWORD=s3cret POD_NAME=vols NODE={node} MEM=64 COMBINED=hello-vols CM_color=blue"
        ),
        format!("POD_IP={pod_ip}"),
        "cm=hello items=blue".into(),
        "secret=s3cret".into(),
        "labels=app=\"vols\",tier=\"test\"\n".into(),
        "ns=default".into(),
        "-----BEGIN CERTIFICATE-----".into(),
        "tmpfs".into(),
        "-r--------".into(),
        "cm-readonly".into(),
        "ok".into(),
    ];
    for e in expect {
        assert!(result.contains(&e), "missing {e:?} in:\n{result}");
    }
    // Init containers ran in order and completed.
    let inits = p["status"]["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(inits.len(), 2);
    for i in &inits {
        assert_eq!(i["state"]["terminated"]["reason"], "Completed", "{i}");
    }
    assert_eq!(condition(&p, "Initialized"), "True");

    // A missing ConfigMap keeps a container waiting with upstream's reason and message.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: nocm
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: missing, key: k}}
"#,
    );
    let p = wait_pod(&s, "nocm", WAIT, |p| {
        container_status(p, "c")["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    });
    assert_eq!(
        container_status(&p, "c")["state"]["waiting"]["message"],
        "configmap \"missing\" not found"
    );
    // Creating it lets the container start.
    s.ok(&["create", "configmap", "missing", "--from-literal=k=v"]);
    s.ok(&["wait", "--for=condition=Ready", "pod/nocm", "--timeout=60s"]);
}

#[test]
fn probes_restart_and_readiness() {
    let s = Server::start_node(&[]);
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: live
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata:
  name: ready-http
spec:
  containers:
  - name: nginx
    image: nginx:1.7.9
    readinessProbe:
      httpGet: {path: /, port: 80}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: unready-http
spec:
  containers:
  - name: nginx
    image: nginx:1.7.9
    readinessProbe:
      httpGet: {path: /nope, port: 80}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: ready-tcp
spec:
  containers:
  - name: nginx
    image: nginx:1.7.9
    ports: [{name: http, containerPort: 80}]
    startupProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
    readinessProbe:
      tcpSocket: {port: 80}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: 80}
      periodSeconds: 1
"#,
    );
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/ready-http",
        "pod/ready-tcp",
        "--timeout=90s",
    ]);
    let p = wait_pod(&s, "unready-http", WAIT, |p| {
        container_status(p, "nginx")["state"]["running"].is_object()
    });
    // The probe has run and failed (its Event is there); the pod stays unready.
    assert!(
        eventually(WAIT, || events_of(&s, "unready-http").contains(
            "Readiness probe failed: HTTP probe failed with statuscode: 404"
        )),
        "{}",
        events_of(&s, "unready-http")
    );
    let p2 = pod_json(&s, "unready-http");
    assert_eq!(condition(&p2, "Ready"), "False", "{p}");
    assert_eq!(condition(&p2, "ContainersReady"), "False");

    // The liveness probe fails once the file is gone: the container is restarted.
    let p = wait_pod(&s, "live", WAIT, |p| {
        container_status(p, "c")["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    assert_eq!(
        container_status(&p, "c")["lastState"]["terminated"]["exitCode"],
        137,
        "{p}"
    );
    let ev = events_of(&s, "live");
    assert!(
        ev.contains("Liveness probe failed: cat: can't open '/tmp/healthy'"),
        "{ev}"
    );
    assert!(
        ev.contains("Container c failed liveness probe, will be restarted"),
        "{ev}"
    );

    // Readiness flips back off when the probe starts failing.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: flip
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/ready; sleep 8; rm /tmp/ready; sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
"#,
    );
    wait_pod(&s, "flip", WAIT, |p| condition(p, "Ready") == "True");
    let p = wait_pod(&s, "flip", WAIT, |p| condition(p, "Ready") == "False");
    assert_eq!(container_status(&p, "c")["ready"], false);
    assert_eq!(container_status(&p, "c")["restartCount"], 0);
}

#[test]
fn crash_loop_oom_and_missing_images() {
    let s = Server::start_node(&[]);
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: crash
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "echo dying > /dev/termination-log; exit 3"]
---
apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "x=a; while true; do x=$x$x; done"]
    resources:
      limits: {memory: 20Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: missing
spec:
  containers:
  - name: c
    image: nginx:1.7.9-alpine
---
apiVersion: v1
kind: Pod
metadata:
  name: never
spec:
  containers:
  - name: c
    image: example.invalid/none:1
    imagePullPolicy: Never
"#,
    );
    let p = wait_pod(&s, "crash", WAIT, |p| {
        let cs = container_status(p, "c");
        cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            && cs["restartCount"].as_i64().unwrap_or(0) >= 2
    });
    let cs = container_status(&p, "c");
    assert_eq!(cs["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(cs["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(cs["lastState"]["terminated"]["message"], "dying\n");
    assert!(
        cs["state"]["waiting"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("back-off ")
    );
    assert_eq!(phase(&p), "Running");
    let get = s.ok(&["get", "pod", "crash"]);
    assert!(get.contains("CrashLoopBackOff"), "{get}");
    assert!(
        events_of(&s, "crash")
            .contains("Back-off restarting failed container c in pod crash_default")
    );

    let p = wait_pod(&s, "oom", WAIT, |p| phase(p) == "Failed");
    let t = &container_status(&p, "c")["state"]["terminated"];
    assert_eq!(t["reason"], "OOMKilled", "{p}");
    assert_eq!(t["exitCode"], 137);

    let p = wait_pod(&s, "missing", WAIT, |p| {
        container_status(p, "c")["state"]["waiting"]["reason"] == "ImagePullBackOff"
    });
    assert!(
        container_status(&p, "c")["state"]["waiting"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Back-off pulling image \"nginx:1.7.9-alpine\"")
    );
    let ev = events_of(&s, "missing");
    assert!(
        ev.contains("Failed to pull image \"nginx:1.7.9-alpine\""),
        "{ev}"
    );
    assert!(ev.contains("Error: ErrImagePull"), "{ev}");

    let p = wait_pod(&s, "never", WAIT, |p| {
        container_status(p, "c")["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    });
    assert_eq!(
        container_status(&p, "c")["state"]["waiting"]["message"],
        "Container image \"example.invalid/none:1\" is not present with pull policy of Never"
    );

    // RuntimeClass: the kubelet runs the sandbox with the class's handler; a handler the
    // runtime does not have fails the sandbox with containerd's words.
    s.ok_input(
        &["apply", "-f", "-"],
        r#"
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: plain}
handler: runc
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata}
handler: kata
---
apiVersion: v1
kind: Pod
metadata: {name: rc-ok}
spec:
  runtimeClassName: plain
  containers: [{name: c, image: "busybox:1.36", command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: rc-bad}
spec:
  runtimeClassName: kata
  containers: [{name: c, image: "busybox:1.36", command: [sleep, "3600"]}]
"#,
    );
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/rc-ok",
        "--timeout=60s",
    ]);
    assert!(
        eventually(WAIT, || {
            events_of(&s, "rc-bad").contains(
            r#"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "kata" is configured"#
        )
        }),
        "{}",
        events_of(&s, "rc-bad")
    );
}

#[test]
fn termination_grace_hooks_and_security_context() {
    let s = Server::start_node(&[]);
    let host_dir = s.data_dir().join("hooks");
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
    lifecycle:
      postStart:
        exec: {{command: ["sh", "-c", "echo started > /hooks/post-start"]}}
      preStop:
        exec: {{command: ["sh", "-c", "echo stopping > /hooks/pre-stop"]}}
    volumeMounts: [{{name: hooks, mountPath: /hooks}}]
  volumes:
  - name: hooks
    hostPath: {{path: {host}, type: DirectoryOrCreate}}
---
apiVersion: v1
kind: Pod
metadata:
  name: secure
spec:
  restartPolicy: Never
  securityContext: {{runAsUser: 1000, runAsGroup: 3000}}
  containers:
  - name: c
    image: busybox:1.36
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
    command: ["sh", "-c", "id -u > /tmp/x 2>/dev/null; echo uid=$(id -u) gid=$(id -g) > /dev/termination-log; touch /rootfs-file 2>/dev/null && echo writable >> /dev/termination-log || echo readonly >> /dev/termination-log"]
"#,
        host = host_dir.display()
    );
    s.ok_input(&["apply", "-f", "-"], &manifest);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/stubborn",
        "--timeout=60s",
    ]);
    assert!(eventually(Duration::from_secs(10), || host_dir
        .join("post-start")
        .exists()));
    let t0 = Instant::now();
    s.ok(&["delete", "pod", "stubborn", "--wait=true", "--timeout=60s"]);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(3),
        "deleted after {took:?}, before the grace period"
    );
    assert!(took < Duration::from_secs(20), "deletion took {took:?}");
    assert_eq!(
        std::fs::read_to_string(host_dir.join("pre-stop")).unwrap_or_default(),
        "stopping\n"
    );
    let p = wait_pod(&s, "secure", WAIT, |p| {
        phase(p) == "Succeeded" || phase(p) == "Failed"
    });
    let msg = termination_message(&p, "c");
    assert!(msg.contains("uid=1000 gid=3000"), "{msg}");
    assert!(msg.contains("readonly"), "{msg}");
}

#[test]
fn agent_restart_adopts_running_pods() {
    let mut s = Server::start_node(&[]);
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    s.ok(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout=120s",
    ]);
    let socket = s
        .data_dir()
        .join("agent")
        .join("containerd")
        .join("containerd.sock");
    // What containerd itself runs: container ID and task PID of every running task.
    let tasks = || -> BTreeMap<String, String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["-n", "k8s.io", "tasks", "ls"])
            .output()
            .unwrap_or_else(|e| panic!("ctr: {e}"));
        assert!(out.status.success(), "ctr tasks ls: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(2) == Some(&"RUNNING")).then(|| (f[0].to_string(), f[1].to_string()))
            })
            .collect()
    };
    let pods = |s: &Server| -> Vec<Value> {
        let v: Value =
            serde_json::from_str(&s.ok(&["get", "pods", "-l", "app=nginx", "-o", "json"]))
                .unwrap_or_else(|e| panic!("{e}"));
        v["items"].as_array().cloned().unwrap_or_default()
    };
    let before = tasks();
    let listed = pods(&s);
    assert_eq!(listed.len(), 3, "{listed:?}");
    // 3 pause sandboxes + 3 nginx containers.
    assert_eq!(before.len(), 6, "{before:?}");
    let nginx_ids: Vec<String> = listed
        .iter()
        .map(|p| {
            container_status(p, "nginx")["containerID"]
                .as_str()
                .and_then(|id| id.strip_prefix("containerd://"))
                .unwrap_or_else(|| panic!("no container ID: {p}"))
                .to_string()
        })
        .collect();
    for id in &nginx_ids {
        assert!(
            before.contains_key(id),
            "{id} not running in containerd: {before:?}"
        );
    }
    for round in 0..3 {
        // SIGKILL twice, then a clean shutdown (SIGTERM): the shims keep the containers
        // either way, and the new agent adopts them.
        if round == 2 {
            s.stop();
        }
        s.restart();
        // The restarted agent has gone through its first sync once it starts a new pod.
        let marker = format!("marker-{round}");
        s.ok(&[
            "run",
            &marker,
            "--image=busybox:1.36",
            "--",
            "sleep",
            "3600",
        ]);
        s.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{marker}"),
            "--timeout=90s",
        ]);
        let after: BTreeMap<String, String> = tasks()
            .into_iter()
            .filter(|(id, _)| before.contains_key(id))
            .collect();
        assert_eq!(after, before, "round {round}: containerd's tasks changed");
        for p in pods(&s) {
            let c = container_status(&p, "nginx");
            assert_eq!(c["restartCount"], 0, "round {round}: {p}");
            let id = c["containerID"].as_str().unwrap_or_default();
            assert!(
                nginx_ids.iter().any(|n| id.ends_with(n.as_str())),
                "round {round}: {id} is not one of {nginx_ids:?}"
            );
        }
        s.ok(&["delete", "pod", &marker, "--now"]);
    }
    let table = s.ok(&["get", "pods", "-l", "app=nginx", "--no-headers"]);
    for line in table.lines() {
        assert_eq!(
            line.split_whitespace().nth(3),
            Some("0"),
            "RESTARTS: {table}"
        );
    }
}

#[test]
fn static_pods_get_mirror_pods() {
    let s = Server::start_node(&[]);
    let dir = s.data_dir().join("agent").join("pod-manifests");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("static-web.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.7.9\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let node = s.ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let name = format!("static-web-{node}");
    assert!(eventually(WAIT, || s
        .kubectl(&["get", "pod", &name])
        .status
        .success()));
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        &format!("pod/{name}"),
        "--timeout=60s",
    ]);
    let p = pod_json(&s, &name);
    assert!(p["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string());
    std::fs::remove_file(dir.join("static-web.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(eventually(WAIT, || !s
        .kubectl(&["get", "pod", &name])
        .status
        .success()));
}

#[test]
fn article_deployment_becomes_available_with_real_nginx() {
    let s = Server::start_node(&[]);
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    assert!(
        eventually(Duration::from_secs(120), || {
            s.ok(&[
                "get",
                "deployment",
                "nginx-deployment",
                "-o",
                "jsonpath={.status.availableReplicas}",
            ]) == "3"
        }),
        "{}",
        s.ok(&["get", "pods", "-o", "wide"])
    );
    let ips = s.ok(&[
        "get",
        "pods",
        "-l",
        "app=nginx",
        "-o",
        "jsonpath={.items[*].status.podIP}",
    ]);
    let ips: Vec<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3);
    for ip in ips {
        assert!(
            curl(&format!("http://{ip}/")).contains("Welcome to nginx!"),
            "{ip}"
        );
    }
}

#[test]
fn seed_walkthrough_passes_on_a_real_node() {
    let s = Server::start_node(&[]);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "node",
        "--all",
        "--timeout=60s",
    ]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/acceptance/seed-walkthrough.sh");
    let script = if script.exists() {
        script
    } else {
        std::path::PathBuf::from("/work/shared/acceptance/seed-walkthrough.sh")
    };
    let out = Command::new("bash")
        .arg(&script)
        .env("KUBECONFIG", &s.kubeconfig)
        .env("KUBECTL", krust_e2e::kubectl_bin())
        .env("HOME", s.data_dir())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn pod_start_latency_for_30_busybox_pods() {
    let s = Server::start_node(&[]);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "node",
        "--all",
        "--timeout=60s",
    ]);
    let mut manifest = String::new();
    for i in 0..30 {
        manifest.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: lat-{i}\n  labels: {{bench: lat}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: busybox:1.36\n    command: [\"sleep\", \"3600\"]\n"
        ));
    }
    s.ok_input(&["apply", "-f", "-"], &manifest);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "-l",
        "bench=lat",
        "--timeout=180s",
    ]);
    let list: Value =
        serde_json::from_str(&s.ok(&["get", "pods", "-l", "bench=lat", "-o", "json"]))
            .unwrap_or(Value::Null);
    let ts = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map(|t| t.as_second())
    };
    let mut running = Vec::new();
    let mut ready = Vec::new();
    for p in list["items"].as_array().cloned().unwrap_or_default() {
        let created = ts(&p["metadata"]["creationTimestamp"]).unwrap_or(0);
        let started = ts(&container_status(&p, "c")["state"]["running"]["startedAt"]).unwrap_or(0);
        let ready_at = p["status"]["conditions"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| ts(&c["lastTransitionTime"]))
            .unwrap_or(0);
        running.push(started - created);
        ready.push(ready_at - created);
    }
    running.sort();
    ready.sort();
    let pct = |v: &[i64], q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    eprintln!(
        "pod start latency (30 busybox pods, second resolution): create->Running p50={}s p99={}s; create->Ready p50={}s p99={}s",
        pct(&running, 0.5),
        pct(&running, 0.99),
        pct(&ready, 0.5),
        pct(&ready, 0.99)
    );
    assert_eq!(ready.len(), 30);
    assert!(pct(&ready, 0.99) <= 60, "{ready:?}");
}
