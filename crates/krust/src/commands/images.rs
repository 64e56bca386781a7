//! `krust images import FILE…` and `krust images list`: the node's containerd images, found
//! through its socket `<data-dir>/agent/containerd/containerd.sock` (or
//! `--container-runtime-endpoint`). Imports show a progress bar on a terminal and one line per
//! file with its images and the time it took.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use krust_kubelet::containerd::socket_path;
use krust_kubelet::images;

use crate::cli::{ImagesArgs, ImagesCommand, ImagesRuntimeArgs};

/// Runs `krust images …`.
pub async fn run(args: ImagesArgs) -> anyhow::Result<()> {
    match args.which {
        ImagesCommand::Import(a) => import(&socket(&a.runtime), &a.files).await,
        ImagesCommand::List(a) => list(&socket(&a.runtime), a.quiet).await,
    }
}

fn socket(rt: &ImagesRuntimeArgs) -> PathBuf {
    match &rt.container_runtime_endpoint {
        Some(e) => PathBuf::from(e.strip_prefix("unix://").unwrap_or(e)),
        None => socket_path(&rt.data_dir.join("agent").join("containerd")),
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

/// `[#####.....] 3/7 busybox.tar 1.2s` on one terminal line.
fn draw(done_bytes: u64, total: u64, index: usize, count: usize, name: &str, elapsed: Duration) {
    const WIDTH: usize = 24;
    let filled = if total == 0 {
        0
    } else {
        ((done_bytes as f64 / total as f64) * WIDTH as f64) as usize
    }
    .min(WIDTH);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[2K[{}{}] {index}/{count} {name} {:.1}s",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        elapsed.as_secs_f64()
    );
    let _ = err.flush();
}

fn clear_line() {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

async fn import(socket: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    if !socket.exists() {
        bail!(
            "containerd is not running at {} (start `krust server` or `krust agent`, or pass \
             --data-dir / --container-runtime-endpoint)",
            socket.display()
        );
    }
    let sizes: Vec<u64> = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .collect::<Result<_, _>>()
        .context("reading an archive")?;
    let total: u64 = sizes.iter().sum();
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let (mut done, mut images, mut failed) = (0u64, 0usize, 0usize);
    for (i, (file, size)) in files.iter().zip(&sizes).enumerate() {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.display().to_string());
        let t0 = Instant::now();
        let work = images::import(socket, file);
        tokio::pin!(work);
        let result = loop {
            if tty {
                draw(done, total, i + 1, files.len(), &name, t0.elapsed());
            }
            tokio::select! {
                r = &mut work => break r,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        done += size;
        if tty {
            clear_line();
        }
        let secs = t0.elapsed().as_secs_f64();
        match result {
            Ok(names) => {
                images += names.len();
                println!(
                    "[{}/{}] {} ({}): {} in {secs:.2}s",
                    i + 1,
                    files.len(),
                    file.display(),
                    human(*size),
                    names.join(", ")
                );
            }
            Err(e) => {
                failed += 1;
                println!(
                    "[{}/{}] {}: FAILED after {secs:.2}s: {e}",
                    i + 1,
                    files.len(),
                    file.display()
                );
            }
        }
    }
    println!(
        "imported {images} images from {} of {} archives in {:.2}s",
        files.len() - failed,
        files.len(),
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        bail!("{failed} of {} archives failed to import", files.len());
    }
    Ok(())
}

async fn list(socket: &Path, quiet: bool) -> anyhow::Result<()> {
    let list = images::list(socket).await?;
    if quiet {
        for i in &list {
            println!("{}", i.name);
        }
        return Ok(());
    }
    let rows: Vec<[String; 4]> = list
        .iter()
        .map(|i| {
            // The tag follows the last ':' after the last '/' (a registry port is not a tag).
            let slash = i.name.rfind('/').map_or(0, |p| p + 1);
            let (repo, tag) = match i.name[slash..].rfind(':') {
                Some(p) => (&i.name[..slash + p], &i.name[slash + p + 1..]),
                None => (i.name.as_str(), "<none>"),
            };
            let id = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
            [
                repo.to_string(),
                tag.to_string(),
                id.chars().take(13).collect(),
                human(i.size),
            ]
        })
        .collect();
    let header = ["IMAGE", "TAG", "IMAGE ID", "SIZE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        println!(
            "{:<w0$}   {:<w1$}   {:<w2$}   {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1_036_388), "1012.1KiB");
        assert_eq!(human(5 << 20), "5.0MiB");
    }
}
