//! `kube-requests`: requests the agent makes of the Kubernetes API server, by verb, against
//! the in-process fake API server, over a first apply, a resync with nothing changed, a resync
//! after a hand edit and a small change; plus the agent binary's peak RSS over a first apply.
//!
//! ```text
//! cargo build --release -p cairn-hub -p cairn-agent
//! cargo run --release -p cairn-benches --bin kube-requests -- --objects 1000 --rss-objects 1000,10000
//! ```

use std::path::PathBuf;

use anyhow::Context;
use cairn_benches::kube::{Config, markdown, run};
use clap::Parser;

/// Counts the agent's Kubernetes API requests by verb, pass by pass.
#[derive(Parser, Debug)]
#[command(name = "kube-requests")]
struct Args {
    /// The cairn binary that publishes.
    #[arg(long, default_value = "target/release/cairn")]
    cairn: PathBuf,
    /// The cairn-agent binary whose peak RSS is measured.
    #[arg(long, default_value = "target/release/cairn-agent")]
    agent: PathBuf,
    /// Objects applied in the counted passes (10 kinds; at least 11).
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// ConfigMaps changed in the last counted pass.
    #[arg(long, default_value_t = 10)]
    changes: usize,
    /// Object counts at which the agent binary's RSS is measured (none: skip).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    rss_objects: Vec<usize>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Put the manifests, stores and state here (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.objects < 11 || args.rss_objects.iter().any(|n| *n < 11) {
        anyhow::bail!("--objects and every --rss-objects must be at least 11 (10 kinds)");
    }
    if args.changes > (args.objects - 3) / 8 {
        anyhow::bail!(
            "--changes must be at most the ConfigMaps in the set ({})",
            (args.objects - 3) / 8
        );
    }
    let temp = tempfile::tempdir().context("create a temporary directory")?;
    let config = Config {
        cairn: args.cairn,
        agent: args.agent,
        objects: args.objects,
        rss_objects: args.rss_objects,
        changes: args.changes,
        work_dir: args.work_dir.unwrap_or_else(|| temp.path().to_path_buf()),
    };
    let report = run(&config).await.context("kube requests benchmark")?;
    print!("{}", markdown(&report));
    if let Some(path) = args.json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(&path, json).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}
