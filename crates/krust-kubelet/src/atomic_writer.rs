//! Upstream's `AtomicWriter`: the files of a configMap, secret, downwardAPI or projected volume
//! are written into a fresh hidden directory `..<timestamp>`, the `..data` symlink is swapped
//! to it in one rename, and each top-level name is a symlink through `..data`, so a container
//! reading the volume sees either the old or the new set of files, never a mix.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path};

/// The symlink naming the current payload directory.
pub const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// One file of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileData {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Whether `path` is an acceptable payload path: relative, no `..` element, not starting with
/// `..`, not empty.
pub fn valid_path(path: &str) -> bool {
    if path.is_empty() || path.starts_with("..") || Path::new(path).is_absolute() {
        return false;
    }
    Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}

fn current_payload(dir: &Path) -> Option<BTreeMap<String, FileData>> {
    let data = dir.join(DATA_DIR);
    let target = std::fs::read_link(&data).ok()?;
    let base = dir.join(target);
    let mut out = BTreeMap::new();
    fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<String, FileData>) -> io::Result<()> {
        for entry in std::fs::read_dir(base.join(rel))? {
            let entry = entry?;
            let rel_path = rel.join(entry.file_name());
            let meta = entry.metadata()?;
            if meta.is_dir() {
                walk(base, &rel_path, out)?;
            } else {
                out.insert(
                    rel_path.to_string_lossy().into_owned(),
                    FileData {
                        data: std::fs::read(base.join(&rel_path))?,
                        mode: meta.permissions().mode() & 0o7777,
                    },
                );
            }
        }
        Ok(())
    }
    walk(&base, Path::new(""), &mut out).ok()?;
    Some(out)
}

fn top_level(payload: &BTreeMap<String, FileData>) -> BTreeSet<String> {
    payload
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect()
}

/// Makes `dir` hold exactly `payload`. Returns whether anything changed.
pub fn write(dir: &Path, payload: &BTreeMap<String, FileData>) -> io::Result<bool> {
    for path in payload.keys() {
        if !valid_path(path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid path {path:?}"),
            ));
        }
    }
    std::fs::create_dir_all(dir)?;
    let old = current_payload(dir);
    if old.as_ref() == Some(payload) {
        return Ok(false);
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let stamp = format!("..{}", now.strftime("%Y_%m_%d_%H_%M_%S.%f"));
    let ts_dir = dir.join(&stamp);
    if ts_dir.exists() {
        std::fs::remove_dir_all(&ts_dir)?;
    }
    std::fs::create_dir(&ts_dir)?;
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))?;
    for (path, file) in payload {
        let target = ts_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &file.data)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))?;
    }
    let tmp = dir.join(DATA_DIR_TMP);
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp)?;
    let previous_target = std::fs::read_link(dir.join(DATA_DIR)).ok();
    std::fs::rename(&tmp, dir.join(DATA_DIR))?;
    // Top-level symlinks: add the new ones, drop the ones no longer in the payload.
    let wanted = top_level(payload);
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_DIR).join(name), &link)?;
        }
    }
    if let Some(old) = &old {
        for name in top_level(old).difference(&wanted) {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    if let Some(prev) = previous_target
        && prev.as_os_str() != stamp.as_str()
    {
        let _ = std::fs::remove_dir_all(dir.join(prev));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str, mode: u32) -> FileData {
        FileData {
            data: s.as_bytes().to_vec(),
            mode,
        }
    }

    #[test]
    fn writes_the_upstream_layout_and_updates_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("vol");
        let mut payload = BTreeMap::new();
        payload.insert("a".to_string(), file("one", 0o644));
        payload.insert("sub/b".to_string(), file("two", 0o400));
        assert!(write(&d, &payload).unwrap());
        assert!(!write(&d, &payload).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "one");
        assert_eq!(std::fs::read_to_string(d.join("sub/b")).unwrap(), "two");
        assert_eq!(
            std::fs::read_link(d.join("a")).unwrap(),
            Path::new("..data/a")
        );
        let target = std::fs::read_link(d.join(DATA_DIR)).unwrap();
        assert!(target.to_string_lossy().starts_with(".."));
        let mode = std::fs::metadata(d.join("sub/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o400);

        let mut next = BTreeMap::new();
        next.insert("a".to_string(), file("uno", 0o644));
        next.insert("c".to_string(), file("tres", 0o644));
        assert!(write(&d, &next).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "uno");
        assert_eq!(std::fs::read_to_string(d.join("c")).unwrap(), "tres");
        assert!(std::fs::symlink_metadata(d.join("sub")).is_err());
        assert!(
            !d.join(&target).exists(),
            "the old payload directory is removed"
        );
        let entries: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries.len(), 4, "{entries:?}"); // ..data, ..<ts>, a, c
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in ["", "../x", "..x", "/abs", "a/../b"] {
            assert!(!valid_path(bad), "{bad}");
        }
        assert!(valid_path("a/b.txt"));
        let dir = tempfile::tempdir().unwrap();
        let mut payload = BTreeMap::new();
        payload.insert("../evil".to_string(), file("x", 0o644));
        assert!(write(dir.path(), &payload).is_err());
    }
}
