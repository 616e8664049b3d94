//! `soak`: agents (and optionally `cairn ui` and `cairn status --watch`) over a channel that keeps
//! changing, for as long as asked, with their memory, file descriptors, state dirs and the store
//! sampled; writes a summary, a CSV and a plot. See `cairn_benches::soak`.

use std::path::PathBuf;

use cairn_benches::soak::{Config, markdown, run, write};
use clap::Parser;

/// Runs a soak and writes its results.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    config: Config,
    /// Where soak.md, soak.csv, soak.svg and soak.json go.
    #[arg(long, default_value = "soak-results")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let report = run(&args.config).await?;
    for path in write(&report, &args.out)? {
        eprintln!("wrote {}", path.display());
    }
    print!("{}", markdown(&report));
    Ok(())
}
