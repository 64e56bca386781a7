//! Upstream's `flowcontrol.Backoff` as the kubelet uses it for crash loops and image pulls:
//! per key, a delay that starts at 10 s and doubles on every failure up to 5 minutes, and
//! starts over once the key has been quiet for twice the maximum (10 minutes).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// First delay (upstream's `backOffPeriod`).
pub const INITIAL: Duration = Duration::from_secs(10);
/// Longest delay (upstream's `MaxContainerBackOff`).
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Instant,
}

/// Delays per key.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL, MAX)
    }
}

impl Backoff {
    /// A backoff starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// Records a failure of `key` at `now`: the first one (or the first after a quiet period of
    /// twice the maximum) sets the delay to the initial one, later ones double it.
    pub fn next(&mut self, key: &str, now: Instant) {
        let (initial, max) = (self.initial, self.max);
        match self.entries.get_mut(key) {
            Some(e) if now.saturating_duration_since(e.last_update) <= 2 * max => {
                e.delay = (e.delay * 2).min(max);
                e.last_update = now;
            }
            _ => {
                self.entries.insert(
                    key.to_string(),
                    Entry {
                        delay: initial,
                        last_update: now,
                    },
                );
            }
        }
    }

    /// The current delay of `key` (zero when it has none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.delay)
    }

    /// Whether `key` is still backing off at `now`, counting from `since` (upstream's
    /// `IsInBackOffSince`: the failure's time, e.g. the container's finish).
    pub fn in_backoff_since(&self, key: &str, since: Instant, now: Instant) -> bool {
        match self.entries.get(key) {
            None => false,
            Some(e) if now.saturating_duration_since(e.last_update) > 2 * self.max => false,
            Some(e) => now.saturating_duration_since(since) < e.delay,
        }
    }

    /// Time left before `key` may be tried again, counting from `since`.
    pub fn remaining(&self, key: &str, since: Instant, now: Instant) -> Duration {
        if !self.in_backoff_since(key, since, now) {
            return Duration::ZERO;
        }
        self.get(key)
            .saturating_sub(now.saturating_duration_since(since))
    }

    /// Whether `key` is backing off at `now`, counting from its last failure (upstream's
    /// `IsInBackOffSinceUpdate`).
    pub fn in_backoff_since_update(&self, key: &str, now: Instant) -> bool {
        match self.entries.get(key) {
            None => false,
            Some(e) if now.saturating_duration_since(e.last_update) > 2 * self.max => false,
            Some(e) => now.saturating_duration_since(e.last_update) < e.delay,
        }
    }

    /// Time left before `key` may be tried again, counting from its last failure.
    pub fn remaining_since_update(&self, key: &str, now: Instant) -> Duration {
        match self.entries.get(key) {
            Some(e) if self.in_backoff_since_update(key, now) => e
                .delay
                .saturating_sub(now.saturating_duration_since(e.last_update)),
            _ => Duration::ZERO,
        }
    }

    /// Forgets `key`.
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets keys quiet for more than twice the maximum.
    pub fn gc(&mut self, now: Instant) {
        let max = self.max;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last_update) <= 2 * max);
    }
}

/// A duration as Go's `time.Duration.String()` prints whole seconds (`10s`, `1m20s`, `5m0s`).
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h{}m{}s", secs / 3600, (secs % 3600) / 60, secs % 60)
    } else if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else if d.subsec_millis() > 0 {
        format!("{}.{:03}s", secs, d.subsec_millis()).replace(".000", "")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.500s");
        let mut b = Backoff::default();
        let t = Instant::now();
        b.next("k", t);
        assert!(b.in_backoff_since_update("k", t + Duration::from_secs(5)));
        assert_eq!(
            b.remaining_since_update("k", t + Duration::from_secs(4)),
            Duration::from_secs(6)
        );
        assert!(!b.in_backoff_since_update("k", t + Duration::from_secs(10)));
    }

    #[test]
    fn doubles_up_to_the_maximum_and_resets_after_quiet() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        assert!(!b.in_backoff_since("c", t0, t0));
        b.next("c", t0);
        assert_eq!(b.get("c"), Duration::from_secs(10));
        assert!(b.in_backoff_since("c", t0, t0 + Duration::from_secs(9)));
        assert!(!b.in_backoff_since("c", t0, t0 + Duration::from_secs(10)));
        let mut t = t0;
        let mut seen = Vec::new();
        for _ in 0..7 {
            t += Duration::from_secs(1);
            b.next("c", t);
            seen.push(b.get("c").as_secs());
        }
        assert_eq!(seen, vec![20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(
            b.remaining("c", t, t + Duration::from_secs(100)),
            Duration::from_secs(200)
        );
        // Ten minutes of quiet start the sequence over.
        let later = t + Duration::from_secs(601);
        assert!(!b.in_backoff_since("c", later, later));
        b.next("c", later);
        assert_eq!(b.get("c"), Duration::from_secs(10));
        b.gc(later + Duration::from_secs(601));
        assert_eq!(b.get("c"), Duration::ZERO);
        b.next("d", later);
        b.reset("d");
        assert_eq!(b.get("d"), Duration::ZERO);
    }
}
