//! The string formats CRD schemas support (upstream strips every other format before
//! validating), with the checks of kube-openapi's `strfmt` registry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Upstream's format name normalization: dashes are dropped (`date-time` is `datetime`).
fn normalize(format: &str) -> String {
    format.replace('-', "")
}

/// Whether upstream validates `format` in CRD schemas (others are ignored).
pub(super) fn supported(format: &str) -> bool {
    matches!(
        normalize(format).as_str(),
        "bsonobjectid"
            | "uri"
            | "email"
            | "hostname"
            | "ipv4"
            | "ipv6"
            | "cidr"
            | "mac"
            | "uuid"
            | "uuid3"
            | "uuid4"
            | "uuid5"
            | "isbn"
            | "isbn10"
            | "isbn13"
            | "creditcard"
            | "ssn"
            | "hexcolor"
            | "rgbcolor"
            | "byte"
            | "password"
            | "date"
            | "duration"
            | "datetime"
    )
}

/// Whether `s` is valid for the (supported) `format`. Unsupported formats accept everything.
pub(super) fn check(format: &str, s: &str) -> bool {
    match normalize(format).as_str() {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => s.contains('.') && parse_ip(s).is_some(),
        "ipv6" => s.contains(':') && parse_ip(s).is_some(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => is_uuid(s, None),
        "uuid3" => is_uuid(s, Some(b'3')),
        "uuid4" => is_uuid(s, Some(b'4')),
        "uuid5" => is_uuid(s, Some(b'5')),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => is_ssn(s),
        "hexcolor" => is_hex_color(s),
        "rgbcolor" => is_rgb_color(s),
        "byte" => is_base64(s),
        "date" => is_date(s),
        "datetime" => is_date_time(s),
        "duration" => is_duration(s),
        _ => true,
    }
}

/// Go's `net.ParseIP`: dotted IPv4 (no leading zeros), IPv6 (also with an embedded IPv4), no
/// zones.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    if s.contains('%') {
        return None;
    }
    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// `net.ParseCIDR`.
fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Some(ip) = parse_ip(ip) else {
        return false;
    };
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if bits.len() > 1 && bits.starts_with('0') {
        return false;
    }
    let Ok(n) = bits.parse::<u32>() else {
        return false;
    };
    match ip {
        IpAddr::V4(_) => n <= 32,
        IpAddr::V6(_) => n <= 128,
    }
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `aa:bb:..`, `aa-bb-..` or `aabb.ccdd.eeff`.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let valid_count = |n: usize| n == 6 || n == 8 || n == 20;
    if s.len() < 14 {
        return false;
    }
    let bytes = s.as_bytes();
    if bytes.get(2) == Some(&b':') || bytes.get(2) == Some(&b'-') {
        let sep = if bytes[2] == b':' { ':' } else { '-' };
        let parts: Vec<&str> = s.split(sep).collect();
        valid_count(parts.len()) && parts.iter().all(|p| hex(p, 2))
    } else if bytes.get(4) == Some(&b'.') {
        let parts: Vec<&str> = s.split('.').collect();
        valid_count(parts.len() * 2) && parts.iter().all(|p| hex(p, 4))
    } else {
        false
    }
}

/// `(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?V[0-9a-f]{3}-?[89ab]?...$` for the UUID versions.
fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let compact: Vec<u8> = {
        // Dashes are optional, but only at the group boundaries.
        let groups = [8usize, 4, 4, 4, 12];
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(32);
        let mut i = 0;
        for (gi, len) in groups.iter().enumerate() {
            if gi > 0 && b.get(i) == Some(&b'-') {
                i += 1;
            }
            let Some(chunk) = b.get(i..i + len) else {
                return false;
            };
            out.extend_from_slice(chunk);
            i += len;
        }
        if i != b.len() {
            return false;
        }
        out
    };
    if !compact.iter().all(u8::is_ascii_hexdigit) {
        return false;
    }
    match version {
        None => true,
        Some(v) => {
            compact[12] == v
                && (v == b'3'
                    || matches!(compact[16].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b'))
        }
    }
}

fn isbn_digits(s: &str) -> String {
    s.chars().filter(|c| *c != '-' && *c != ' ').collect()
}

/// govalidator's `IsISBN10`: nine digits and a digit or `X`, with the checksum.
fn is_isbn10(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !(b[9].is_ascii_digit() || b[9] == b'X') {
        return false;
    }
    let mut sum: u32 = 0;
    for (i, c) in b[..9].iter().enumerate() {
        sum += (i as u32 + 1) * u32::from(c - b'0');
    }
    let last = if b[9] == b'X' {
        10
    } else {
        u32::from(b[9] - b'0')
    };
    sum += 10 * last;
    sum.is_multiple_of(11)
}

/// govalidator's `IsISBN13`.
fn is_isbn13(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: u32 = 0;
    for (i, c) in b[..12].iter().enumerate() {
        let w = if i % 2 == 0 { 1 } else { 3 };
        sum += w * u32::from(c - b'0');
    }
    (10 - sum % 10) % 10 == u32::from(b[12] - b'0')
}

/// govalidator's `IsCreditCard`: the known issuer prefixes and lengths, and the Luhn checksum,
/// on the digits of the string.
fn is_credit_card(s: &str) -> bool {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.is_empty()
        || s.chars()
            .any(|c| !c.is_ascii_digit() && c != ' ' && c != '-')
    {
        return false;
    }
    let n = d.len();
    let issuer_ok = (d.starts_with('4') && (n == 13 || n == 16))
        || (d.len() >= 2 && ("51"..="55").contains(&&d[..2]) && n == 16)
        || ((d.starts_with("6011") || d.starts_with("65")) && n == 16)
        || ((d.starts_with("34") || d.starts_with("37")) && n == 15)
        || ((d.starts_with("300")
            || d.starts_with("301")
            || d.starts_with("302")
            || d.starts_with("303")
            || d.starts_with("304")
            || d.starts_with("305")
            || d.starts_with("36")
            || d.starts_with("38"))
            && n == 14)
        || ((d.starts_with("2131") || d.starts_with("1800")) && n == 15)
        || (d.starts_with("35") && n == 16);
    if !issuer_ok {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in d.bytes().rev().enumerate() {
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// govalidator's `IsSSN`: eleven characters, `^\d{3}[- ]?\d{2}[- ]?\d{4}$`.
fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b[3], b'-' | b' ')
        && b[4..6].iter().all(u8::is_ascii_digit)
        && matches!(b[6], b'-' | b' ')
        && b[7..].iter().all(u8::is_ascii_digit)
}

/// `^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`.
fn is_hex_color(s: &str) -> bool {
    let h = s.strip_prefix('#').unwrap_or(s);
    (h.len() == 3 || h.len() == 6) && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `rgb(r, g, b)` with components 0..=255 without leading zeros.
fn is_rgb_color(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let parts: Vec<&str> = inner.split(',').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            let p = p.trim_matches(|c: char| c.is_ascii_whitespace());
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
                && p.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

/// govalidator's `IsBase64`: standard alphabet, padded, in blocks of four.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let alpha = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let body_len = b.len().saturating_sub(4);
    if !b[..body_len].iter().all(|&c| alpha(c)) {
        return false;
    }
    match &b[body_len..] {
        [] => true,
        [a, b2, b'=', b'='] => alpha(*a) && alpha(*b2),
        [a, b2, c, b'='] => alpha(*a) && alpha(*b2) && alpha(*c),
        [a, b2, c, d] => alpha(*a) && alpha(*b2) && alpha(*c) && alpha(*d),
        _ => false,
    }
}

/// Go's `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// strfmt's `IsDateTime`: a date, `t`, then `HH:MM:SS[.frac](z|±HH:MM)` (case-insensitive).
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let t = parts[1].as_bytes();
    let two = |i: usize| {
        t.get(i..i + 2)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if t.len() < 9 || !two(0) || t[2] != b':' || !two(3) || t[5] != b':' || !two(6) {
        return false;
    }
    if &t[0..2] > b"23".as_slice() || &t[3..5] > b"59".as_slice() || &t[6..8] > b"59".as_slice() {
        return false;
    }
    let mut rest = &t[8..];
    // `(.[0-9]+)?`: any one character followed by digits.
    if rest.len() >= 2
        && rest[1].is_ascii_digit()
        && rest[0] != b'z'
        && rest[0] != b'+'
        && rest[0] != b'-'
    {
        let mut i = 1;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
        }
        rest = &rest[i..];
    }
    match rest {
        b"z" => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// strfmt's `IsDuration`: Go's `time.ParseDuration`, or any `<n><unit>` pair with units such as
/// `ns`, `ms`, `s`, `sec`, `m`, `min`, `h`, `hour`, `d`, `day`, `w`, `week`.
fn is_duration(s: &str) -> bool {
    go_parse_duration(s) || lenient_duration(s)
}

fn go_parse_duration(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = i - start;
        let mut frac_digits = 0;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fs = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = i - fs;
        }
        if int_digits == 0 && frac_digits == 0 {
            return false;
        }
        let us = i;
        while i < b.len() && !b[i].is_ascii_digit() && b[i] != b'.' {
            i += 1;
        }
        let unit = &s[us..i];
        if !matches!(unit, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h") {
            return false;
        }
    }
    true
}

fn lenient_duration(s: &str) -> bool {
    const UNITS: [&[&str]; 8] = [
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut ok = false;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let us = i;
        while i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == 'µ') {
            i += 1;
        }
        if us == i {
            continue;
        }
        let unit: String = chars[us..i].iter().collect::<String>().to_lowercase();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (vi, v) in variants.iter().enumerate() {
                if (vi == last && unit.starts_with(v)) || unit == *v {
                    ok = true;
                }
            }
        }
    }
    ok
}

fn is_label_char(c: char) -> bool {
    c.is_alphanumeric() || (!c.is_ascii() && !c.is_whitespace() && !c.is_control())
}

/// strfmt's `IsHostname`: dot-separated labels of letters, digits, symbols and inner dashes,
/// a last label of at least two characters, at most 255 bytes and 63 bytes per label.
fn is_hostname(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.iter().any(|l| l.len() > 63) {
        return false;
    }
    let inner_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| is_label_char(c) || c == '-')
            && l.starts_with(is_label_char)
    };
    if labels.len() == 1 {
        // `x(-?x{0,62})?`
        let l = labels[0];
        let rest: Vec<char> = l.chars().skip(1).collect();
        let rest = match rest.first() {
            Some('-') => &rest[1..],
            _ => &rest[..],
        };
        return l.starts_with(is_label_char) && rest.iter().all(|c| is_label_char(*c));
    }
    let (last, init) = match labels.split_last() {
        Some(x) => x,
        None => return false,
    };
    init.iter()
        .all(|l| inner_ok(l) && l.ends_with(is_label_char))
        && last.chars().count() >= 2
        && last.starts_with(is_label_char)
        && last.ends_with(is_label_char)
        && !last.contains("--")
        && last.chars().all(|c| is_label_char(c) || c == '-')
}

/// `net/mail.ParseAddress` (simplified): `local@domain`, optionally as `Name <local@domain>`.
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(i), Some(_)) => &s[i + 1..s.len() - 1],
        _ => s,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    !local.is_empty()
        && !domain.is_empty()
        && (local.chars().all(atext)
            || (local.starts_with('"') && local.ends_with('"') && local.len() >= 2))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && (domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
            || (domain.starts_with('[') && domain.ends_with(']')))
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// govalidator's `IsRequestURI` (`url.ParseRequestURI`): an absolute URI or an absolute path,
/// without spaces or control characters and with valid percent escapes.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(check("date-time", "2024-01-02T03:04:05Z"));
        assert!(check("date-time", "2024-01-02T03:04:05.123+01:00"));
        assert!(!check("date-time", "2024-01-02 03:04:05"));
        assert!(!check("date-time", "2024-13-02T03:04:05Z"));
        assert!(check("date", "2024-02-29"));
        assert!(!check("date", "2023-02-29"));
        assert!(check("duration", "1h30m"));
        assert!(check("duration", "3 days"));
        assert!(!check("duration", "soon"));
        assert!(check("ipv4", "10.0.0.1"));
        assert!(!check("ipv4", "10.0.0.01"));
        assert!(check("ipv6", "::1"));
        assert!(check("cidr", "10.0.0.0/8"));
        assert!(!check("cidr", "10.0.0.0/33"));
        assert!(check("mac", "00:00:5e:00:53:01"));
        assert!(check("uuid", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(check("uuid4", "123e4567-e89b-42d3-a456-426614174000"));
        assert!(!check("uuid4", "123e4567-e89b-12d3-a456-426614174000"));
        assert!(check("byte", "aGVsbG8="));
        assert!(!check("byte", "hello"));
        assert!(check("hostname", "example.com"));
        assert!(!check("hostname", "-bad.com"));
        assert!(check("email", "a@example.com"));
        assert!(!check("email", "nope"));
        assert!(check("uri", "https://example.com/x"));
        assert!(!check("uri", "example"));
        assert!(check("isbn10", "0321751043"));
        assert!(check("isbn13", "978-0321751041"));
        assert!(check("creditcard", "4111 1111 1111 1111"));
        assert!(check("ssn", "123-45-6789"));
        assert!(check("hexcolor", "#fff"));
        assert!(check("rgbcolor", "rgb(255, 0, 10)"));
        assert!(check("bsonobjectid", "507f1f77bcf86cd799439011"));
        assert!(supported("date-time") && !supported("int-or-string") && !supported("int32"));
    }
}
