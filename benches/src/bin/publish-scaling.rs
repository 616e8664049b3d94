//! `publish-scaling`: how `cairn publish` of a few changes scales with the snapshot size, against
//! `git commit` and `git push` of the same change. Prints Markdown tables; `--json` writes the
//! full report.
//!
//! ```text
//! cargo build --release -p cairn-hub
//! nice -n 10 cargo run --release -p cairn-benches --bin publish-scaling -- \
//!     --sizes 2000,20000,100000 --changes 10 --repeat 3 --json publish-scaling.json
//! ```

use std::path::PathBuf;

use anyhow::Context;
use cairn_benches::scaling::{Config, run, table};
use clap::Parser;

/// Measures `cairn publish` of a few changes at growing snapshot sizes, with Git as the baseline.
#[derive(Parser, Debug)]
#[command(name = "publish-scaling")]
struct Args {
    /// The cairn binary to measure.
    #[arg(long, default_value = "target/release/cairn")]
    cairn: PathBuf,
    /// Snapshot sizes (objects), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2000,20000,100000")]
    sizes: Vec<usize>,
    /// Objects changed per measured publish.
    #[arg(long, default_value_t = 10)]
    changes: usize,
    /// Measurements per size (the tables show the median).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Write the full report, every sample included, as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Put the temporary manifest trees, stores and repositories here (default: the system's
    /// temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Pass --delta-depth to cairn publish (default: cairn's own default).
    #[arg(long)]
    delta_depth: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.repeat == 0 || args.changes == 0 || args.sizes.contains(&0) {
        anyhow::bail!("--repeat, --changes and every size must be at least 1");
    }
    let config = Config {
        cairn: args.cairn,
        sizes: args.sizes,
        changes: args.changes,
        repeat: args.repeat,
        work_dir: args.work_dir,
        delta_depth: args.delta_depth,
        progress: true,
    };
    let report = run(&config).context("publish scaling benchmark")?;
    print!("{}", table::markdown(&report));
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report).context("serializing the report")?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
