//! The real `cairn-agent` binary's peak RSS over a first apply to the fake API server.

use std::process::Command;

use super::{Bench, Config, unexpected};
use crate::error::Result;
use crate::measure;
use crate::scaling::cairn::CHANNEL;

/// Peak RSS in bytes of `cairn-agent run --once` applying `bench`'s snapshot to its fake.
pub async fn first_apply(config: &Config, bench: &Bench) -> Result<u64> {
    let mut command = Command::new(&config.agent);
    command
        .args(["run", "--once", "--target", "kube", "--kube-qps", "0"])
        .args(["--channel", CHANNEL, "--cluster-id", "bench-rss"])
        .arg("--store")
        .arg(format!("file://{}", bench.cairn.store.display()))
        .arg("--trust")
        .arg(&bench.trust)
        .arg("--kubeconfig")
        .arg(&bench.kubeconfig)
        .arg("--state-dir")
        .arg(bench.dir.join("rss-state"));
    // The fake serves from this process's runtime while the agent runs.
    let (usage, _) = tokio::task::spawn_blocking(move || measure::run(&mut command))
        .await
        .map_err(|e| unexpected(format!("the agent's runner panicked: {e}")))??;
    Ok(usage.max_rss_bytes)
}
