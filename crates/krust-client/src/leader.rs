//! Leader election through a coordination.k8s.io/v1 Lease, after client-go's `leaderelection`
//! with the `leases` lock: candidates GET the Lease and take it over (PUT with the
//! `resourceVersion` they read, so only one wins) once its holder has not renewed it for
//! `leaseDurationSeconds` as measured on the candidate's own clock (never by comparing
//! `renewTime` with it, so clock skew does not matter). The leader renews every retry period
//! and gives up leadership when it could not renew within the renew deadline. Upstream's
//! timings: lease 15 s, renew deadline 10 s, retry period 2 s (with 1.2 jitter while waiting).
//! `acquireTime` and `renewTime` are MicroTimes; `leaseTransitions` counts changes of holder.
//!
//! [`LeaderElector::run`] runs a future only while leading: it is dropped (stopping the work)
//! as soon as leadership is lost, and the elector campaigns again.

use crate::events::hostname;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Namespace of the control plane's Leases.
pub const NAMESPACE: &str = "kube-system";
/// The controller manager's Lease.
pub const CONTROLLER_MANAGER_LEASE: &str = "kube-controller-manager";
/// The scheduler's Lease.
pub const SCHEDULER_LEASE: &str = "kube-scheduler";
/// Upstream's jitter factor of the acquire loop.
pub const JITTER_FACTOR: f64 = 1.2;

/// Timings of an election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// How long a Lease not renewed keeps others from taking it (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How long the leader retries renewing before it gives up leadership.
    pub renew_deadline: Duration,
    /// Time between attempts.
    pub retry_period: Duration,
}

impl Default for LeaderElectionConfig {
    /// Upstream's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        LeaderElectionConfig {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaderElectionConfig {
    /// `leaseDurationSeconds` to write (whole seconds, at least 1).
    pub fn lease_duration_seconds(&self) -> i32 {
        let ms = self.lease_duration.as_millis().max(1);
        ms.div_ceil(1000).min(i32::MAX as u128) as i32
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A random (version 4 style) UUID.
fn random_uuid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A candidate identity as upstream makes it: `<hostname>_<random UUID>`.
pub fn new_identity() -> String {
    format!("{}_{}", hostname(), random_uuid())
}

fn jittered(d: Duration) -> Duration {
    let fraction = (random_u64() % 10_000) as f64 / 10_000.0;
    d + d.mul_f64(JITTER_FACTOR * fraction)
}

/// What a candidate last saw of the Lease, and when by its own clock.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    pub record: Option<LeaseSpec>,
    pub at: Option<Timestamp>,
}

/// What a candidate does after reading the Lease.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// There is no Lease: create it with this spec.
    Create(LeaseSpec),
    /// Write this spec (acquiring or renewing) with the resourceVersion read.
    Update(LeaseSpec),
    /// Another candidate holds a valid Lease.
    HeldBy(String),
}

/// Upstream's `tryAcquireOrRenew` decision on a Lease read at `now` (the candidate's clock):
/// updates `observed` when the Lease changed, and says what to write.
pub fn decide(
    current: Option<&LeaseSpec>,
    observed: &mut Observation,
    identity: &str,
    now: Timestamp,
    config: &LeaderElectionConfig,
) -> Decision {
    let ours = |acquire: Timestamp, transitions: i32, base: Option<&LeaseSpec>| LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(config.lease_duration_seconds()),
        acquire_time: Some(MicroTime(acquire)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        strategy: base.and_then(|b| b.strategy.clone()),
        preferred_holder: base.and_then(|b| b.preferred_holder.clone()),
    };
    let Some(cur) = current else {
        return Decision::Create(ours(now, 0, None));
    };
    if observed.record.as_ref() != Some(cur) {
        observed.record = Some(cur.clone());
        observed.at = Some(now);
    }
    let holder = cur.holder_identity.as_deref().unwrap_or("");
    let valid_ms = cur
        .lease_duration_seconds
        .filter(|s| *s > 0)
        .map(|s| i64::from(s) * 1000)
        .unwrap_or(config.lease_duration.as_millis() as i64);
    let seen_at = observed.at.unwrap_or(now);
    let still_valid = now.as_millisecond() - seen_at.as_millisecond() < valid_ms;
    if !holder.is_empty() && holder != identity && still_valid {
        return Decision::HeldBy(holder.to_string());
    }
    let transitions = cur.lease_transitions.unwrap_or(0);
    if holder == identity {
        let acquired = cur.acquire_time.as_ref().map(|t| t.0).unwrap_or(now);
        Decision::Update(ours(acquired, transitions, Some(cur)))
    } else {
        Decision::Update(ours(now, transitions.saturating_add(1), Some(cur)))
    }
}

/// The result of one attempt to acquire or renew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// This candidate holds the Lease.
    Leading,
    /// Another candidate does.
    HeldBy(String),
    /// The API call failed (or another write won the race).
    Failed(String),
}

/// A candidate in the election for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    config: LeaderElectionConfig,
    observed: Observation,
    /// The Lease as this candidate last wrote it (for renewing without a GET).
    written: Option<Lease>,
    leading: tokio::sync::watch::Sender<bool>,
}

impl LeaderElector {
    /// A candidate `identity` (see [`new_identity`]) for the Lease `namespace/name`, with
    /// upstream's timings.
    pub fn new(client: Client, namespace: &str, name: &str, identity: impl Into<String>) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.into(),
            config: LeaderElectionConfig::default(),
            observed: Observation::default(),
            written: None,
            leading: tokio::sync::watch::channel(false).0,
        }
    }

    /// Other timings (tests).
    pub fn with_config(mut self, config: LeaderElectionConfig) -> Self {
        self.config = config;
        self
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this candidate leads, as it changes.
    pub fn leading(&self) -> tokio::sync::watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Whether the last Lease this candidate saw names it as holder.
    pub fn is_leader(&self) -> bool {
        self.observed
            .record
            .as_ref()
            .and_then(|r| r.holder_identity.as_deref())
            == Some(self.identity.as_str())
    }

    fn stored(&mut self, lease: Lease, now: Timestamp) {
        self.observed = Observation {
            record: lease.spec.clone(),
            at: Some(now),
        };
        self.written = Some(lease);
    }

    /// One attempt: reads the Lease and writes it when free, expired or ours.
    pub async fn try_acquire_or_renew(&mut self) -> Attempt {
        let now = Timestamp::now();
        // Fast path: the leader renews what it wrote last, without reading first.
        if self.is_leader()
            && let Some(mut lease) = self.written.clone()
        {
            let mut spec = lease.spec.clone().unwrap_or_default();
            spec.renew_time = Some(MicroTime(now));
            lease.spec = Some(spec);
            match self
                .api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
            {
                Ok(stored) => {
                    self.stored(stored, now);
                    return Attempt::Leading;
                }
                Err(e) => {
                    tracing::debug!(lease = %self.name, error = %e, "renewing without a read failed");
                    self.written = None;
                }
            }
        }
        let current = match self.api.get_opt(&self.name).await {
            Ok(c) => c,
            Err(e) => return Attempt::Failed(e.to_string()),
        };
        let empty = LeaseSpec::default();
        let spec = current.as_ref().map(|l| l.spec.as_ref().unwrap_or(&empty));
        let now = Timestamp::now();
        match decide(spec, &mut self.observed, &self.identity, now, &self.config) {
            Decision::HeldBy(holder) => {
                self.written = None;
                Attempt::HeldBy(holder)
            }
            Decision::Create(spec) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(self.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(stored) => {
                        self.stored(stored, now);
                        Attempt::Leading
                    }
                    Err(e) => Attempt::Failed(e.to_string()),
                }
            }
            Decision::Update(spec) => {
                let Some(mut lease) = current else {
                    return Attempt::Failed("lease vanished".into());
                };
                lease.spec = Some(spec);
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(stored) => {
                        self.stored(stored, now);
                        Attempt::Leading
                    }
                    Err(e) => Attempt::Failed(e.to_string()),
                }
            }
        }
    }

    /// Tries every retry period (with jitter) until this candidate leads.
    pub async fn acquire(&mut self) {
        let mut last_holder = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Attempt::Leading => return,
                Attempt::HeldBy(holder) => {
                    if holder != last_holder {
                        tracing::info!(lease = %format!("{}/{}", self.namespace, self.name), %holder, "lease held by another candidate");
                        last_holder = holder;
                    }
                }
                Attempt::Failed(e) => {
                    tracing::debug!(lease = %self.name, error = %e, "acquiring the lease failed");
                }
            }
            tokio::time::sleep(jittered(self.config.retry_period)).await;
        }
    }

    /// Renews every retry period; returns when leadership is lost (another holder, or no
    /// successful renewal within the renew deadline).
    pub async fn renew(&mut self) {
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            let deadline = Instant::now() + self.config.renew_deadline;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    tracing::warn!(lease = %self.name, "failed to renew the lease within the renew deadline");
                    return;
                }
                match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                    Ok(Attempt::Leading) => break,
                    Ok(Attempt::HeldBy(holder)) => {
                        tracing::warn!(lease = %self.name, %holder, "the lease was taken over");
                        return;
                    }
                    Ok(Attempt::Failed(e)) => {
                        tracing::debug!(lease = %self.name, error = %e, "renewing the lease failed");
                    }
                    Err(_) => continue,
                }
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(self.config.retry_period.min(left)).await;
            }
        }
    }

    /// Gives the Lease up (holder cleared, 1 s duration) if this candidate holds it.
    pub async fn release(&mut self) {
        if !self.is_leader() {
            return;
        }
        let Some(mut lease) = self.written.take() else {
            return;
        };
        let now = Timestamp::now();
        let transitions = lease.spec.as_ref().and_then(|s| s.lease_transitions);
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: transitions,
            ..Default::default()
        });
        if let Err(e) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::debug!(lease = %self.name, error = %e, "releasing the lease failed");
        }
        self.observed = Observation::default();
    }

    /// Runs `work()` while this candidate leads: campaigns, starts the work once leading, and
    /// drops it (which stops it) when leadership is lost, then campaigns again. When the work
    /// ends by itself, the Lease is released and `run` returns.
    pub async fn run<F, Fut>(mut self, mut work: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let lease = format!("{}/{}", self.namespace, self.name);
        loop {
            self.acquire().await;
            tracing::info!(%lease, identity = %self.identity, "successfully acquired lease");
            self.leading.send_replace(true);
            let lost = {
                let w = work();
                tokio::pin!(w);
                tokio::select! {
                    _ = &mut w => false,
                    _ = self.renew() => true,
                }
            };
            self.leading.send_replace(false);
            if !lost {
                self.release().await;
                return;
            }
            tracing::warn!(%lease, identity = %self.identity, "leader election lost; work stopped");
            self.written = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
            + SignedDuration::from_secs(secs)
    }

    fn apply(d: Decision) -> LeaseSpec {
        match d {
            Decision::Create(s) | Decision::Update(s) => s,
            Decision::HeldBy(h) => panic!("held by {h}"),
        }
    }

    #[test]
    fn identity_is_hostname_underscore_uuid() {
        let id = new_identity();
        let (host, uuid) = id.rsplit_once('_').unwrap_or_default();
        assert_eq!(host, hostname());
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(uuid.matches('-').count(), 4);
        assert_ne!(new_identity(), id);
    }

    #[test]
    fn upstream_timings() {
        let c = LeaderElectionConfig::default();
        assert_eq!(c.lease_duration_seconds(), 15);
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        let short = LeaderElectionConfig {
            lease_duration: Duration::from_millis(1500),
            ..c
        };
        assert_eq!(short.lease_duration_seconds(), 2);
        let p = Duration::from_secs(2);
        for _ in 0..100 {
            let j = jittered(p);
            assert!(j >= p && j <= p + p.mul_f64(JITTER_FACTOR), "{j:?}");
        }
    }

    /// Two candidates on a fake clock: creation, renewal, waiting out a live holder, takeover
    /// after the lease duration, transitions and acquire times.
    #[test]
    fn election_state_machine() {
        let config = LeaderElectionConfig::default();
        let (mut a, mut b) = (Observation::default(), Observation::default());

        // No Lease: A creates it.
        let lease = apply(decide(None, &mut a, "a", t(0), &config));
        assert_eq!(lease.holder_identity.as_deref(), Some("a"));
        assert_eq!(lease.lease_transitions, Some(0));
        assert_eq!(lease.lease_duration_seconds, Some(15));
        assert_eq!(lease.acquire_time, Some(MicroTime(t(0))));
        assert_eq!(lease.renew_time, Some(MicroTime(t(0))));
        a.record = Some(lease.clone());
        a.at = Some(t(0));

        // B sees a live holder and waits.
        assert_eq!(
            decide(Some(&lease), &mut b, "b", t(1), &config),
            Decision::HeldBy("a".into())
        );
        // A renews: acquire time and transitions kept.
        let lease = apply(decide(Some(&lease), &mut a, "a", t(2), &config));
        assert_eq!(lease.acquire_time, Some(MicroTime(t(0))));
        assert_eq!(lease.renew_time, Some(MicroTime(t(2))));
        assert_eq!(lease.lease_transitions, Some(0));
        a.record = Some(lease.clone());
        a.at = Some(t(2));

        // B sees the renewal (a change) at 3 s: valid until 18 s by B's clock, whatever
        // renewTime says.
        assert_eq!(
            decide(Some(&lease), &mut b, "b", t(3), &config),
            Decision::HeldBy("a".into())
        );
        assert_eq!(b.at, Some(t(3)));
        assert_eq!(
            decide(Some(&lease), &mut b, "b", t(17), &config),
            Decision::HeldBy("a".into())
        );
        // A stopped renewing: B takes over after the lease duration.
        let taken = apply(decide(Some(&lease), &mut b, "b", t(18), &config));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.acquire_time, Some(MicroTime(t(18))));

        // A comes back: the Lease changed, so it waits a full duration from now.
        assert_eq!(
            decide(Some(&taken), &mut a, "a", t(19), &config),
            Decision::HeldBy("b".into())
        );

        // A released Lease (empty holder) is free at once.
        let released = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(1),
            lease_transitions: Some(1),
            ..taken
        };
        let again = apply(decide(Some(&released), &mut a, "a", t(20), &config));
        assert_eq!(again.holder_identity.as_deref(), Some("a"));
        assert_eq!(again.lease_transitions, Some(2));
    }
}
