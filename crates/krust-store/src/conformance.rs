//! The backend conformance suite (tests only).
//!
//! Every [`Backend`] must pass these checks. Each check works under its own key prefix and
//! only relies on revisions relative to the ones it observes, so the whole suite can run on one
//! shared backend ([`run_all`], which runs compaction last) or each check on a fresh backend
//! (the [`conformance_tests!`] macro, which generates one `#[tokio::test]` per check).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::{
    Backend, Event, EventKind, KeyValue, RangeRequest, RangeResult, Revision, StoreError,
    WatchStream,
};

/// How long to wait for an expected event.
const WAIT: Duration = Duration::from_secs(10);
/// How long to wait to be reasonably sure no further event comes.
const QUIET: Duration = Duration::from_millis(100);

/// Generates one `#[tokio::test]` per conformance check. `$fresh` is a function (in the
/// invoking module) returning `(backend, guard)`; the guard (e.g. a temporary directory) is
/// kept alive for the duration of the test.
macro_rules! conformance_tests {
    ($fresh:ident) => {
        $crate::conformance::conformance_tests!(@tests $fresh;
            create_get,
            create_existing,
            update_cas,
            delete,
            range_pagination,
            range_past_revision,
            future_revision,
            watch_replay_then_live,
            watch_prefix_filter,
            watch_delete_carries_value,
            watch_from_future_revision,
            watch_concurrent_writes,
            compaction
        );
    };
    (@tests $fresh:ident; $($name:ident),*) => {
        mod conformance_suite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (backend, _guard) = super::$fresh();
                    $crate::conformance::$name(&backend).await;
                }
            )*
        }
    };
}
pub(crate) use conformance_tests;

/// Runs every check on one backend (compaction last, as it discards shared history).
pub async fn run_all(b: &dyn Backend) {
    create_get(b).await;
    create_existing(b).await;
    update_cas(b).await;
    delete(b).await;
    range_pagination(b).await;
    range_past_revision(b).await;
    future_revision(b).await;
    watch_replay_then_live(b).await;
    watch_prefix_filter(b).await;
    watch_delete_carries_value(b).await;
    watch_from_future_revision(b).await;
    watch_concurrent_writes(b).await;
    compaction(b).await;
}

fn val(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn current(b: &dyn Backend) -> Revision {
    b.current_revision().await.unwrap()
}

async fn range(b: &dyn Backend, prefix: &str, revision: Option<Revision>) -> RangeResult {
    b.range(RangeRequest {
        prefix: prefix.into(),
        revision,
        ..Default::default()
    })
    .await
    .unwrap()
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no event within {WAIT:?}"),
    }
}

async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(QUIET, stream.next()).await {
        panic!("unexpected watch item: {item:?}");
    }
}

fn put(kv: &KeyValue) -> Event {
    Event {
        kind: EventKind::Put,
        kv: kv.clone(),
    }
}

fn del(kv: &KeyValue) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: kv.clone(),
    }
}

/// Create then get; revisions advance by one per write.
pub async fn create_get(b: &dyn Backend) {
    let before = current(b).await;
    assert!(before >= 1);
    let kv = b.create("/conf/cg/a", val("v1")).await.unwrap();
    assert_eq!(kv.key, "/conf/cg/a");
    assert_eq!(kv.value, val("v1"));
    assert_eq!(kv.create_revision, before + 1);
    assert_eq!(kv.mod_revision, before + 1);
    assert_eq!(current(b).await, before + 1);
    assert_eq!(b.get("/conf/cg/a").await.unwrap(), Some(kv.clone()));
    assert_eq!(b.get("/conf/cg/missing").await.unwrap(), None);
    let second = b.create("/conf/cg/b", Bytes::new()).await.unwrap();
    assert_eq!(second.mod_revision, before + 2);
    assert_eq!(
        b.get("/conf/cg/b").await.unwrap().unwrap().value,
        Bytes::new()
    );
}

/// Creating an existing key fails and consumes no revision.
pub async fn create_existing(b: &dyn Backend) {
    let kv = b.create("/conf/ce/a", val("v1")).await.unwrap();
    let err = b.create("/conf/ce/a", val("v2")).await.unwrap_err();
    assert_eq!(err, StoreError::AlreadyExists("/conf/ce/a".into()));
    assert_eq!(current(b).await, kv.mod_revision);
    assert_eq!(b.get("/conf/ce/a").await.unwrap(), Some(kv));
}

/// Compare-and-swap updates: success, conflict, missing key.
pub async fn update_cas(b: &dyn Backend) {
    let created = b.create("/conf/up/a", val("v1")).await.unwrap();
    let updated = b
        .update("/conf/up/a", val("v2"), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.value, val("v2"));
    assert_eq!(updated.create_revision, created.create_revision);
    assert_eq!(updated.mod_revision, created.mod_revision + 1);
    assert_eq!(b.get("/conf/up/a").await.unwrap(), Some(updated.clone()));

    let err = b
        .update("/conf/up/a", val("v3"), created.mod_revision)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: "/conf/up/a".into(),
            expected: created.mod_revision,
            current: updated.mod_revision,
        }
    );
    let err = b.update("/conf/up/missing", val("x"), 1).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound("/conf/up/missing".into()));
    // Failed writes consume no revision and change nothing.
    assert_eq!(current(b).await, updated.mod_revision);
    assert_eq!(b.get("/conf/up/a").await.unwrap(), Some(updated));
}

/// Deletes with and without an expected revision; re-creation starts a new lifetime.
pub async fn delete(b: &dyn Backend) {
    let a = b.create("/conf/del/a", val("a1")).await.unwrap();
    let a = b
        .update("/conf/del/a", val("a2"), a.mod_revision)
        .await
        .unwrap();
    let deleted = b.delete("/conf/del/a", None).await.unwrap();
    assert_eq!(deleted.key, "/conf/del/a");
    assert_eq!(deleted.value, val("a2"));
    assert_eq!(deleted.create_revision, a.create_revision);
    assert_eq!(deleted.mod_revision, a.mod_revision + 1);
    assert_eq!(current(b).await, deleted.mod_revision);
    assert_eq!(b.get("/conf/del/a").await.unwrap(), None);
    let err = b.delete("/conf/del/a", None).await.unwrap_err();
    assert_eq!(err, StoreError::NotFound("/conf/del/a".into()));

    let c = b.create("/conf/del/c", val("c1")).await.unwrap();
    let err = b
        .delete("/conf/del/c", Some(c.mod_revision - 1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: "/conf/del/c".into(),
            expected: c.mod_revision - 1,
            current: c.mod_revision,
        }
    );
    assert_eq!(current(b).await, c.mod_revision);
    let deleted = b.delete("/conf/del/c", Some(c.mod_revision)).await.unwrap();
    assert_eq!(deleted.mod_revision, c.mod_revision + 1);
    assert_eq!(deleted.value, val("c1"));

    let again = b.create("/conf/del/a", val("a3")).await.unwrap();
    assert_eq!(again.create_revision, again.mod_revision);
    assert!(again.create_revision > deleted.mod_revision);
}

/// Prefix, limit, `start_after` and `more`.
pub async fn range_pagination(b: &dyn Backend) {
    // Neighbours that sort right before and right after the prefix.
    b.create("/conf/range", val("outside")).await.unwrap();
    b.create("/conf/range0", val("outside")).await.unwrap();
    b.create("/conf/range.", val("outside")).await.unwrap();
    for k in ["c", "a", "b/x", "b", "d"] {
        b.create(&format!("/conf/range/{k}"), val(k)).await.unwrap();
    }
    let all = range(b, "/conf/range/", None).await;
    assert_eq!(
        keys(&all.kvs),
        [
            "/conf/range/a",
            "/conf/range/b",
            "/conf/range/b/x",
            "/conf/range/c",
            "/conf/range/d"
        ]
    );
    assert!(!all.more);
    assert_eq!(all.revision, current(b).await);
    assert_eq!(all.kvs[0].value, val("a"));

    let page = |limit, start_after: Option<&str>| RangeRequest {
        prefix: "/conf/range/".into(),
        start_after: start_after.map(String::from),
        limit,
        revision: None,
    };
    let first = b.range(page(2, None)).await.unwrap();
    assert_eq!(keys(&first.kvs), ["/conf/range/a", "/conf/range/b"]);
    assert!(first.more);

    // Paging through with every limit yields every key exactly once.
    for limit in 1..=6 {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let res = b.range(page(limit, after.as_deref())).await.unwrap();
            assert!(res.kvs.len() <= limit);
            seen.extend(res.kvs.iter().map(|kv| kv.key.clone()));
            if !res.more {
                break;
            }
            after = res.kvs.last().map(|kv| kv.key.clone());
            assert!(after.is_some(), "more without keys");
        }
        assert_eq!(seen, keys(&all.kvs), "limit {limit}");
    }

    let exact = b.range(page(5, None)).await.unwrap();
    assert_eq!(exact.kvs.len(), 5);
    assert!(!exact.more);
    let tail = b.range(page(0, Some("/conf/range/b"))).await.unwrap();
    assert_eq!(
        keys(&tail.kvs),
        ["/conf/range/b/x", "/conf/range/c", "/conf/range/d"]
    );
    let none = b.range(page(0, Some("/conf/range/d"))).await.unwrap();
    assert!(none.kvs.is_empty() && !none.more);
    // A start_after before the prefix does not matter.
    let before = b.range(page(0, Some("/conf/a"))).await.unwrap();
    assert_eq!(before.kvs, all.kvs);
    // A start_after past the prefix yields nothing.
    let past = b.range(page(0, Some("/conf/z"))).await.unwrap();
    assert!(past.kvs.is_empty() && !past.more);

    let outer = range(b, "/conf/range", None).await;
    assert_eq!(outer.kvs.len(), 8);
    let nothing = range(b, "/conf/range/zz", None).await;
    assert!(nothing.kvs.is_empty());
}

/// Reads at past revisions see values and deleted keys as they were.
pub async fn range_past_revision(b: &dyn Backend) {
    let p = "/conf/past/";
    let r0 = current(b).await;
    let a1 = b.create("/conf/past/a", val("a1")).await.unwrap();
    let a2 = b
        .update("/conf/past/a", val("a2"), a1.mod_revision)
        .await
        .unwrap();
    let b1 = b.create("/conf/past/b", val("b1")).await.unwrap();
    let ad = b.delete("/conf/past/a", None).await.unwrap();
    let c1 = b.create("/conf/past/c", val("c1")).await.unwrap();
    b.create("/conf/pastx", val("outside")).await.unwrap();
    let a3 = b.create("/conf/past/a", val("a3")).await.unwrap();

    assert!(range(b, p, Some(r0)).await.kvs.is_empty());
    let at = range(b, p, Some(a1.mod_revision)).await;
    assert_eq!(at.kvs, vec![a1.clone()]);
    assert_eq!(at.revision, a1.mod_revision);
    assert!(!at.more);
    assert_eq!(
        range(b, p, Some(a2.mod_revision)).await.kvs,
        vec![a2.clone()]
    );
    assert_eq!(
        range(b, p, Some(b1.mod_revision)).await.kvs,
        vec![a2.clone(), b1.clone()]
    );
    assert_eq!(
        range(b, p, Some(ad.mod_revision)).await.kvs,
        vec![b1.clone()]
    );
    assert_eq!(
        range(b, p, Some(c1.mod_revision)).await.kvs,
        vec![b1.clone(), c1.clone()]
    );
    assert_eq!(
        range(b, p, Some(a3.mod_revision)).await.kvs,
        vec![a3.clone(), b1.clone(), c1.clone()]
    );
    let now = range(b, p, None).await;
    assert_eq!(now.kvs, vec![a3.clone(), b1.clone(), c1.clone()]);
    let at_current = range(b, p, Some(now.revision)).await;
    assert_eq!(at_current, now);

    // Pagination at a past revision.
    let req = |limit, start_after: Option<&str>| RangeRequest {
        prefix: p.into(),
        start_after: start_after.map(String::from),
        limit,
        revision: Some(b1.mod_revision),
    };
    let first = b.range(req(1, None)).await.unwrap();
    assert_eq!(first.kvs, vec![a2.clone()]);
    assert!(first.more);
    let second = b.range(req(1, Some("/conf/past/a"))).await.unwrap();
    assert_eq!(second.kvs, vec![b1.clone()]);
    assert!(!second.more);
    assert_eq!(second.revision, b1.mod_revision);
}

/// Reads past the current revision fail.
pub async fn future_revision(b: &dyn Backend) {
    b.create("/conf/future/a", val("x")).await.unwrap();
    let now = current(b).await;
    let err = b
        .range(RangeRequest {
            prefix: "/conf/future/".into(),
            revision: Some(now + 1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::FutureRevision {
            requested: now + 1,
            current: now,
        }
    );
}

/// A watch from a past revision replays history, then delivers live events, each exactly once
/// and in revision order.
pub async fn watch_replay_then_live(b: &dyn Backend) {
    let p = "/conf/watch/";
    let r0 = current(b).await;
    let a1 = b.create("/conf/watch/a", val("a1")).await.unwrap();
    let a2 = b
        .update("/conf/watch/a", val("a2"), a1.mod_revision)
        .await
        .unwrap();
    let b1 = b.create("/conf/watch/b", val("b1")).await.unwrap();

    let mut from_start = b.watch(p, r0).await.unwrap();
    let mut from_middle = b.watch(p, a1.mod_revision).await.unwrap();
    let mut from_now = b.watch(p, b1.mod_revision).await.unwrap();

    assert_eq!(next_event(&mut from_start).await, put(&a1));
    assert_eq!(next_event(&mut from_start).await, put(&a2));
    assert_eq!(next_event(&mut from_start).await, put(&b1));
    assert_eq!(next_event(&mut from_middle).await, put(&a2));
    assert_eq!(next_event(&mut from_middle).await, put(&b1));
    assert_quiet(&mut from_now).await;

    let ad = b.delete("/conf/watch/a", None).await.unwrap();
    let b2 = b
        .update("/conf/watch/b", val("b2"), b1.mod_revision)
        .await
        .unwrap();
    for stream in [&mut from_start, &mut from_middle, &mut from_now] {
        assert_eq!(next_event(stream).await, del(&ad));
        assert_eq!(next_event(stream).await, put(&b2));
        assert_quiet(stream).await;
    }
}

/// Watches only deliver keys under their prefix.
pub async fn watch_prefix_filter(b: &dyn Backend) {
    let p = "/conf/wp/";
    let r0 = current(b).await;
    b.create("/conf/wp", val("outside")).await.unwrap();
    let a = b.create("/conf/wp/a", val("a")).await.unwrap();
    b.create("/conf/wp0", val("outside")).await.unwrap();
    let mut stream = b.watch(p, r0).await.unwrap();
    assert_eq!(next_event(&mut stream).await, put(&a));
    b.create("/conf/wpx", val("outside")).await.unwrap();
    b.create("/conf/other", val("outside")).await.unwrap();
    let c = b.create("/conf/wp/c", val("c")).await.unwrap();
    assert_eq!(next_event(&mut stream).await, put(&c));
    assert_quiet(&mut stream).await;
}

/// DELETE events (replayed and live) carry the last value and the deletion's revision.
pub async fn watch_delete_carries_value(b: &dyn Backend) {
    let p = "/conf/wd/";
    let r0 = current(b).await;
    let a = b.create("/conf/wd/a", val("first")).await.unwrap();
    let a = b
        .update("/conf/wd/a", val("last"), a.mod_revision)
        .await
        .unwrap();
    let mut live = b.watch(p, a.mod_revision).await.unwrap();
    let gone = b.delete("/conf/wd/a", Some(a.mod_revision)).await.unwrap();
    let expected = Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            key: "/conf/wd/a".into(),
            value: val("last"),
            create_revision: a.create_revision,
            mod_revision: a.mod_revision + 1,
        },
    };
    assert_eq!(gone, expected.kv);
    assert_eq!(next_event(&mut live).await, expected);

    let mut replay = b.watch(p, r0).await.unwrap();
    next_event(&mut replay).await;
    next_event(&mut replay).await;
    assert_eq!(next_event(&mut replay).await, expected);
    assert_quiet(&mut replay).await;
}

/// A watch from a revision not reached yet starts delivering after it.
pub async fn watch_from_future_revision(b: &dyn Backend) {
    let p = "/conf/wf/";
    let now = current(b).await;
    let mut stream = b.watch(p, now + 2).await.unwrap();
    b.create("/conf/wf/a", val("1")).await.unwrap();
    b.create("/conf/wf/b", val("2")).await.unwrap();
    let c = b.create("/conf/wf/c", val("3")).await.unwrap();
    assert_eq!(c.mod_revision, now + 3);
    assert_eq!(next_event(&mut stream).await, put(&c));
    assert_quiet(&mut stream).await;
}

/// Watches started while writes are in flight see every write after their start revision
/// exactly once, in order, with no gap between replayed and live events.
pub async fn watch_concurrent_writes(b: &dyn Backend) {
    const WRITES: usize = 300;
    const WATCHERS: usize = 6;
    let p = "/conf/wc/";
    let progress = Cell::new(0usize);
    let writer = async {
        let mut mods: Vec<Option<Revision>> = vec![None; 10];
        let mut written = Vec::new();
        for i in 0..WRITES {
            let slot = i % 10;
            let key = format!("/conf/wc/k{slot}");
            let kv = match mods[slot] {
                None => b.create(&key, val(&i.to_string())).await.unwrap(),
                Some(m) if i % 4 == 3 => b.delete(&key, Some(m)).await.unwrap(),
                Some(m) => b.update(&key, val(&i.to_string()), m).await.unwrap(),
            };
            mods[slot] = if i % 4 == 3 && mods[slot].is_some() {
                None
            } else {
                Some(kv.mod_revision)
            };
            written.push(kv.mod_revision);
            progress.set(i + 1);
            if i % 3 == 0 {
                tokio::task::yield_now().await;
            }
        }
        written
    };
    let watchers = async {
        let mut streams = Vec::new();
        for w in 0..WATCHERS {
            while progress.get() < w * WRITES / WATCHERS {
                tokio::task::yield_now().await;
            }
            let after = current(b).await - (w as Revision % 3);
            streams.push((after, b.watch(p, after).await.unwrap()));
        }
        streams
    };
    let (written, streams) = futures::join!(writer, watchers);
    for window in written.windows(2) {
        assert!(window[0] < window[1], "revisions must increase");
    }
    for (after, mut stream) in streams {
        let expected: Vec<Revision> = written.iter().copied().filter(|r| *r > after).collect();
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(next_event(&mut stream).await.kv.mod_revision);
        }
        assert_eq!(got, expected, "watch after {after}");
        assert_quiet(&mut stream).await;
    }
}

/// Compaction: older reads and watches fail, reads at or after the compaction point see
/// exactly what they saw before, and compacting is idempotent.
pub async fn compaction(b: &dyn Backend) {
    let p = "/conf/compact/";
    let start = current(b).await;
    let old = b.create("/conf/compact/old", val("old")).await.unwrap();
    b.create("/conf/compact/gone", val("g")).await.unwrap();
    b.delete("/conf/compact/gone", None).await.unwrap();
    b.create("/conf/compact/reborn", val("r1")).await.unwrap();
    b.delete("/conf/compact/reborn", None).await.unwrap();
    let mut upd = b.create("/conf/compact/upd", val("u1")).await.unwrap();
    for v in ["u2", "u3"] {
        upd = b
            .update("/conf/compact/upd", val(v), upd.mod_revision)
            .await
            .unwrap();
    }
    let tomb = b.create("/conf/compact/tomb", val("t")).await.unwrap();
    let point = current(b).await;
    // The latest entry of "tomb" at the compaction point is a put; deleted after it.
    b.delete("/conf/compact/tomb", Some(tomb.mod_revision))
        .await
        .unwrap();
    b.create("/conf/compact/reborn", val("r2")).await.unwrap();
    b.update("/conf/compact/upd", val("u4"), upd.mod_revision)
        .await
        .unwrap();
    b.create("/conf/compact/new", val("n")).await.unwrap();
    let end = current(b).await;

    let mut snapshots = Vec::new();
    for r in start..=end {
        snapshots.push(range(b, p, Some(r)).await);
    }
    let before_events: Vec<Event> = {
        let mut stream = b.watch(p, point).await.unwrap();
        let mut events = Vec::new();
        for _ in 0..4 {
            events.push(next_event(&mut stream).await);
        }
        events
    };

    b.compact(point).await.unwrap();
    assert_eq!(b.compacted_revision().await.unwrap(), point);

    for (i, r) in (start..=end).enumerate() {
        let res = b
            .range(RangeRequest {
                prefix: p.into(),
                revision: Some(r),
                ..Default::default()
            })
            .await;
        if r < point {
            assert_eq!(
                res,
                Err(StoreError::Compacted {
                    requested: r,
                    compacted: point,
                }),
                "read at {r}"
            );
        } else {
            assert_eq!(res.as_ref(), Ok(&snapshots[i]), "read at {r}");
        }
    }
    let at_point = range(b, p, Some(point)).await;
    assert!(at_point.kvs.contains(&old), "an old untouched key survives");
    assert!(!keys(&at_point.kvs).contains(&"/conf/compact/gone"));
    assert!(!keys(&at_point.kvs).contains(&"/conf/compact/reborn"));

    match b.watch(p, point - 1).await {
        Err(e) => assert_eq!(
            e,
            StoreError::Compacted {
                requested: point - 1,
                compacted: point,
            }
        ),
        Ok(_) => panic!("watch before the compaction point must fail"),
    }
    let mut stream = b.watch(p, point).await.unwrap();
    for expected in &before_events {
        assert_eq!(&next_event(&mut stream).await, expected);
    }
    assert_quiet(&mut stream).await;

    // Idempotent, never backwards, never into the future.
    b.compact(point).await.unwrap();
    b.compact(point - 1).await.unwrap();
    assert_eq!(b.compacted_revision().await.unwrap(), point);
    assert_eq!(
        b.compact(end + 1).await,
        Err(StoreError::FutureRevision {
            requested: end + 1,
            current: end,
        })
    );

    // Writes keep working; compacting to the current revision keeps the current state.
    let later = b.create("/conf/compact/later", val("l")).await.unwrap();
    assert_eq!(next_event(&mut stream).await, put(&later));
    let now = range(b, p, None).await;
    b.compact(now.revision).await.unwrap();
    assert_eq!(range(b, p, Some(now.revision)).await, now);
    assert_eq!(range(b, p, None).await, now);
    let mut stream = b.watch(p, now.revision).await.unwrap();
    let gone = b.delete("/conf/compact/old", None).await.unwrap();
    assert_eq!(next_event(&mut stream).await, del(&gone));
    assert_eq!(gone.value, val("old"));
}

/// A watcher that does not keep up is cut off with [`StoreError::WatchLagged`]. The backend
/// must have a watch buffer smaller than 8 single-write batches.
pub async fn slow_watcher_lags(b: &dyn Backend) {
    let after = current(b).await;
    let mut stream = b.watch("/conf/lag/", after).await.unwrap();
    for i in 0..8 {
        b.create(&format!("/conf/lag/{i}"), val("x")).await.unwrap();
    }
    let mut saw_lag = false;
    loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Err(_) => panic!("the watch neither lagged nor ended"),
            Ok(None) => break,
            Ok(Some(Ok(_))) => assert!(!saw_lag, "events after the lag error"),
            Ok(Some(Err(e))) => {
                assert_eq!(e, StoreError::WatchLagged);
                saw_lag = true;
            }
        }
    }
    assert!(saw_lag, "the watch must report that it lagged");
}
