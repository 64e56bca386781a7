//! The proxy's contact with the kernel: one `nft -f -` transaction per ruleset (Debian's
//! nftables, as upstream kube-proxy's nftables mode drives it), and the ClusterIP host routes
//! (`ip route`, tagged with the proxy's route protocol so they can be flushed together).

use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The route protocol number the proxy's routes carry.
const ROUTE_PROTO: &str = "77";

/// Why programming the kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("running {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    Failed {
        program: &'static str,
        stderr: String,
    },
}

async fn run(program: &'static str, args: &[&str], input: Option<&str>) -> Result<(), NftError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NftError::Spawn { program, source })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|source| NftError::Spawn { program, source })?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| NftError::Spawn { program, source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::Failed {
            program,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Applies an nft script as one transaction.
pub async fn apply(script: &str) -> Result<(), NftError> {
    run("nft", &["-f", "-"], Some(script)).await
}

/// Whether table `ip <table>` exists (`nft list tables`: cheap even for a large table).
pub async fn table_exists(table: &str) -> bool {
    let Ok(out) = Command::new("nft")
        .args(["list", "tables"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
    else {
        return false;
    };
    let wanted = format!("table ip {table}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == wanted)
}

/// Routes `ip`/32 through the pod bridge.
pub async fn add_route(ip: &str, bridge: &str) -> Result<(), NftError> {
    let dst = format!("{ip}/32");
    run(
        "ip",
        &[
            "route",
            "replace",
            &dst,
            "dev",
            bridge,
            "proto",
            ROUTE_PROTO,
        ],
        None,
    )
    .await
}

/// Removes the route of `ip` (absent is fine).
pub async fn del_route(ip: &str, bridge: &str) {
    let dst = format!("{ip}/32");
    let _ = run(
        "ip",
        &["route", "del", &dst, "dev", bridge, "proto", ROUTE_PROTO],
        None,
    )
    .await;
}

/// Deletes the table and flushes the routes, blocking (for cleanup paths without a runtime).
pub fn cleanup_blocking(table: &str, bridge: &str) {
    let quiet = |program: &str, args: &[&str]| {
        let _ = std::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    quiet("nft", &["delete", "table", "ip", table]);
    quiet(
        "ip",
        &["route", "flush", "dev", bridge, "proto", ROUTE_PROTO],
    );
}
