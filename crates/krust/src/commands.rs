//! The subcommands, one file each under `commands/`.

mod agent;
mod bench;
mod images;
mod kubeconfig;
mod server;

use crate::cli::{Cli, Command};

/// Runs the chosen subcommand to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!(
                "krust version {} (Kubernetes v1.33)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Command::Kubeconfig(args) => kubeconfig::run(&args),
        Command::Server(args) => runtime()?.block_on(server::run(args)),
        Command::Agent(args) => runtime()?.block_on(agent::run(args)),
        Command::Bench(args) => runtime()?.block_on(bench::run(args)),
        Command::Images(args) => runtime()?.block_on(images::run(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
