//! Container logs from the CRI log files containerd writes (one record per line:
//! `<RFC3339Nano> <stdout|stderr> <F|P> <message>`, `P` for a partial line continued by the
//! next record), as upstream's kubelet serves them: `tailLines`, `sinceSeconds`/`sinceTime`,
//! `timestamps`, `limitBytes`, and `follow` (new records streamed as they are written until
//! the container stops).

use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

/// How often a followed file is checked for new data.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What the client asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub tail_lines: Option<u64>,
    pub since: Option<Timestamp>,
    pub timestamps: bool,
    pub limit_bytes: Option<u64>,
    pub previous: bool,
}

/// A bad query parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct BadOption(pub String);

impl LogOptions {
    /// Parses upstream's query parameters (`follow`, `tailLines`, `sinceSeconds`,
    /// `sinceTime`, `timestamps`, `limitBytes`, `previous`).
    pub fn from_query(pairs: &[(String, String)], now: Timestamp) -> Result<LogOptions, BadOption> {
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let flag = |k: &str| matches!(get(k), Some("true" | "1" | "True" | "TRUE"));
        let num = |k: &str| -> Result<Option<i64>, BadOption> {
            match get(k) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| BadOption(format!("invalid {k} {v:?}: not an integer"))),
            }
        };
        let tail_lines = match num("tailLines")? {
            Some(n) if n < 0 => None,
            other => other.map(|n| n as u64),
        };
        let limit_bytes = match num("limitBytes")? {
            Some(n) if n < 1 => {
                return Err(BadOption("limitBytes must be greater than zero".into()));
            }
            other => other.map(|n| n as u64),
        };
        let since = match (
            num("sinceSeconds")?,
            get("sinceTime").filter(|s| !s.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                return Err(BadOption(
                    "at most one of sinceTime or sinceSeconds may be specified".into(),
                ));
            }
            (Some(s), None) => {
                if s < 1 {
                    return Err(BadOption("sinceSeconds must be greater than 0".into()));
                }
                let span = k8s_openapi::jiff::SignedDuration::from_secs(s);
                Some(now.checked_sub(span).unwrap_or(Timestamp::UNIX_EPOCH))
            }
            (None, Some(t)) => Some(
                t.parse::<Timestamp>()
                    .map_err(|e| BadOption(format!("invalid sinceTime {t:?}: {e}")))?,
            ),
            (None, None) => None,
        };
        Ok(LogOptions {
            follow: flag("follow"),
            tail_lines,
            since,
            timestamps: flag("timestamps"),
            limit_bytes,
            previous: flag("previous"),
        })
    }
}

/// One record of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    /// The message, without the line's newline.
    pub message: &'a [u8],
}

/// Parses one line (with or without its trailing newline).
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let tag = parts.next()?;
    // The tag may carry more, colon-separated (`F:x`); its first part decides.
    let partial = match tag.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return None,
    };
    let message = parts.next().unwrap_or(b"");
    Some(Record {
        time,
        stream,
        partial,
        message,
    })
}

/// How a record is written out: the optional timestamp, the message, and a newline unless
/// the record is partial.
pub fn format_record(rec: &Record<'_>, timestamps: bool, out: &mut Vec<u8>) {
    if timestamps {
        out.extend_from_slice(rec.time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(rec.message);
    if !rec.partial {
        out.push(b'\n');
    }
}

/// The record passes the `since` filter.
fn after_since(rec: &Record<'_>, since: Option<Timestamp>) -> bool {
    match since {
        None => true,
        Some(s) => rec
            .time
            .parse::<Timestamp>()
            .map(|t| t >= s)
            .unwrap_or(true),
    }
}

/// The byte offset where the last `n` lines of the file start.
pub async fn tail_offset(file: &mut tokio::fs::File, n: u64) -> std::io::Result<u64> {
    let len = file.seek(SeekFrom::End(0)).await?;
    if n == 0 {
        return Ok(len);
    }
    let mut pos = len;
    let mut newlines = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    // A final newline ends the last line; it does not start a new one.
    let mut skip_last = true;
    while pos > 0 {
        let size = (pos.min(buf.len() as u64)) as usize;
        pos -= size as u64;
        file.seek(SeekFrom::Start(pos)).await?;
        file.read_exact(&mut buf[..size]).await?;
        for i in (0..size).rev() {
            if buf[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
        skip_last = false;
    }
    Ok(0)
}

/// Whether the container still runs (asked while following).
pub type StillRunning = Box<dyn Fn() -> futures::future::BoxFuture<'static, bool> + Send + Sync>;

/// Streams the log file at `path` into `tx` as `opts` says. Returns when done, when the
/// receiver is gone, or (following) when `running` says the container stopped and the file
/// has no more data.
pub async fn stream_file(
    path: PathBuf,
    opts: LogOptions,
    tx: mpsc::Sender<Bytes>,
    running: Option<StillRunning>,
) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(&path).await?;
    let start = match opts.tail_lines {
        Some(n) => tail_offset(&mut file, n).await?,
        None => 0,
    };
    file.seek(SeekFrom::Start(start)).await?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut remaining = opts.limit_bytes;
    let mut line = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut last_check = tokio::time::Instant::now();
    let mut stopped = false;
    loop {
        let n = reader.read_until(b'\n', &mut line).await?;
        let complete = line.ends_with(b"\n");
        if n > 0 && complete {
            if let Some(rec) = parse_record(&line)
                && after_since(&rec, opts.since)
            {
                format_record(&rec, opts.timestamps, &mut out);
            }
            line.clear();
            if out.len() < 32 * 1024 {
                continue;
            }
        }
        // Flush what we have.
        if !out.is_empty() {
            let mut chunk = std::mem::take(&mut out);
            let mut done = false;
            if let Some(left) = remaining.as_mut() {
                if chunk.len() as u64 >= *left {
                    chunk.truncate(*left as usize);
                    done = true;
                }
                *left -= chunk.len() as u64;
            }
            if tx.send(Bytes::from(chunk)).await.is_err() || done {
                return Ok(());
            }
            out = Vec::with_capacity(64 * 1024);
        }
        if n > 0 && complete {
            continue;
        }
        // At the end of the file (possibly with a partial line pending).
        if !opts.follow || stopped {
            return Ok(());
        }
        if let Some(running) = &running
            && last_check.elapsed() >= Duration::from_secs(1)
        {
            last_check = tokio::time::Instant::now();
            if !running().await {
                // One more pass to pick up what was written before it stopped.
                stopped = true;
                continue;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Ok(()),
        }
        // Truncated (or replaced) under us: start over.
        if let Ok(meta) = tokio::fs::metadata(&path).await {
            let pos = reader.stream_position().await?;
            if meta.len() < pos {
                reader.seek(SeekFrom::Start(0)).await?;
                line.clear();
            }
        }
    }
}

/// `GET /containerLogs/{ns}/{pod}/{container}`.
pub async fn serve(
    h: &super::Handler,
    req: &http::Request<hyper::body::Incoming>,
    ns: &str,
    pod: &str,
    container: &str,
) -> http::Response<super::Body> {
    let pairs = super::query_pairs(req.uri().query());
    let opts = match LogOptions::from_query(&pairs, Timestamp::now()) {
        Ok(o) => o,
        Err(e) => return super::text(400, e.0),
    };
    let c = match h.find_container(ns, pod, container, opts.previous).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if c.log_path.is_empty() {
        return super::text(500, format!("container \"{container}\" has no log file"));
    }
    let path = PathBuf::from(&c.log_path);
    if !path.exists() {
        return super::streaming_text(mpsc::channel(1).1);
    }
    let running: Option<StillRunning> = if opts.follow && !opts.previous {
        let cri = h.cri.clone();
        let id = c.status.id.clone();
        Some(Box::new(move || {
            let cri = cri.clone();
            let id = id.clone();
            Box::pin(async move {
                match cri.container_status(&id).await {
                    Ok(st) => {
                        crate::cri::container_state(st.state)
                            == k8s_cri::v1::ContainerState::ContainerRunning
                    }
                    Err(_) => false,
                }
            })
        }))
    } else {
        None
    };
    let opts = LogOptions {
        follow: opts.follow && !opts.previous,
        ..opts
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        if let Err(e) = stream_file(path, opts, tx, running).await {
            tracing::debug!(error = %e, "streaming a container log failed");
        }
    });
    super::streaming_text(rx)
}

/// Reads a whole log (no follow) into memory: for tests and small answers.
pub async fn read_all(path: &Path, opts: LogOptions) -> std::io::Result<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel(16);
    let path = path.to_path_buf();
    let task = tokio::spawn(stream_file(
        path,
        LogOptions {
            follow: false,
            ..opts
        },
        tx,
        None,
    ));
    let mut out = Vec::new();
    while let Some(b) = rx.recv().await {
        out.extend_from_slice(&b);
    }
    task.await.map_err(std::io::Error::other)??;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2024-01-01T00:00:01.5Z stdout F one\n\
2024-01-01T00:00:02Z stderr F two\n\
2024-01-01T00:00:03.123456789Z stdout P thr\n\
2024-01-01T00:00:03.2Z stdout F ee\n\
garbage line\n\
2024-01-01T00:00:04Z stdout F \n\
2024-01-01T00:00:05Z stdout F five words here\n";

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn now() -> Timestamp {
        "2024-01-01T00:00:06Z".parse().unwrap()
    }

    #[test]
    fn parses_records() {
        let r = parse_record(b"2024-01-01T00:00:01Z stdout F hello world\n").unwrap();
        assert_eq!(r.time, "2024-01-01T00:00:01Z");
        assert_eq!(r.stream, "stdout");
        assert!(!r.partial);
        assert_eq!(r.message, b"hello world");
        let r = parse_record(b"t stderr P part").unwrap();
        assert!(r.partial);
        assert_eq!(parse_record(b"t stdout F").unwrap().message, b"");
        assert!(parse_record(b"t stdin F x").is_none());
        assert!(parse_record(b"t stdout X x").is_none());
        assert!(parse_record(b"").is_none());
        assert!(parse_record(&[0xff, b' ', b's']).is_none());
    }

    #[test]
    fn parses_options() {
        let o = LogOptions::from_query(
            &q(&[
                ("follow", "true"),
                ("tailLines", "5"),
                ("timestamps", "true"),
                ("sinceSeconds", "2"),
            ]),
            now(),
        )
        .unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(5));
        assert_eq!(o.since, Some("2024-01-01T00:00:04Z".parse().unwrap()));
        assert!(
            LogOptions::from_query(
                &q(&[("sinceSeconds", "1"), ("sinceTime", "2024-01-01T00:00:00Z")]),
                now()
            )
            .is_err()
        );
        assert!(LogOptions::from_query(&q(&[("limitBytes", "0")]), now()).is_err());
        assert!(LogOptions::from_query(&q(&[("tailLines", "x")]), now()).is_err());
        assert_eq!(
            LogOptions::from_query(&q(&[("tailLines", "-1")]), now())
                .unwrap()
                .tail_lines,
            None
        );
    }

    async fn read(opts: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, LOG).unwrap();
        let opts = LogOptions::from_query(&q(opts), now()).unwrap();
        String::from_utf8(read_all(&path, opts).await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn reads_joins_partials_and_skips_garbage() {
        assert_eq!(read(&[]).await, "one\ntwo\nthree\n\nfive words here\n");
    }

    #[tokio::test]
    async fn tails_lines() {
        assert_eq!(read(&[("tailLines", "2")]).await, "\nfive words here\n");
        assert_eq!(read(&[("tailLines", "0")]).await, "");
        assert_eq!(
            read(&[("tailLines", "100")]).await,
            "one\ntwo\nthree\n\nfive words here\n"
        );
    }

    #[tokio::test]
    async fn timestamps_since_and_limits() {
        assert_eq!(
            read(&[
                ("timestamps", "true"),
                ("sinceTime", "2024-01-01T00:00:03.2Z")
            ])
            .await,
            "2024-01-01T00:00:03.2Z ee\n2024-01-01T00:00:04Z \n2024-01-01T00:00:05Z five words here\n"
        );
        assert_eq!(read(&[("sinceSeconds", "2")]).await, "\nfive words here\n");
        assert_eq!(read(&[("limitBytes", "6")]).await, "one\ntw");
    }

    #[tokio::test]
    async fn follows_new_lines_and_ends_when_the_container_stops() {
        use std::io::Write;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, "2024-01-01T00:00:01Z stdout F first\n").unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let a = alive.clone();
        let running: StillRunning = Box::new(move || {
            let a = a.clone();
            Box::pin(async move { a.load(Ordering::SeqCst) })
        });
        let (tx, mut rx) = mpsc::channel(16);
        let opts = LogOptions {
            follow: true,
            ..Default::default()
        };
        let task = tokio::spawn(stream_file(path.clone(), opts, tx, Some(running)));
        assert_eq!(&rx.recv().await.unwrap()[..], b"first\n");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        // A line written in two pieces comes out once complete.
        f.write_all(b"2024-01-01T00:00:02Z stdout F sec").unwrap();
        f.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        f.write_all(b"ond\n").unwrap();
        f.flush().unwrap();
        assert_eq!(&rx.recv().await.unwrap()[..], b"second\n");
        f.write_all(b"2024-01-01T00:00:03Z stdout F last\n")
            .unwrap();
        alive.store(false, Ordering::SeqCst);
        let mut rest = Vec::new();
        while let Some(b) = rx.recv().await {
            rest.extend_from_slice(&b);
        }
        assert_eq!(rest, b"last\n");
        task.await.unwrap().unwrap();
    }
}
