//! Event expiry (`eventttl`): upstream keeps Events for `--event-ttl` (1 h) through an etcd
//! lease on every write; krust's storage has no leases, so this controller sweeps the Events
//! (paginated lists of all namespaces) and deletes those whose last activity — the latest of
//! `lastTimestamp`, `eventTime` and `series.lastObservedTime`, else `creationTimestamp` — is
//! older than the TTL. Deletes carry the resourceVersion listed as precondition, so an Event
//! bumped meanwhile survives. The sweep runs every tenth of the TTL (1 s to 1 min).

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use std::time::Duration;

/// Upstream's default `--event-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Events listed per page.
const PAGE: u32 = 500;

/// When `ev` was last active.
pub fn last_activity(ev: &Event) -> Option<Timestamp> {
    let latest = [
        ev.last_timestamp.as_ref().map(|t| t.0),
        ev.event_time.as_ref().map(|t| t.0),
        ev.series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref())
            .map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .max();
    latest.or_else(|| ev.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Whether `ev` was last active more than `ttl` before `now` (an Event without any timestamp
/// never expires).
pub fn expired(ev: &Event, now: Timestamp, ttl: Duration) -> bool {
    last_activity(ev).is_some_and(|t| {
        now.as_millisecond() - t.as_millisecond() > ttl.as_millis().min(i64::MAX as u128) as i64
    })
}

/// Time between sweeps for `ttl`: a tenth of it, at least 1 s, at most 1 min.
pub fn sweep_interval(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The event TTL controller.
pub struct EventTtlController {
    client: Client,
    ttl: Duration,
}

impl EventTtlController {
    /// Deletes Events older than `ttl`.
    pub fn new(client: Client, ttl: Duration) -> Self {
        EventTtlController { client, ttl }
    }

    /// Sweeps until the process ends.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(sweep_interval(self.ttl));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired events deleted"),
                Err(e) => tracing::debug!(error = %e, "event expiry sweep failed"),
            }
        }
    }

    /// One pass over every Event; returns how many were deleted.
    pub async fn sweep(&self) -> Result<usize, kube::Error> {
        let all: Api<Event> = Api::all(self.client.clone());
        let mut deleted = 0;
        let mut params = ListParams::default().limit(PAGE);
        loop {
            let page = all.list(&params).await?;
            let now = Timestamp::now();
            for ev in page.items.iter().filter(|e| expired(e, now, self.ttl)) {
                let (Some(ns), Some(name)) = (&ev.metadata.namespace, &ev.metadata.name) else {
                    continue;
                };
                let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        resource_version: ev.metadata.resource_version.clone(),
                        uid: ev.metadata.uid.clone(),
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(name, &dp).await {
                    Ok(_) => deleted += 1,
                    // Gone already, or changed since listed (still active).
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                    Err(e) => return Err(e),
                }
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = ListParams::default().limit(PAGE).continue_token(&token),
                None => return Ok(deleted),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::EventSeries;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
    use k8s_openapi::jiff::SignedDuration;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
            + SignedDuration::from_secs(secs)
    }

    fn created_at(secs: i64) -> Event {
        Event {
            metadata: ObjectMeta {
                creation_timestamp: Some(Time(t(secs))),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn last_activity_is_the_latest_timestamp() {
        let ttl = Duration::from_secs(3600);
        let now = t(10_000);
        // Only a creation timestamp.
        assert!(expired(&created_at(0), now, ttl));
        assert!(!expired(&created_at(7000), now, ttl));
        // A recent lastTimestamp keeps an old Event.
        let mut bumped = created_at(0);
        bumped.first_timestamp = Some(Time(t(0)));
        bumped.last_timestamp = Some(Time(t(9000)));
        assert_eq!(last_activity(&bumped), Some(t(9000)));
        assert!(!expired(&bumped, now, ttl));
        // Timestamps win over creation (an Event posted with old timestamps expires at once).
        let mut old = created_at(9999);
        old.last_timestamp = Some(Time(t(10)));
        assert!(expired(&old, now, ttl));
        // events.k8s.io series: the last observation counts, not eventTime.
        let mut series = created_at(0);
        series.event_time = Some(MicroTime(t(100)));
        series.series = Some(EventSeries {
            count: Some(5),
            last_observed_time: Some(MicroTime(t(8000))),
        });
        assert_eq!(last_activity(&series), Some(t(8000)));
        assert!(!expired(&series, now, ttl));
        series.series = None;
        assert!(expired(&series, now, ttl));
        // Exactly at the TTL: kept.
        assert!(!expired(&created_at(6400), now, ttl));
        assert!(!expired(&Event::default(), now, ttl));
    }

    #[test]
    fn sweeps_a_tenth_of_the_ttl() {
        assert_eq!(sweep_interval(DEFAULT_TTL), Duration::from_secs(60));
        assert_eq!(
            sweep_interval(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
        assert_eq!(
            sweep_interval(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
    }
}
