//! The default `imagePullPolicy` of an image reference, as upstream's `SetDefaults_Container`
//! computes it: the reference is parsed like the container runtime's normalized names
//! (`docker.io/library/` added to bare names); `Always` when its tag is `latest`, or when it has
//! neither a tag nor a digest (the tag is then implicitly `latest`); `IfNotPresent` otherwise,
//! including for references that do not parse.

/// Longest repository name (domain and path) a reference may have.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The default pull policy of `image`.
pub(super) fn default_pull_policy(image: &str) -> &'static str {
    match parse_tag(image) {
        Some("latest") => "Always",
        _ => "IfNotPresent",
    }
}

/// The effective tag of a reference (`latest` when it has neither tag nor digest, `""` when it
/// only has a digest); `None` when the reference is invalid.
fn parse_tag(image: &str) -> Option<&str> {
    if image.len() == 64
        && image
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None; // a bare image ID is not a repository name
    }
    let (named, digest) = match image.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !valid_digest(d)
    {
        return None;
    }
    // A tag follows the last ':' when no '/' comes after it (else the ':' is a registry port).
    let (name, tag) = match named.rfind(':') {
        Some(i) if !named[i + 1..].contains('/') => (&named[..i], Some(&named[i + 1..])),
        _ => (named, None),
    };
    if let Some(t) = tag
        && !valid_tag(t)
    {
        return None;
    }
    let (domain, path) = split_domain(name);
    if path.to_lowercase() != path {
        return None; // repository names must be lowercase
    }
    if let Some(d) = domain
        && !valid_domain(d)
    {
        return None;
    }
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return None;
    }
    let normalized_len = match domain {
        Some(d) => d.len() + 1 + path.len(),
        // docker.io/ plus library/ for official images.
        None if path.contains('/') => "docker.io/".len() + path.len(),
        None => "docker.io/library/".len() + path.len(),
    };
    if normalized_len > NAME_TOTAL_LENGTH_MAX {
        return None;
    }
    match (tag, digest) {
        (Some(t), _) => Some(t),
        (None, Some(_)) => Some(""),
        (None, None) => Some("latest"),
    }
}

/// Splits off a registry: the first path segment is one when it contains `.` or `:`, is
/// `localhost`, or has upper-case letters.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host[:port]`, the host being dot-separated components or a bracketed IPv6 address.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("[v6]", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    host == "[v6]"
        || host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        })
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// A digest of an algorithm the runtime knows, with an encoding of the right length.
fn valid_digest(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies() {
        let sha = format!("sha256:{}", "a".repeat(64));
        let cases: Vec<(String, &str)> = vec![
            ("nginx".into(), "Always"),
            ("nginx:latest".into(), "Always"),
            ("nginx:1.7.9".into(), "IfNotPresent"),
            ("library/nginx".into(), "Always"),
            ("docker.io/library/nginx:1.25".into(), "IfNotPresent"),
            ("registry.k8s.io/pause:3.9".into(), "IfNotPresent"),
            ("localhost:5000/app".into(), "Always"),
            ("localhost:5000/app:v1".into(), "IfNotPresent"),
            ("localhost:5000".into(), "IfNotPresent"), // name localhost, tag 5000
            ("[::1]:5000/app:latest".into(), "Always"),
            ("my_repo/some-app__x".into(), "Always"),
            (format!("nginx@{sha}"), "IfNotPresent"),
            (format!("nginx:latest@{sha}"), "Always"),
            (format!("nginx:1.0@{sha}"), "IfNotPresent"),
            ("nginx@sha256:abc".into(), "IfNotPresent"),
            ("".into(), "IfNotPresent"),
            ("NGINX".into(), "IfNotPresent"),
            ("Registry.Example.com/app".into(), "Always"),
            ("nginx:".into(), "IfNotPresent"),
            ("nginx:-x".into(), "IfNotPresent"),
            ("-nginx".into(), "IfNotPresent"),
            ("a//b".into(), "IfNotPresent"),
            ("a b".into(), "IfNotPresent"),
            ("a".repeat(64), "IfNotPresent"),
            ("a".repeat(300), "IfNotPresent"),
            ("ubuntu:LATEST".into(), "IfNotPresent"),
            ("ngïnx".into(), "IfNotPresent"),
            ("é/é:é".into(), "IfNotPresent"),
            ("a-é-b".into(), "IfNotPresent"),
            ("a@b@c".into(), "IfNotPresent"),
            ("[::1/app".into(), "IfNotPresent"),
            (":latest".into(), "IfNotPresent"),
            ("/".into(), "IfNotPresent"),
        ];
        for (image, want) in cases {
            assert_eq!(default_pull_policy(&image), want, "{image}");
        }
    }
}
