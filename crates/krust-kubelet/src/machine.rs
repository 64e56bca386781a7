//! Facts about this machine for the Node object, read from `/proc`, `/etc` and `/sys` (and
//! `df` for the agent directory's filesystem, which needs no `unsafe` statvfs call).

use std::path::Path;

/// What the node reports about its machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineInfo {
    pub cpus: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub system_uuid: String,
    pub architecture: String,
    pub hostname: String,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` of `/proc/meminfo` text, in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    meminfo_field(text, "MemTotal")
}

/// A field of `/proc/meminfo` text, in bytes.
pub fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        Some(match parts.next() {
            Some("kB") => n * 1024,
            _ => n,
        })
    })
}

/// `PRETTY_NAME` of `/etc/os-release` text.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("PRETTY_NAME=")?;
        Some(v.trim().trim_matches('"').to_string())
    })
}

/// The figures of the filesystem holding a path, as `df` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsUsage {
    pub size: u64,
    /// Bytes an unprivileged user may still write.
    pub available: u64,
    pub used: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

/// `statvfs(2)` of the filesystem holding `path`.
pub fn filesystem(path: &Path) -> Option<FsUsage> {
    let st = rustix::fs::statvfs(path).ok()?;
    let unit = st.f_frsize.max(1);
    Some(FsUsage {
        size: st.f_blocks.saturating_mul(unit),
        available: st.f_bavail.saturating_mul(unit),
        used: st.f_blocks.saturating_sub(st.f_bfree).saturating_mul(unit),
        inodes: st.f_files,
        inodes_free: st.f_ffree,
    })
}

/// Total bytes of the filesystem holding `path`.
pub fn filesystem_size(path: &Path) -> Option<u64> {
    filesystem(path).map(|f| f.size)
}

/// Total and available bytes of the filesystem holding `path`.
pub fn filesystem_usage(path: &Path) -> Option<(u64, u64)> {
    filesystem(path).map(|f| (f.size, f.available))
}

/// The architecture as Go names it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

impl MachineInfo {
    /// Reads the machine; `storage_dir` is the directory whose filesystem is the node's
    /// ephemeral storage.
    pub fn read(storage_dir: &Path) -> MachineInfo {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| parse_meminfo_total(&t))
            .unwrap_or(0);
        let os_image = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| parse_os_release(&t))
            .unwrap_or_else(|| "Linux".to_string());
        let machine_id = {
            let m = read_trim("/etc/machine-id");
            if m.is_empty() {
                read_trim("/var/lib/dbus/machine-id")
            } else {
                m
            }
        };
        MachineInfo {
            cpus,
            memory_bytes,
            ephemeral_storage_bytes: filesystem_size(storage_dir).unwrap_or(0),
            kernel_version: read_trim("/proc/sys/kernel/osrelease"),
            os_image,
            machine_id,
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            system_uuid: read_trim("/sys/class/dmi/id/product_uuid"),
            architecture: go_arch().to_string(),
            hostname: read_trim("/proc/sys/kernel/hostname"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_machine_files() {
        let meminfo = "MemTotal:       24684544 kB\nMemFree:        17563540 kB\nMemAvailable:   23650000 kB\n";
        assert_eq!(parse_meminfo_total(meminfo), Some(24684544 * 1024));
        assert_eq!(
            meminfo_field(meminfo, "MemAvailable"),
            Some(23650000 * 1024)
        );
        assert_eq!(meminfo_field(meminfo, "Mem"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let root = filesystem(Path::new("/")).unwrap();
        assert!(root.size > 0 && root.available <= root.size && root.used <= root.size);
        assert!(root.inodes_free <= root.inodes);
        assert_eq!(filesystem(Path::new("/nonexistent/path")), None);
        let here = MachineInfo::read(Path::new("/"));
        assert!(here.cpus >= 1);
        assert!(here.memory_bytes > 0);
        assert!(here.ephemeral_storage_bytes > 0);
    }
}
