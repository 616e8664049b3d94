//! `kube-requests`: what the agent asks of the Kubernetes API server, counted by verb against
//! the in-process fake API server the agent's tests use (`cairn-kube-fake`), for a first
//! apply, a pass with nothing changed, a pass after one object was edited by hand and a change
//! of 10 objects; plus wall time with no QPS limit and the real `cairn-agent` binary's peak RSS
//! over a first apply.
//!
//! Counts do not depend on the machine's load: they are the benchmark. The agent runs in
//! this process for the counted passes (one agent across passes, as a running agent is).

pub mod manifests;
mod rss;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, ChannelSpec, StoreLocation, TargetSpec};
use cairn_kube_fake::FakeApi;
use cairn_state_format::{Phase, PublicKey, StatusRecord};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::scaling::cairn::{CHANNEL, Cairn};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `cairn` binary that publishes.
    pub cairn: PathBuf,
    /// The `cairn-agent` binary whose RSS is measured.
    pub agent: PathBuf,
    /// Objects in the counted passes.
    pub objects: usize,
    /// Object counts at which the agent binary's RSS is measured.
    pub rss_objects: Vec<usize>,
    /// Objects changed in the "change" pass.
    pub changes: usize,
    /// Where the manifests, store and state go.
    pub work_dir: PathBuf,
}

/// One counted pass.
#[derive(Clone, Debug, Serialize)]
pub struct Pass {
    /// What the pass was.
    pub name: String,
    /// Requests by verb (`get`, `list`, `watch`, `create`, `patch`, `update`, `delete`).
    pub requests: BTreeMap<String, u64>,
    /// Objects written (created or updated) as the agent counts them.
    pub applied: u64,
    /// Drifted objects the pass found.
    pub drifted: u64,
    /// Wall time of the pass, seconds (QPS unlimited, fake on loopback).
    pub wall_s: f64,
}

impl Pass {
    /// Every request of the pass.
    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Objects in the counted passes.
    pub objects: usize,
    /// The counted passes, in order.
    pub passes: Vec<Pass>,
    /// Peak RSS of `cairn-agent run --once` over a first apply, in bytes, by object count.
    pub rss: Vec<(usize, u64)>,
}

/// Runs the benchmark.
pub async fn run(config: &Config) -> Result<Report> {
    let bench = Bench::new(config, config.objects, "counted").await?;
    let mut passes = Vec::new();
    passes.push(bench.pass("first apply", false).await?);
    passes.push(bench.pass("nothing changed (resync)", true).await?);
    bench.edit_by_hand()?;
    passes.push(
        bench
            .pass("one object edited by hand (resync)", true)
            .await?,
    );
    manifests::write(&bench.manifests, config.objects, config.changes, 1)?;
    bench.cairn.publish(&bench.manifests, true)?;
    let name = format!("{} objects changed", config.changes);
    passes.push(bench.pass(&name, false).await?);
    let mut rss = Vec::new();
    for &n in &config.rss_objects {
        let fresh = Bench::new(config, n, &format!("rss-{n}")).await?;
        rss.push((n, rss::first_apply(config, &fresh).await?));
    }
    Ok(Report {
        objects: config.objects,
        passes,
        rss,
    })
}

/// A fake API server, a store published to with `cairn`, and an agent applying to the fake.
struct Bench {
    fake: FakeApi,
    cairn: Cairn,
    manifests: PathBuf,
    trust: PathBuf,
    dir: PathBuf,
    kubeconfig: PathBuf,
    agent: Agent,
}

impl Bench {
    async fn new(config: &Config, objects: usize, name: &str) -> Result<Bench> {
        let dir = config.work_dir.join(name);
        std::fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        let cairn = Cairn::new(&config.cairn, &dir, None)?;
        let manifests = dir.join("manifests");
        manifests::write(&manifests, objects, 0, 0)?;
        cairn.publish(&manifests, true)?;
        let fake = FakeApi::start().await;
        let kubeconfig = fake.kubeconfig(&dir);
        let trust = dir.join("hub.key.pub");
        let agent = Agent::new(agent_config(&cairn.store, &trust, &kubeconfig, &dir)?)?;
        Ok(Bench {
            fake,
            cairn,
            manifests,
            trust,
            dir,
            kubeconfig,
            agent,
        })
    }

    /// One pass, counted.
    async fn pass(&self, name: &str, resync: bool) -> Result<Pass> {
        self.fake.clear_seen();
        let started = Instant::now();
        let report = self.agent.run_pass(resync).await;
        let wall_s = started.elapsed().as_secs_f64();
        let status = converged(name, report.channels.into_iter().next())?;
        Ok(Pass {
            name: name.to_owned(),
            requests: self.fake.counts(),
            applied: status.counts.applied,
            drifted: status.counts.drifted,
            wall_s,
        })
    }

    /// Changes one ConfigMap behind the agent's back, as `kubectl edit` would.
    fn edit_by_hand(&self) -> Result<()> {
        let name = "configmap-00000";
        let mut live = self
            .fake
            .get("", "configmaps", manifests::NAMESPACE, name)
            .ok_or_else(|| unexpected(format!("ConfigMap {name} was not applied")))?;
        live["data"]["value"] = "edited by hand".into();
        self.fake
            .put("", "configmaps", manifests::NAMESPACE, name, Some(live));
        Ok(())
    }
}

fn agent_config(
    store: &Path,
    trust: &Path,
    kubeconfig: &Path,
    dir: &Path,
) -> Result<cairn_agent::Config> {
    let key: PublicKey = std::fs::read_to_string(trust)
        .map_err(Error::io("read", trust))?
        .trim()
        .parse()
        .map_err(|e| unexpected(format!("{}: {e}", trust.display())))?;
    let mut config = cairn_agent::Config::new(
        StoreLocation::Url(format!("file://{}", store.display())),
        vec![ChannelSpec::parse(CHANNEL).map_err(|e| unexpected(e.to_string()))?],
        vec![key],
        "bench-cluster",
        TargetSpec::Kube,
        dir.join("state"),
    );
    config.kube = KubeOptions {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        qps: 0.0,
        ..KubeOptions::default()
    };
    Ok(config)
}

fn converged(name: &str, status: Option<StatusRecord>) -> Result<StatusRecord> {
    match status {
        Some(status) if status.phase == Phase::Converged => Ok(status),
        other => Err(unexpected(format!(
            "the pass \"{name}\" did not converge: {other:#?}"
        ))),
    }
}

fn unexpected(message: String) -> Error {
    Error::Unexpected {
        command: "kube-requests".to_owned(),
        message,
    }
}

/// The report as Markdown tables.
pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "| pass ({} objects) | requests | by verb | wall (QPS unlimited) |\n\
         |---|---:|---|---:|\n",
        report.objects
    );
    for pass in &report.passes {
        let verbs: Vec<String> = pass
            .requests
            .iter()
            .map(|(verb, n)| format!("{n} {verb}"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} s |\n",
            pass.name,
            pass.total(),
            verbs.join(", "),
            pass.wall_s
        ));
    }
    if !report.rss.is_empty() {
        out.push_str(
            "\n| objects | `cairn-agent run --once` peak RSS, first apply |\n|---:|---:|\n",
        );
        for (n, bytes) in &report.rss {
            out.push_str(&format!("| {n} | {:.1} MiB |\n", *bytes as f64 / 1048576.0));
        }
    }
    out
}
