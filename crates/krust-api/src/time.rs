//! Timestamps as Kubernetes writes them (RFC 3339, seconds or microseconds) and the
//! human-readable ages `kubectl get` prints.

use jiff::Timestamp;

/// Now, at second precision: `2026-11-29T23:20:56Z` (metav1.Time).
pub fn now_rfc3339() -> String {
    format_seconds(Timestamp::now())
}

/// Now, at microsecond precision: `2026-11-29T23:20:56.123456Z` (metav1.MicroTime).
pub fn now_micro() -> String {
    Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// A timestamp at second precision.
pub fn format_seconds(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `now + seconds` at second precision.
pub fn rfc3339_after(seconds: i64) -> String {
    let now = Timestamp::now().as_second();
    Timestamp::from_second(now.saturating_add(seconds))
        .map(format_seconds)
        .unwrap_or_else(|_| now_rfc3339())
}

/// Parses an RFC 3339 timestamp.
pub fn parse(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

/// Seconds elapsed since an RFC 3339 timestamp.
pub fn seconds_since(s: &str) -> Option<i64> {
    let t = parse(s)?;
    Some(Timestamp::now().as_second() - t.as_second())
}

/// Age of a timestamp as `kubectl get` prints it (`translateTimestampSince`): `<unknown>` when
/// absent or unparsable.
pub fn age(ts: Option<&str>) -> String {
    match ts.and_then(seconds_since) {
        Some(s) => human_duration(s),
        None => "<unknown>".into(),
    }
}

/// upstream's `duration.HumanDuration` on whole seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human() {
        assert_eq!(human_duration(4), "4s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d1h");
        assert_eq!(age(None), "<unknown>");
        let now = now_rfc3339();
        assert!(now.ends_with('Z') && now.len() == 20, "{now}");
        assert!(seconds_since(&now).unwrap().abs() <= 1);
        assert!(now_micro().len() == 27);
    }
}
