//! A core/v1 Event recorder shared by the controllers and the scheduler, after client-go's
//! `record` package: every Event names its object (`involvedObject`), its source
//! (`source.component`, plus `reportingComponent`/`reportingInstance`), its first and last
//! timestamps and its `eventTime`, and is named `<object>.<unique hex>` as upstream names them.
//! Before it is written, an Event goes through upstream's `EventCorrelator`:
//!
//! - the **aggregator** folds events that differ only by message: from the 10th distinct message
//!   about the same object, reason and type within 10 minutes, they are recorded as one
//!   `(combined from similar events): …` Event;
//! - the **logger** turns a repeat of the same event (object, source, type, reason, message)
//!   within 10 minutes into a PATCH of the existing Event's `count` and `lastTimestamp` (a new
//!   Event is created when the old one is gone, e.g. expired);
//! - the **spam filter** drops events beyond a token bucket per source and object (burst 25,
//!   one more every 5 minutes).
//!
//! Writes for the same object are serialized (so a PATCH never overtakes the POST it bumps);
//! failures are logged and dropped, as events are best effort.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// `type` of an ordinary event.
pub const NORMAL: &str = "Normal";
/// `type` of an event about something going wrong.
pub const WARNING: &str = "Warning";

/// Entries each correlator cache keeps (upstream's `maxLruCacheEntries`).
pub const MAX_CACHE_ENTRIES: usize = 4096;
/// Distinct messages about one object and reason before they are combined into one Event.
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long similar or identical events are folded into one (upstream's 600 s).
pub const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Prefix of a combined Event's message.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";
/// Events one source may record about one object at once (upstream's spam filter burst).
pub const SPAM_BURST: f64 = 25.0;
/// Refill of the spam filter's bucket: one event every 5 minutes.
pub const SPAM_REFILL: Duration = Duration::from_secs(300);
/// Longest message of an Event with `eventTime` set (upstream's `NoteLengthLimit`).
pub const MESSAGE_LIMIT: usize = 1024;

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn millis_between(earlier: Timestamp, later: Timestamp) -> i64 {
    later.as_millisecond() - earlier.as_millisecond()
}

fn older_than(then: Timestamp, now: Timestamp, d: Duration) -> bool {
    millis_between(then, now) > d.as_millis() as i64
}

/// A least-recently-used map of bounded size.
struct Lru<V> {
    map: HashMap<String, (V, u64)>,
    tick: u64,
    capacity: usize,
}

impl<V> Lru<V> {
    fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::new(),
            tick: 0,
            capacity: capacity.max(1),
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|(v, t)| {
            *t = tick;
            v
        })
    }

    fn insert(&mut self, key: String, value: V) {
        self.tick += 1;
        self.map.insert(key, (value, self.tick));
        if self.map.len() > self.capacity {
            // Evict the least recently used eighth at once, so eviction stays cheap.
            let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
            ticks.sort_unstable();
            let cut = ticks[(self.map.len() - self.capacity).max(self.capacity / 8)];
            self.map.retain(|_, (_, t)| *t >= cut);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Distinct messages seen for one aggregate key.
struct AggregateRecord {
    messages: HashSet<String>,
    last: Timestamp,
}

/// The last observation of one event.
struct EventLog {
    count: i32,
    first: Option<Time>,
    name: String,
    resource_version: Option<String>,
    last: Timestamp,
}

/// A token bucket (burst 25, one token per 5 minutes).
struct Bucket {
    tokens: f64,
    at: Timestamp,
}

impl Bucket {
    fn full(now: Timestamp) -> Self {
        Bucket {
            tokens: SPAM_BURST,
            at: now,
        }
    }

    fn try_accept(&mut self, now: Timestamp) -> bool {
        let elapsed = millis_between(self.at, now).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed / SPAM_REFILL.as_secs_f64()).min(SPAM_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to do with an event after correlation.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlation {
    /// Dropped by the spam filter.
    Skip,
    /// POST this new Event; remember what the server returns under `key`.
    Create { key: String, event: Event },
    /// PATCH the existing Event `event` (name and first timestamp as first recorded) with
    /// `patch` (`count`, `lastTimestamp`, `message`); POST `event` if it is gone.
    Patch {
        key: String,
        event: Event,
        patch: Value,
    },
}

fn s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

fn join(parts: &[&str]) -> String {
    parts.join("\u{1f}")
}

fn source_of(ev: &Event) -> (&str, &str) {
    ev.source
        .as_ref()
        .map(|s| {
            (
                s.component.as_deref().unwrap_or(""),
                s.host.as_deref().unwrap_or(""),
            )
        })
        .unwrap_or(("", ""))
}

/// Upstream's `getSpamKey`: source and object.
pub fn spam_key(ev: &Event) -> String {
    let (component, host) = source_of(ev);
    let o = &ev.involved_object;
    join(&[
        component,
        host,
        s(&o.kind),
        s(&o.namespace),
        s(&o.name),
        s(&o.uid),
        s(&o.api_version),
    ])
}

/// Upstream's `EventAggregatorByReasonFunc`: the aggregate key (everything but the message)
/// and the message.
fn aggregate_key(ev: &Event) -> String {
    let (component, host) = source_of(ev);
    let o = &ev.involved_object;
    join(&[
        component,
        host,
        s(&o.kind),
        s(&o.namespace),
        s(&o.name),
        s(&o.uid),
        s(&o.api_version),
        s(&ev.type_),
        s(&ev.reason),
        s(&ev.reporting_component),
        s(&ev.reporting_instance),
    ])
}

/// Upstream's `getEventKey`: what makes two events the same event.
pub fn event_key(ev: &Event) -> String {
    let (component, host) = source_of(ev);
    let o = &ev.involved_object;
    join(&[
        component,
        host,
        s(&o.kind),
        s(&o.namespace),
        s(&o.name),
        s(&o.field_path),
        s(&o.uid),
        s(&o.api_version),
        s(&ev.type_),
        s(&ev.reason),
        s(&ev.message),
    ])
}

/// Upstream's `EventCorrelator` (aggregator, logger, spam filter) on an explicit clock.
pub struct Correlator {
    aggregates: Lru<AggregateRecord>,
    logs: Lru<EventLog>,
    spam: Lru<Bucket>,
    /// The last nanosecond used in a name, so names stay unique.
    last_name_nanos: i128,
}

impl Default for Correlator {
    fn default() -> Self {
        Self::new()
    }
}

impl Correlator {
    pub fn new() -> Self {
        Correlator {
            aggregates: Lru::new(MAX_CACHE_ENTRIES),
            logs: Lru::new(MAX_CACHE_ENTRIES),
            spam: Lru::new(MAX_CACHE_ENTRIES),
            last_name_nanos: 0,
        }
    }

    /// `<object>.<hex nanoseconds>`, unique among the names this correlator gave.
    fn unique_name(&mut self, object: &str, now: Timestamp) -> String {
        let nanos = now.as_nanosecond().max(self.last_name_nanos + 1);
        self.last_name_nanos = nanos;
        format!("{object}.{:x}", nanos.max(0))
    }

    /// Upstream's `EventAggregate`: the event itself and its key, or, from the 10th distinct
    /// message, a combined event and the aggregate key.
    fn aggregate(&mut self, ev: Event, now: Timestamp) -> (Event, String) {
        let key = event_key(&ev);
        let agg_key = aggregate_key(&ev);
        let message = ev.message.clone().unwrap_or_default();
        let mut record = match self.aggregates.get_mut(&agg_key) {
            Some(r) if !older_than(r.last, now, AGGREGATE_INTERVAL) => AggregateRecord {
                messages: std::mem::take(&mut r.messages),
                last: r.last,
            },
            _ => AggregateRecord {
                messages: HashSet::new(),
                last: now,
            },
        };
        record.messages.insert(message.clone());
        record.last = now;
        let combine = record.messages.len() >= AGGREGATE_MAX_EVENTS;
        if combine {
            // Do not let the set grow past the maximum.
            let drop_one = record.messages.iter().next().cloned();
            if let Some(m) = drop_one {
                record.messages.remove(&m);
            }
        }
        self.aggregates.insert(agg_key.clone(), record);
        if !combine {
            return (ev, key);
        }
        let combined = Event {
            message: Some(truncate(&format!("{COMBINED_PREFIX}{message}"))),
            ..ev
        };
        (combined, agg_key)
    }

    /// Correlates `ev` (a fresh event with count 1 and both timestamps `now`).
    pub fn correlate(&mut self, ev: Event, now: Timestamp) -> Correlation {
        let (mut ev, key) = self.aggregate(ev, now);
        let spam = spam_key(&ev);
        // Upstream's `eventObserve`: a repeat within the interval bumps the existing Event.
        let previous = self
            .logs
            .get_mut(&key)
            .filter(|l| l.count > 0 && !older_than(l.last, now, AGGREGATE_INTERVAL))
            .map(|l| {
                (
                    l.count,
                    l.first.clone(),
                    l.name.clone(),
                    l.resource_version.clone(),
                )
            });
        let result = match previous {
            Some((count, first, name, rv)) => {
                ev.metadata.name = Some(name);
                ev.metadata.resource_version = rv;
                if first.is_some() {
                    ev.first_timestamp = first;
                    ev.event_time = ev.first_timestamp.as_ref().map(|t| MicroTime(t.0));
                }
                ev.count = Some(count.saturating_add(1));
                let patch = json!({
                    "count": ev.count,
                    "lastTimestamp": ev.last_timestamp,
                    "message": ev.message,
                });
                Correlation::Patch {
                    key: key.clone(),
                    event: ev,
                    patch,
                }
            }
            None => {
                let object = ev.involved_object.name.clone().unwrap_or_default();
                ev.metadata.name = Some(self.unique_name(&object, now));
                ev.metadata.resource_version = None;
                Correlation::Create {
                    key: key.clone(),
                    event: ev,
                }
            }
        };
        if let Correlation::Create { event, .. } | Correlation::Patch { event, .. } = &result {
            self.logs.insert(
                key,
                EventLog {
                    count: event.count.unwrap_or(1),
                    first: event.first_timestamp.clone(),
                    name: event.metadata.name.clone().unwrap_or_default(),
                    resource_version: event.metadata.resource_version.clone(),
                    last: now,
                },
            );
        }
        // Upstream filters after observing: a dropped repeat still counts.
        let accepted = match self.spam.get_mut(&spam) {
            Some(b) => b.try_accept(now),
            None => {
                let mut b = Bucket::full(now);
                let ok = b.try_accept(now);
                self.spam.insert(spam, b);
                ok
            }
        };
        if accepted { result } else { Correlation::Skip }
    }

    /// Upstream's `UpdateState`: remembers the Event as the server stored it.
    pub fn update_state(&mut self, key: &str, stored: &Event, now: Timestamp) {
        self.logs.insert(
            key.to_string(),
            EventLog {
                count: stored.count.unwrap_or(1),
                first: stored.first_timestamp.clone(),
                name: stored.metadata.name.clone().unwrap_or_default(),
                resource_version: stored.metadata.resource_version.clone(),
                last: now,
            },
        );
    }
}

/// `message` cut to [`MESSAGE_LIMIT`] bytes at a character boundary.
fn truncate(message: &str) -> String {
    if message.len() <= MESSAGE_LIMIT {
        return message.to_string();
    }
    let mut end = MESSAGE_LIMIT;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

/// The host name of this machine (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

struct Inner {
    client: Client,
    component: String,
    instance: String,
    correlator: Mutex<Correlator>,
    /// Per-object write locks (by spam key), dropped when unused.
    writing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Records core/v1 Events as `component` (e.g. `deployment-controller`, `default-scheduler`).
/// Cheap to clone; clones share the correlator.
#[derive(Clone)]
pub struct EventRecorder {
    inner: Arc<Inner>,
}

impl EventRecorder {
    /// A recorder whose Events have `source.component` and `reportingComponent` `component`.
    pub fn new(client: Client, component: &str) -> Self {
        EventRecorder {
            inner: Arc::new(Inner {
                client,
                component: component.to_string(),
                instance: format!("{component}-{}", hostname()),
                correlator: Mutex::new(Correlator::new()),
                writing: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The reporting component.
    pub fn component(&self) -> &str {
        &self.inner.component
    }

    /// A fresh Event about `object` (count 1, all timestamps `now`); named on correlation.
    pub fn make_event(
        &self,
        object: &ObjectReference,
        type_: &str,
        reason: &str,
        action: &str,
        message: &str,
        now: Timestamp,
    ) -> Event {
        let namespace = object
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string());
        Event {
            metadata: ObjectMeta {
                namespace: Some(namespace),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_string()),
            message: Some(truncate(message)),
            type_: Some(type_.to_string()),
            action: Some(action.to_string()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            source: Some(EventSource {
                component: Some(self.inner.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.inner.component.clone()),
            reporting_instance: Some(self.inner.instance.clone()),
            ..Default::default()
        }
    }

    /// Records an event about `object`: `type_` is [`NORMAL`] or [`WARNING`], `reason` a
    /// CamelCase word (`ScalingReplicaSet`), `message` for humans. Returns once written (or
    /// dropped: failures are logged, never returned).
    pub async fn record(&self, object: &ObjectReference, type_: &str, reason: &str, message: &str) {
        self.record_action(object, type_, reason, reason, message)
            .await;
    }

    /// [`record`](Self::record) with an `action` (what the component was doing) other than
    /// the reason.
    pub async fn record_action(
        &self,
        object: &ObjectReference,
        type_: &str,
        reason: &str,
        action: &str,
        message: &str,
    ) {
        let draft = self.make_event(object, type_, reason, action, message, Timestamp::now());
        let object_key = spam_key(&draft);
        let write_lock = {
            let mut writing = lock(&self.inner.writing);
            writing.entry(object_key.clone()).or_default().clone()
        };
        {
            let _guard = write_lock.lock().await;
            // Timestamps as of the write, so they stay ordered per object.
            let now = Timestamp::now();
            let draft = self.make_event(object, type_, reason, action, message, now);
            let plan = lock(&self.inner.correlator).correlate(draft, now);
            self.write(plan, now).await;
        }
        let mut writing = lock(&self.inner.writing);
        if writing
            .get(&object_key)
            .is_some_and(|l| Arc::strong_count(l) <= 2)
        {
            writing.remove(&object_key);
        }
    }

    /// Records an event in the background (for callers that must not wait).
    pub fn emit(&self, object: ObjectReference, type_: &str, reason: &str, message: String) {
        let this = self.clone();
        let (type_, reason) = (type_.to_string(), reason.to_string());
        tokio::spawn(async move { this.record(&object, &type_, &reason, &message).await });
    }

    async fn write(&self, plan: Correlation, now: Timestamp) {
        let (key, event, patch) = match plan {
            Correlation::Skip => {
                tracing::debug!(component = %self.inner.component, "event dropped by the spam filter");
                return;
            }
            Correlation::Create { key, event } => (key, event, None),
            Correlation::Patch { key, event, patch } => (key, event, Some(patch)),
        };
        let ns = event.metadata.namespace.clone().unwrap_or_default();
        let name = event.metadata.name.clone().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(self.inner.client.clone(), &ns);
        let mut result = match &patch {
            Some(p) => {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(p))
                    .await
            }
            None => api.create(&PostParams::default(), &event).await,
        };
        // The Event being bumped is gone (expired, deleted): record it anew, count kept.
        if patch.is_some() && matches!(&result, Err(kube::Error::Api(e)) if e.code == 404) {
            let mut fresh = event.clone();
            fresh.metadata.resource_version = None;
            result = api.create(&PostParams::default(), &fresh).await;
        }
        match result {
            Ok(stored) => lock(&self.inner.correlator).update_state(&key, &stored, now),
            Err(e) => tracing::debug!(
                component = %self.inner.component,
                event = %name,
                reason = event.reason.as_deref().unwrap_or(""),
                error = %e,
                "recording an event failed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    fn object(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{name}")),
            resource_version: Some("7".into()),
            ..Default::default()
        }
    }

    fn event(obj: &str, reason: &str, message: &str, now: Timestamp) -> Event {
        Event {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                ..Default::default()
            },
            involved_object: object(obj),
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(NORMAL.into()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            source: Some(EventSource {
                component: Some("deployment-controller".into()),
                host: None,
            }),
            ..Default::default()
        }
    }

    fn t0() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn at(secs: i64) -> Timestamp {
        t0() + SignedDuration::from_secs(secs)
    }

    fn created(c: Correlation) -> (String, Event) {
        match c {
            Correlation::Create { key, event } => (key, event),
            other => panic!("expected a create, got {other:?}"),
        }
    }

    fn patched(c: Correlation) -> (Event, Value) {
        match c {
            Correlation::Patch { event, patch, .. } => (event, patch),
            other => panic!("expected a patch, got {other:?}"),
        }
    }

    #[test]
    fn same_event_twice_bumps_count() {
        let mut c = Correlator::new();
        let (key, first) =
            created(c.correlate(event("web", "ScalingReplicaSet", "up", at(0)), at(0)));
        let name = first.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with("web."), "{name}");
        assert!(u128::from_str_radix(&name[4..], 16).is_ok(), "{name}");
        let mut stored = first.clone();
        stored.metadata.resource_version = Some("42".into());
        c.update_state(&key, &stored, at(0));

        let (again, patch) =
            patched(c.correlate(event("web", "ScalingReplicaSet", "up", at(30)), at(30)));
        assert_eq!(again.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(again.count, Some(2));
        assert_eq!(again.first_timestamp, Some(Time(at(0))));
        assert_eq!(again.last_timestamp, Some(Time(at(30))));
        assert_eq!(patch["count"], 2);
        assert_eq!(
            patch["lastTimestamp"],
            serde_json::to_value(Time(at(30))).unwrap_or_default()
        );
        assert_eq!(patch["message"], "up");
        let (third, _) =
            patched(c.correlate(event("web", "ScalingReplicaSet", "up", at(60)), at(60)));
        assert_eq!(third.count, Some(3));
    }

    #[test]
    fn different_message_or_object_is_a_new_event() {
        let mut c = Correlator::new();
        let (_, a) = created(c.correlate(event("web", "ScalingReplicaSet", "up", at(0)), at(0)));
        let (_, b) = created(c.correlate(event("web", "ScalingReplicaSet", "down", at(0)), at(0)));
        let (_, other) =
            created(c.correlate(event("api", "ScalingReplicaSet", "up", at(0)), at(0)));
        assert_ne!(a.metadata.name, b.metadata.name, "names stay unique");
        assert_eq!(b.count, Some(1));
        assert_eq!(other.count, Some(1));
        let (_, reason) = created(c.correlate(event("web", "Other", "up", at(1)), at(1)));
        assert_eq!(reason.count, Some(1));
    }

    #[test]
    fn repeats_fold_only_within_ten_minutes() {
        let mut c = Correlator::new();
        created(c.correlate(event("web", "R", "m", at(0)), at(0)));
        patched(c.correlate(event("web", "R", "m", at(599)), at(599)));
        // 10 minutes after the last observation: a new Event.
        let (_, fresh) = created(c.correlate(event("web", "R", "m", at(1300)), at(1300)));
        assert_eq!(fresh.count, Some(1));
        assert_eq!(fresh.first_timestamp, Some(Time(at(1300))));
    }

    #[test]
    fn similar_events_are_combined_from_the_tenth_message() {
        let mut c = Correlator::new();
        for i in 0..9 {
            let (_, e) = created(c.correlate(
                event(
                    "web",
                    "SuccessfulCreate",
                    &format!("Created pod: p{i}"),
                    at(i),
                ),
                at(i),
            ));
            assert_eq!(
                e.message.as_deref(),
                Some(format!("Created pod: p{i}").as_str())
            );
        }
        let (_, combined) = created(c.correlate(
            event("web", "SuccessfulCreate", "Created pod: p9", at(9)),
            at(9),
        ));
        assert_eq!(
            combined.message.as_deref(),
            Some("(combined from similar events): Created pod: p9")
        );
        let (bumped, patch) = patched(c.correlate(
            event("web", "SuccessfulCreate", "Created pod: p10", at(10)),
            at(10),
        ));
        assert_eq!(bumped.metadata.name, combined.metadata.name);
        assert_eq!(bumped.count, Some(2));
        assert_eq!(
            patch["message"],
            "(combined from similar events): Created pod: p10"
        );
    }

    #[test]
    fn spam_filter_allows_a_burst_of_25_then_one_per_five_minutes() {
        let mut c = Correlator::new();
        for i in 0..25 {
            let got = c.correlate(event("web", "R", &format!("m{}", i % 3), at(0)), at(0));
            assert_ne!(got, Correlation::Skip, "event {i}");
        }
        assert_eq!(
            c.correlate(event("web", "R", "m0", at(1)), at(1)),
            Correlation::Skip
        );
        // Another object (or source) has its own bucket.
        assert_ne!(
            c.correlate(event("api", "R", "m0", at(1)), at(1)),
            Correlation::Skip
        );
        assert_eq!(
            c.correlate(event("web", "R", "m0", at(299)), at(299)),
            Correlation::Skip
        );
        // A dropped repeat still counts: the next accepted one says so.
        let (e, _) = patched(c.correlate(event("web", "R", "m0", at(301)), at(301)));
        assert_eq!(e.count, Some(12));
        assert_eq!(
            c.correlate(event("web", "R", "m0", at(302)), at(302)),
            Correlation::Skip
        );
    }

    #[test]
    fn caches_stay_bounded() {
        let mut l = Lru::new(100);
        for i in 0..1000 {
            l.insert(format!("k{i}"), i);
            assert!(l.len() <= 100);
        }
        assert!(l.get_mut("k999").is_some());
        assert!(l.get_mut("k0").is_none());
    }

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MESSAGE_LIMIT);
        let cut = truncate(&long);
        assert!(cut.len() <= MESSAGE_LIMIT);
        assert!(long.starts_with(&cut));
        assert_eq!(truncate("short"), "short");
    }
}
