//! `criterion-table`: prints the medians criterion saved under `target/criterion` as one
//! Markdown table (a row per benchmark, a column per snapshot size).
//!
//! ```text
//! nice -n 10 cargo bench -p cairn-benches --bench format
//! cargo run --release -p cairn-benches --bin criterion-table
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Prints criterion's saved medians as a Markdown table.
#[derive(Parser, Debug)]
#[command(name = "criterion-table")]
struct Args {
    /// Criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let medians = cairn_benches::criterion_table::read(&args.dir)
        .with_context(|| format!("reading criterion's results under {}", args.dir.display()))?;
    if medians.is_empty() {
        anyhow::bail!(
            "no criterion results under {}: run `cargo bench -p cairn-benches` first",
            args.dir.display()
        );
    }
    print!("{}", cairn_benches::criterion_table::markdown(&medians));
    Ok(())
}
