//! `cairn-fleet`: the fleet load tester (see `cairn_benches::fleet`). Prints the Markdown tables
//! and writes the JSON report.

use std::path::PathBuf;

use clap::Parser;

/// Runs N real agents in one process against a counting front, publishes changes with the real
/// `cairn`, and measures the same figures for a Git baseline.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: cairn_benches::fleet::Config,
    /// Where to write the JSON report.
    #[arg(long, default_value = "fleet.json")]
    json: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(cairn_benches::fleet::run(&cli.config))?;
    std::fs::write(&cli.json, serde_json::to_vec_pretty(&report)?)?;
    println!("{}", cairn_benches::fleet::markdown(&report));
    Ok(())
}
