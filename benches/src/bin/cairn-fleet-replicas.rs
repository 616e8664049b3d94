//! `cairn-fleet-replicas`: N simulated clusters of R agent replicas each, for several R (see
//! `cairn_benches::fleet::replicas`): origin load and bytes per cluster must not grow with R,
//! and a killed leader's cluster must take a change within a lease duration plus T.

use std::path::PathBuf;

use clap::Parser;

/// Measures origin requests and bytes per cluster, and takeover time, for R replicas per
/// cluster (R = 1, 3, 10 by default).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: cairn_benches::fleet::replicas::ReplicasConfig,
    /// Where to write the JSON report.
    #[arg(long, default_value = "fleet-replicas.json")]
    json: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(cairn_benches::fleet::replicas::run(&cli.config))?;
    std::fs::write(&cli.json, serde_json::to_vec_pretty(&report)?)?;
    println!("{}", cairn_benches::fleet::replicas::markdown(&report));
    Ok(())
}
