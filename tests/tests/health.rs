//! `/readyz` and `/livez` tell the truth: named checks as upstream lists them, and 503 while
//! the datastore does not answer (another process holding SQLite's write lock).

use http::Request;
use krust_e2e::Server;
use std::time::{Duration, Instant};

async fn get(client: &kube::Client, path: &str) -> (u16, String) {
    let req = Request::get(path)
        .body(kube::client::Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = client
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let code = resp.status().as_u16();
    use http_body_util::BodyExt;
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    (code, String::from_utf8_lossy(&body).into_owned())
}

async fn until(client: &kube::Client, path: &str, code: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (c, body) = get(client, path).await;
        if c == code {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} stayed {c}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_fails_while_the_datastore_is_stalled_and_recovers() {
    let s = Server::start();
    let c = s.client_without_retries().await;
    let (code, body) = get(&c, "/readyz?verbose").await;
    assert_eq!(code, 200, "{body}");
    for check in [
        "[+]ping ok",
        "[+]etcd ok",
        "[+]etcd-readiness ok",
        "[+]informer-sync ok",
        "[+]poststarthook/bootstrap-controller ok",
        "readyz check passed",
    ] {
        assert!(body.contains(check), "{check} missing:\n{body}");
    }
    assert_eq!(get(&c, "/livez").await, (200, "ok".to_string()));
    assert_eq!(get(&c, "/readyz/etcd").await, (200, "ok".to_string()));
    assert_eq!(get(&c, "/readyz/nonesuch").await.0, 404);

    // Another process takes SQLite's write lock and keeps it.
    let db = s.data_dir().join("server/db/state.db");
    let locker = rusqlite::Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
    locker
        .execute_batch("BEGIN IMMEDIATE;")
        .unwrap_or_else(|e| panic!("taking the write lock: {e}"));
    let body = until(&c, "/readyz?verbose", 503).await;
    assert!(body.contains("[-]etcd failed"), "{body}");
    assert!(body.contains("readyz check failed"), "{body}");
    assert!(body.contains("[+]ping ok"), "{body}");
    assert_eq!(get(&c, "/livez").await.0, 503);
    let (code, body) = get(&c, "/readyz?exclude=etcd,etcd-readiness").await;
    assert_eq!(code, 200, "{body}");

    // Released: ready again.
    locker
        .execute_batch("ROLLBACK;")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(locker);
    let body = until(&c, "/readyz?verbose", 200).await;
    assert!(body.contains("[+]etcd ok"), "{body}");
    assert!(s.log().contains("health check failed") || s.log().contains("check failed"));
}
