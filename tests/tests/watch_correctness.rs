//! Watch correctness under concurrency: several watchers see every change exactly once, in
//! revision order, while several writers create, update and delete; and kube-rs's list and
//! `watcher` work against the server.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use krust_e2e::Server;
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::time::Duration;

fn cm(name: &str, v: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_string(), v.to_string())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_see_every_event_once_in_order() {
    let s = Server::start();
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let list = api
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let start_rv = list.metadata.resource_version.clone().unwrap_or_default();

    // Watchers from the list's revision, each collecting (type, name, rv) until the sentinel.
    let mut watchers = Vec::new();
    for _ in 0..4 {
        let api = api.clone();
        let rv = start_rv.clone();
        watchers.push(tokio::spawn(async move {
            let mut seen: Vec<(String, String, u64)> = Vec::new();
            let mut stream = api
                .watch(&WatchParams::default().timeout(120), &rv)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .boxed();
            while let Some(ev) = stream.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
                let (kind, obj) = match ev {
                    WatchEvent::Added(o) => ("ADDED", o),
                    WatchEvent::Modified(o) => ("MODIFIED", o),
                    WatchEvent::Deleted(o) => ("DELETED", o),
                    WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Error(e) => panic!("watch error: {e:?}"),
                };
                let name = obj.metadata.name.clone().unwrap_or_default();
                let rv: u64 = obj
                    .metadata
                    .resource_version
                    .as_deref()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0);
                let done = name == "sentinel";
                seen.push((kind.to_string(), name, rv));
                if done {
                    break;
                }
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Writers: each creates, updates and deletes its own objects.
    let mut writers = Vec::new();
    for w in 0..6 {
        let api = api.clone();
        writers.push(tokio::spawn(async move {
            let mut writes = 0usize;
            for i in 0..15 {
                let name = format!("w{w}-{i}");
                api.create(&PostParams::default(), &cm(&name, "1"))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                writes += 1;
                let mut cur = api.get(&name).await.unwrap_or_else(|e| panic!("{e}"));
                cur.data = Some(BTreeMap::from([("v".to_string(), "2".to_string())]));
                api.replace(&name, &PostParams::default(), &cur)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                writes += 1;
                if i % 3 == 0 {
                    api.delete(&name, &DeleteParams::default())
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    writes += 1;
                }
            }
            writes
        }));
    }
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap_or_else(|e| panic!("{e}"));
    }
    api.create(&PostParams::default(), &cm("sentinel", "x"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    total += 1;

    let mut results = Vec::new();
    for w in watchers {
        results.push(
            tokio::time::timeout(Duration::from_secs(60), w)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    for seen in &results {
        assert_eq!(seen.len(), total, "every write seen exactly once");
        for pair in seen.windows(2) {
            assert!(
                pair[0].2 < pair[1].2,
                "events out of revision order: {pair:?}"
            );
        }
        assert_eq!(seen, &results[0], "all watchers see the same history");
    }
    let deletes = results[0].iter().filter(|e| e.0 == "DELETED").count();
    assert_eq!(deletes, 6 * 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_rs_list_and_runtime_watcher() {
    let s = Server::start();
    let client = s.client().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("first", "1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let list = api
        .list(&ListParams::default().labels(""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        list.items
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some("first"))
    );

    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut saw_init_first = false;
    let creator = {
        let api = api.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            api.create(&PostParams::default(), &cm("second", "2"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        })
    };
    let got_second = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = stream.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
            match ev {
                watcher::Event::InitApply(o) if o.metadata.name.as_deref() == Some("first") => {
                    saw_init_first = true
                }
                watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("second") => {
                    return true;
                }
                _ => {}
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    creator.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        saw_init_first,
        "the watcher's initial list includes existing objects"
    );
    assert!(got_second, "the watcher sees a new object");

    // Streaming lists (sendInitialEvents) as newer kube-rs and client-go use them.
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let init_done = tokio::time::timeout(Duration::from_secs(30), async {
        let mut names = Vec::new();
        while let Some(ev) = stream.try_next().await.unwrap_or_else(|e| panic!("{e}")) {
            match ev {
                watcher::Event::InitApply(o) => names.push(o.metadata.name.unwrap_or_default()),
                watcher::Event::InitDone => return names,
                _ => {}
            }
        }
        names
    })
    .await
    .unwrap_or_default();
    assert!(
        init_done.contains(&"first".to_string()) && init_done.contains(&"second".to_string()),
        "{init_done:?}"
    );
}
