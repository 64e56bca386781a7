//! The ingress controller on a real node (issue 10 in part): the `krust` IngressClass is the
//! default, an Ingress routes two hosts to two Services (and a path to a third port) straight
//! to their pods, its status gets the node's address, TLS is served from a Secret chosen by
//! SNI (HTTP/2 by ALPN), a host without a rule gets 404 and a Service without ready pods 503,
//! `X-Forwarded-*` reach the backend, keep-alive connections are reused, a WebSocket upgrade
//! is passed through both ways, every request is in the access log, and a deleted Ingress
//! stops routing.

use krust_e2e::{Server, eventually};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

const BACKENDS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: echo
data:
  index.html: "hello from echo\n"
  env.cgi: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    env
  ws.sh: |
    #!/bin/sh
    while read -r line; do
      line=$(printf '%s' "$line" | tr -d '\r')
      [ -z "$line" ] && break
    done
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
    exec cat
---
apiVersion: v1
kind: Pod
metadata:
  name: echo
  labels:
    app: echo
spec:
  containers:
  - name: echo
    image: busybox:1.36
    command: ["sh", "-c", "httpd -p 8080 -h /www && exec nc -ll -p 8081 -e /www/ws.sh"]
    readinessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
    volumeMounts:
    - name: www
      mountPath: /www
  volumes:
  - name: www
    configMap:
      name: echo
      defaultMode: 0755
      items:
      - key: index.html
        path: index.html
      - key: env.cgi
        path: cgi-bin/env
      - key: ws.sh
        path: ws.sh
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  selector:
    app: echo
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: ws
    port: 81
    targetPort: 8081
---
apiVersion: v1
kind: Service
metadata:
  name: nothing
spec:
  selector:
    app: nothing-matches-this
  ports:
  - port: 80
"#;

const INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  tls:
  - hosts: [one.example.test]
    secretName: one-tls
  rules:
  - host: one.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: nginx-deployment
            port:
              number: 80
  - host: two.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: echo
            port:
              name: http
      - path: /ws
        pathType: Exact
        backend:
          service:
            name: echo
            port:
              number: 81
  - host: three.example.test
    http:
      paths:
      - path: /
        pathType: ImplementationSpecific
        backend:
          service:
            name: nothing
            port:
              number: 80
"#;

/// curl's status code and body for `url` (`args` before it).
fn curl(args: &[&str], url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.rsplit_once('\n') {
        Some((body, code)) => (code.to_string(), body.to_string()),
        None => (text, String::new()),
    }
}

#[test]
fn ingress_routes_hosts_and_paths_to_pods() {
    let s = Server::start_node(&[]);
    let node = s.node.clone().unwrap();
    let http = format!("http://127.0.0.1:{}", node.ingress_http);
    let host = |h: &str| format!("Host: {h}");

    // The default class; an Ingress naming none gets it.
    assert!(
        eventually(WAIT, || s
            .kubectl(&[
                "get",
                "ingressclass",
                "krust",
                "-o",
                "jsonpath={.metadata.annotations}"
            ])
            .stdout
            .windows(4)
            .any(|w| w == b"true")),
        "no default krust IngressClass"
    );
    s.ok_input(&["apply", "-f", "-"], krust_e2e::NGINX_DEPLOYMENT);
    s.ok(&["expose", "deployment", "nginx-deployment", "--port=80"]);
    s.ok_input(&["apply", "-f", "-"], BACKENDS);
    let key = rcgen::generate_simple_self_signed(vec!["one.example.test".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crt = dir.path().join("tls.crt");
    let keyfile = dir.path().join("tls.key");
    std::fs::write(&crt, key.cert.pem()).unwrap();
    std::fs::write(&keyfile, key.signing_key.serialize_pem()).unwrap();
    s.ok(&[
        "create",
        "secret",
        "tls",
        "one-tls",
        "--cert",
        crt.to_str().unwrap(),
        "--key",
        keyfile.to_str().unwrap(),
    ]);
    s.ok_input(&["apply", "-f", "-"], INGRESS);
    assert_eq!(
        s.ok(&[
            "get",
            "ingress",
            "web",
            "-o",
            "jsonpath={.spec.ingressClassName}"
        ]),
        "krust"
    );
    s.ok(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout=120s",
    ]);
    s.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/echo",
        "--timeout=120s",
    ]);

    // Status: the node's address.
    let node_ip = s.ok(&[
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[0].status.addresses[0].address}",
    ]);
    assert!(
        eventually(WAIT, || s.ok(&[
            "get",
            "ingress",
            "web",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[*].ip}"
        ]) == node_ip),
        "the Ingress status did not get {node_ip}"
    );

    // Two hosts, two Services.
    assert!(
        eventually(WAIT, || curl(
            &["-H", &host("one.example.test")],
            &format!("{http}/")
        )
        .1
        .contains("Welcome to nginx!")),
        "one.example.test did not reach nginx:\n{}",
        s.log()
    );
    assert!(
        eventually(WAIT, || curl(
            &["-H", &host("two.example.test")],
            &format!("{http}/")
        )
        .1 == "hello from echo\n"),
        "two.example.test did not reach echo"
    );
    // No rule: 404; no ready endpoint: 503.
    assert_eq!(
        curl(&["-H", &host("nowhere.example.test")], &format!("{http}/")).0,
        "404 1.1"
    );
    assert_eq!(
        curl(&["-H", &host("three.example.test")], &format!("{http}/")).0,
        "503 1.1"
    );

    // The backend sees X-Forwarded-*.
    let (code, env) = curl(
        &["-H", &host("two.example.test")],
        &format!("{http}/cgi-bin/env"),
    );
    assert_eq!(code, "200 1.1", "{env}");
    assert!(env.contains("HTTP_X_FORWARDED_FOR=127.0.0.1"), "{env}");
    assert!(env.contains("HTTP_X_FORWARDED_PROTO=http"), "{env}");
    assert!(
        env.contains("HTTP_X_FORWARDED_HOST=two.example.test"),
        "{env}"
    );

    // TLS by SNI, verified against the Secret's certificate, over HTTP/2.
    let resolve = format!("one.example.test:{}:127.0.0.1", node.ingress_https);
    let (code, page) = curl(
        &["--cacert", crt.to_str().unwrap(), "--resolve", &resolve],
        &format!("https://one.example.test:{}/", node.ingress_https),
    );
    assert_eq!(code, "200 2", "{page}");
    assert!(page.contains("Welcome to nginx!"));
    // A host without a certificate gets the default one, which that CA does not sign.
    let resolve_two = format!("two.example.test:{}:127.0.0.1", node.ingress_https);
    let (code, _) = curl(
        &["--cacert", crt.to_str().unwrap(), "--resolve", &resolve_two],
        &format!("https://two.example.test:{}/", node.ingress_https),
    );
    assert_eq!(
        code, "000 0",
        "the default certificate verified as the Secret's"
    );
    let (code, body) = curl(
        &["-k", "--resolve", &resolve_two],
        &format!("https://two.example.test:{}/", node.ingress_https),
    );
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200 2", "hello from echo\n")
    );
    // HTTP/2 in clear text (prior knowledge).
    assert_eq!(
        curl(
            &["--http2-prior-knowledge", "-H", &host("two.example.test")],
            &format!("{http}/")
        )
        .0,
        "200 2"
    );

    // Keep-alive: curl reuses its connection for a second request.
    let out = Command::new("curl")
        .args([
            "-sv",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-H",
        ])
        .arg(host("two.example.test"))
        .arg(format!("{http}/"))
        .arg(format!("{http}/"))
        .output()
        .unwrap();
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(
        verbose.contains("Re-using existing connection"),
        "{verbose}"
    );

    // A WebSocket upgrade, passed through both ways.
    let mut ws = TcpStream::connect(("127.0.0.1", node.ingress_http)).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: two.example.test\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(ws.read(&mut byte).unwrap(), 1, "closed during the upgrade");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws.write_all(b"ping through the ingress\n").unwrap();
    let mut echoed = vec![0u8; 25];
    ws.read_exact(&mut echoed).unwrap();
    assert_eq!(echoed, b"ping through the ingress\n");
    drop(ws);

    // The access log.
    let log = s.log();
    assert!(
        log.contains("\"GET / HTTP/1.1\" 200 host=one.example.test ingress=default/web"),
        "no access log line"
    );
    assert!(log.contains("\"GET / HTTP/1.1\" 404 host=nowhere.example.test"));

    // A deleted Ingress stops routing.
    s.ok(&["delete", "ingress", "web"]);
    assert!(
        eventually(WAIT, || curl(
            &["-H", &host("one.example.test")],
            &format!("{http}/")
        )
        .0 == "404 1.1"),
        "the deleted Ingress still routes"
    );
}
