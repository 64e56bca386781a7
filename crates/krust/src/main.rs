//! `krust`: a Kubernetes-compatible cluster in one binary.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = krust::cli::Cli::parse();
    let default_level = match cli.command {
        krust::cli::Command::Bench(_) | krust::cli::Command::Images(_) => "warn",
        _ => "info",
    };
    krust::logging::init(cli.log_level.as_deref().unwrap_or(default_level));
    krust_apiserver::metrics::install_panic_hook();
    match krust::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
