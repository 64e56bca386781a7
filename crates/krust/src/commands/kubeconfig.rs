//! `krust kubeconfig`: prints the admin kubeconfig the server wrote into its data directory.

use crate::cli::KubeconfigArgs;
use anyhow::Context;

/// Where the server keeps a copy of the admin kubeconfig.
pub fn admin_kubeconfig_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("server").join("admin.kubeconfig")
}

pub fn run(args: &KubeconfigArgs) -> anyhow::Result<()> {
    let path = admin_kubeconfig_path(&args.data_dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (has `krust server` run with this --data-dir?)",
            path.display()
        )
    })?;
    print!("{text}");
    Ok(())
}
