//! `krust bench …`: benchmarks that start what they need and print a table and a final
//! `key=value` summary line.

use crate::cli::{BenchArgs, BenchCommand};

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        BenchCommand::Api(_a) => anyhow::bail!("not yet"),
    }
}
