//! Durability: SIGKILL in the middle of concurrent writes loses no acknowledged write and
//! leaves no unacknowledged write half-applied.

use k8s_openapi::api::core::v1::ConfigMap;
use krust_e2e::Server;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn cm(name: &str, payload: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "payload".to_string(),
            payload.to_string(),
        )])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_concurrent_writes_keeps_every_acknowledged_write() {
    let mut s = Server::start();
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // A counter object updated with compare-and-swap by one writer.
    api.create(&PostParams::default(), &cm("counter", "0"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let counter_acked = Arc::new(Mutex::new(0u64));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let api = api.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{w}-{i}");
                // A large-ish payload that a torn write would corrupt.
                let payload = format!("{name}:").repeat(64);
                match api
                    .create(&PostParams::default(), &cm(&name, &payload))
                    .await
                {
                    Ok(_) => acked.lock().unwrap_or_else(|e| e.into_inner()).push(name),
                    Err(_) => return,
                }
            }
        }));
    }
    {
        let api = api.clone();
        let counter_acked = counter_acked.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok(mut cur) = api.get("counter").await else {
                    return;
                };
                let n: u64 = cur
                    .data
                    .as_ref()
                    .and_then(|d| d.get("payload"))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                cur.data = Some(BTreeMap::from([(
                    "payload".to_string(),
                    (n + 1).to_string(),
                )]));
                match api.replace("counter", &PostParams::default(), &cur).await {
                    Ok(_) => *counter_acked.lock().unwrap_or_else(|e| e.into_inner()) = n + 1,
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill mid-stream once enough writes were acknowledged (bounded: 60 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while tokio::time::Instant::now() < deadline
        && (acked.lock().unwrap_or_else(|e| e.into_inner()).len() < 100
            || *counter_acked.lock().unwrap_or_else(|e| e.into_inner()) < 10)
    {
        tick.tick().await;
    }
    s.kill();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let counter_acked = *counter_acked.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        acked.len() > 20,
        "too few writes before the kill: {}",
        acked.len()
    );

    s.restart();
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = api
        .list(&Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stored: BTreeMap<String, String> = list
        .items
        .iter()
        .filter_map(|c| {
            let name = c.metadata.name.clone()?;
            let payload = c.data.as_ref()?.get("payload")?.clone();
            Some((name, payload))
        })
        .collect();
    for name in &acked {
        let payload = stored
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged write {name} was lost"));
        assert_eq!(
            *payload,
            format!("{name}:").repeat(64),
            "{name} is corrupted"
        );
    }
    // Unacknowledged creates (in flight at the kill) are either absent or whole.
    for (name, payload) in &stored {
        if name != "counter" && !name.starts_with("kube-") {
            assert_eq!(
                *payload,
                format!("{name}:").repeat(64),
                "{name} is half-applied"
            );
        }
    }
    // The counter is at the last acknowledged value, or one past it if the last write was
    // committed but its answer never arrived.
    let counter: u64 = stored
        .get("counter")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert!(
        counter == counter_acked || counter == counter_acked + 1,
        "counter {counter}, last acknowledged {counter_acked}"
    );
}
