//! Images without a registry: importing OCI-layout and docker archives into containerd's `k8s.io`
//! namespace (the one CRI reads) with `ctr images import`, unpacked for the snapshotter CRI uses,
//! so pods can run them at once; the k3s air-gap convention of importing every archive found in
//! `<data-dir>/agent/images/` at agent start (each file only once: a small state file next to
//! the containerd socket remembers size and mtime); and listing what is there.
//!
//! Archives may be plain tars or gzip-compressed (`.tar.gz`, decompressed through `gzip -dc`,
//! since containerd 1.6's `ctr` only reads plain tars). `ctr` runs on a blocking thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::UNIX_EPOCH;

use crate::containerd::{CRI_NAMESPACE, SNAPSHOTTER};

/// The state file of [`import_dir`], beside the containerd socket.
const STATE_FILE: &str = "imported-images.json";

/// Failures importing or listing images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot run {program}: {source} (run scripts/install-deps.sh)")]
    Spawn {
        program: &'static str,
        source: io::Error,
    },
    #[error("containerd is not running at {0} (start `krust server` or `krust agent` first)")]
    NotRunning(PathBuf),
    #[error("importing {path} failed: {message}")]
    Import { path: PathBuf, message: String },
    #[error("{path} holds no named image (its index.json needs io.containerd.image.name)")]
    NoNames { path: PathBuf },
    #[error("`ctr {args}` failed: {message}")]
    Ctr { args: String, message: String },
    #[error("blocking task failed: {0}")]
    Join(String),
}

/// An image as CRI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The reference, e.g. `docker.io/library/nginx:1.7.9`.
    pub name: String,
    /// The image ID (digest of its config), as `crictl images` and pod statuses show it.
    pub id: String,
    /// Bytes of manifest, config and (compressed) layers, as CRI reports an image's size.
    pub size: u64,
    /// Digest of the manifest (or index) the name points at.
    pub digest: String,
}

/// What [`import_dir`] did, file by file.
#[derive(Debug, Default)]
pub struct ImportDirReport {
    /// Files imported now, with the image names each held.
    pub imported: Vec<(PathBuf, Vec<String>)>,
    /// Files skipped: imported before (same size and mtime) and their images still present.
    pub skipped: Vec<PathBuf>,
    /// Files that failed, with the error.
    pub failed: Vec<(PathBuf, Error)>,
}

/// `<data-dir>/agent/images`: archives placed there are imported at agent start.
pub fn images_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent").join("images")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Join(e.to_string()))?
}

/// Imports one archive (OCI layout or docker save format, plain or gzip) into the `k8s.io`
/// namespace, unpacked for the overlayfs snapshotter; returns the image names it held.
pub async fn import(socket: &Path, archive: &Path) -> Result<Vec<String>, Error> {
    let (socket, archive) = (socket.to_path_buf(), archive.to_path_buf());
    blocking(move || import_blocking(&socket, &archive)).await
}

/// Imports every `*.tar`, `*.tar.gz`, `*.tgz` and `*.oci` in `dir` (sorted by name), skipping
/// files imported before whose images are still present. A missing `dir` is not an error.
pub async fn import_dir(socket: &Path, dir: &Path) -> Result<ImportDirReport, Error> {
    let (socket, dir) = (socket.to_path_buf(), dir.to_path_buf());
    blocking(move || import_dir_blocking(&socket, &dir)).await
}

/// The named images in the `k8s.io` namespace, sorted by name.
pub async fn list(socket: &Path) -> Result<Vec<ImageInfo>, Error> {
    let socket = socket.to_path_buf();
    blocking(move || list_blocking(&socket)).await
}

fn check_socket(socket: &Path) -> Result<(), Error> {
    if socket.exists() {
        Ok(())
    } else {
        Err(Error::NotRunning(socket.to_path_buf()))
    }
}

fn ctr_base(socket: &Path) -> Command {
    let mut cmd = Command::new("ctr");
    cmd.arg("--address")
        .arg(socket)
        .arg("--namespace")
        .arg(CRI_NAMESPACE)
        .stdin(Stdio::null());
    cmd
}

/// Runs `ctr … args` and returns its stdout, or the error it printed.
fn ctr(socket: &Path, args: &[&str]) -> Result<String, Error> {
    let out = ctr_base(socket)
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: "ctr",
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Ctr {
            args: args.join(" "),
            message: message(&out),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn message(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let err = err.trim();
    if err.is_empty() {
        format!("exit status {}", out.status)
    } else {
        err.strip_prefix("ctr: ").unwrap_or(err).to_string()
    }
}

fn is_gzip(path: &Path) -> Result<bool, Error> {
    let mut magic = [0u8; 2];
    let mut f = fs::File::open(path).map_err(|source| Error::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let n = f.read(&mut magic).map_err(|source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

fn import_blocking(socket: &Path, archive: &Path) -> Result<Vec<String>, Error> {
    check_socket(socket)?;
    let import_args = [
        "images",
        "import",
        "--all-platforms",
        "--snapshotter",
        SNAPSHOTTER,
    ];
    let out = if is_gzip(archive)? {
        let file = fs::File::open(archive).map_err(|source| Error::Io {
            action: "open",
            path: archive.to_path_buf(),
            source,
        })?;
        let mut ctr = ctr_base(socket)
            .args(import_args)
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: "ctr",
                source,
            })?;
        let Some(mut stdin) = ctr.stdin.take() else {
            return Err(Error::Import {
                path: archive.to_path_buf(),
                message: "ctr gave no input pipe".into(),
            });
        };
        // Inflate in a thread while ctr reads, so neither pipe fills up.
        let feeder = std::thread::spawn(move || {
            let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
            std::io::copy(&mut gz, &mut stdin)
        });
        let out = ctr.wait_with_output().map_err(|source| Error::Spawn {
            program: "ctr",
            source,
        })?;
        match feeder.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if out.status.success() || e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(Error::Import {
                    path: archive.to_path_buf(),
                    message: format!("gzip: {e}"),
                });
            }
            Ok(Err(_)) => {}
            Err(_) => {
                return Err(Error::Import {
                    path: archive.to_path_buf(),
                    message: "gzip: the inflating thread panicked".into(),
                });
            }
        }
        out
    } else {
        ctr_base(socket)
            .args(import_args)
            .arg(archive)
            .output()
            .map_err(|source| Error::Spawn {
                program: "ctr",
                source,
            })?
    };
    if !out.status.success() {
        return Err(Error::Import {
            path: archive.to_path_buf(),
            message: message(&out),
        });
    }
    let names = parse_import_output(&String::from_utf8_lossy(&out.stdout));
    if names.is_empty() {
        return Err(Error::NoNames {
            path: archive.to_path_buf(),
        });
    }
    tracing::info!(archive = %archive.display(), images = ?names, "imported images");
    Ok(names)
}

/// Image names from `ctr images import` output (`unpacking NAME (sha256:…)...done`).
fn parse_import_output(out: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.trim().strip_prefix("unpacking ")
            && let Some((name, _)) = rest.split_once(" (")
            && !name.starts_with("sha256:")
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// `(name, target digest)` of every image in the namespace, CRI's `sha256:<id>` refs included.
fn list_refs(socket: &Path) -> Result<Vec<(String, String)>, Error> {
    check_socket(socket)?;
    let out = ctr(socket, &["images", "ls"])?;
    Ok(out
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let name = cols.next()?;
            let _media_type = cols.next()?;
            let digest = cols.next()?;
            Some((name.to_string(), digest.to_string()))
        })
        .collect())
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn json_size(v: &serde_json::Value) -> u64 {
    v.get("size").and_then(|s| s.as_u64()).unwrap_or(0)
}

/// `(image id, size)` for the manifest or index `digest`.
fn describe(socket: &Path, digest: &str) -> Result<(String, u64), Error> {
    let raw = ctr(socket, &["content", "get", digest])?;
    let mut doc: serde_json::Value = serde_json::from_str(&raw).map_err(|e| Error::Ctr {
        args: format!("content get {digest}"),
        message: format!("not JSON: {e}"),
    })?;
    let mut size = raw.len() as u64;
    // An index: follow the manifest for this machine's platform (else the first).
    if doc.get("manifests").is_some() {
        let manifests = doc
            .get("manifests")
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default();
        let chosen = manifests
            .iter()
            .find(|m| {
                m.pointer("/platform/architecture").and_then(|a| a.as_str()) == Some(host_arch())
            })
            .or(manifests.first());
        let Some(inner) = chosen
            .and_then(|m| m.get("digest"))
            .and_then(|d| d.as_str())
        else {
            return Ok((digest.to_string(), size));
        };
        let raw = ctr(socket, &["content", "get", inner])?;
        doc = serde_json::from_str(&raw).map_err(|e| Error::Ctr {
            args: format!("content get {inner}"),
            message: format!("not JSON: {e}"),
        })?;
        size = raw.len() as u64;
    }
    let config = doc.get("config").cloned().unwrap_or_default();
    let id = config
        .get("digest")
        .and_then(|d| d.as_str())
        .unwrap_or(digest)
        .to_string();
    size += json_size(&config);
    size += doc
        .get("layers")
        .and_then(|l| l.as_array())
        .map(|layers| layers.iter().map(json_size).sum::<u64>())
        .unwrap_or(0);
    Ok((id, size))
}

fn list_blocking(socket: &Path) -> Result<Vec<ImageInfo>, Error> {
    let refs = list_refs(socket)?;
    let mut described: HashMap<String, (String, u64)> = HashMap::new();
    let mut out = Vec::new();
    for (name, digest) in refs {
        // CRI names each image also by its ID; those are not names a user gave.
        if name.starts_with("sha256:") {
            continue;
        }
        let (id, size) = match described.get(&digest) {
            Some(d) => d.clone(),
            None => {
                let d = describe(socket, &digest)?;
                described.insert(digest.clone(), d.clone());
                d
            }
        };
        out.push(ImageInfo {
            name,
            id,
            size,
            digest,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Whether `path` is an image archive by the air-gap naming convention.
fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    !name.starts_with('.')
        && [".tar", ".tar.gz", ".tgz", ".oci"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// Size and mtime (ns) identify a file version.
fn fingerprint(path: &Path) -> Option<(u64, u128)> {
    let meta = fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((meta.len(), mtime.as_nanos()))
}

fn state_path(socket: &Path) -> PathBuf {
    socket.parent().unwrap_or(Path::new(".")).join(STATE_FILE)
}

/// `{ "<file>": { "size": N, "mtime_ns": "N", "names": [..] } }`.
fn load_state(path: &Path) -> BTreeMap<String, serde_json::Value> {
    fs::read(path)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, state: &BTreeMap<String, serde_json::Value>) -> Result<(), Error> {
    let tmp = path.with_extension("json.tmp");
    let raw = serde_json::to_vec_pretty(state).unwrap_or_default();
    fs::write(&tmp, raw)
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|source| Error::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
}

fn import_dir_blocking(socket: &Path, dir: &Path) -> Result<ImportDirReport, Error> {
    let mut report = ImportDirReport::default();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && is_archive(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Ok(report);
    }
    check_socket(socket)?;
    let state_file = state_path(socket);
    let mut state = load_state(&state_file);
    let present: BTreeSet<String> = list_refs(socket)?.into_iter().map(|(n, _)| n).collect();
    for file in files {
        let key = file.to_string_lossy().into_owned();
        let Some((size, mtime)) = fingerprint(&file) else {
            continue;
        };
        let mtime = mtime.to_string();
        if let Some(prev) = state.get(&key) {
            let same = prev.get("size").and_then(|v| v.as_u64()) == Some(size)
                && prev.get("mtime_ns").and_then(|v| v.as_str()) == Some(mtime.as_str());
            let names: Vec<&str> = prev
                .get("names")
                .and_then(|n| n.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if same && !names.is_empty() && names.iter().all(|n| present.contains(*n)) {
                report.skipped.push(file);
                continue;
            }
        }
        match import_blocking(socket, &file) {
            Ok(names) => {
                state.insert(
                    key,
                    serde_json::json!({ "size": size, "mtime_ns": mtime, "names": names }),
                );
                save_state(&state_file, &state)?;
                report.imported.push((file, names));
            }
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot import image archive");
                report.failed.push((file, e));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_unpacking_lines() {
        let out = "unpacking docker.io/library/busybox:latest (sha256:40d4)...done\n\
                   unpacking docker.io/library/busybox:1.36 (sha256:40d4)...done\n\
                   unpacking sha256:abcd (sha256:40d4)...done\n";
        assert_eq!(
            parse_import_output(out),
            vec![
                "docker.io/library/busybox:latest",
                "docker.io/library/busybox:1.36"
            ]
        );
    }

    #[test]
    fn archive_names_follow_the_air_gap_convention() {
        for yes in ["a.tar", "b.tar.gz", "c.TGZ", "d.oci"] {
            assert!(is_archive(Path::new(yes)), "{yes}");
        }
        for no in ["a.txt", ".hidden.tar", "x.tar.part", "imported-images.json"] {
            assert!(!is_archive(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn state_lives_beside_the_socket() {
        assert_eq!(
            state_path(Path::new("/d/agent/containerd/containerd.sock")),
            Path::new("/d/agent/containerd/imported-images.json")
        );
    }

    #[tokio::test]
    async fn a_missing_daemon_is_reported() {
        let sock = Path::new("/nonexistent/krust/containerd.sock");
        assert!(matches!(list(sock).await, Err(Error::NotRunning(_))));
        let report = import_dir(sock, Path::new("/nonexistent/krust/images"))
            .await
            .unwrap();
        assert!(report.imported.is_empty() && report.failed.is_empty());
    }
}
