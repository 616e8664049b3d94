//! The run: set-up, the cairn scenarios on one fleet, the cold start, the Git baseline and the
//! RSS of one real agent process.

use cairn_env_vars::EnvVars;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_state_format::{PublicKey, SignedHead};
use indicatif::{ProgressBar, ProgressStyle};

use super::agents::{Fleet, Spec, seed};
use super::front::{self, Front, Tally};
use super::stats::{Spread, rate, ratio};
use super::{Change, Config, Idle, PublishRow, Rate, Report};
use crate::error::{Error, Result};
use crate::manifests::{files, spread};
use crate::scaling::cairn::{CHANNEL, Cairn};

/// The run's shared pieces.
struct Bench {
    config: Config,
    cairn: Cairn,
    manifests: PathBuf,
    front: Front,
    trust: PublicKey,
    revision: u32,
}

/// Runs every scenario and returns the report.
pub async fn run(config: &Config) -> Result<Report> {
    let work = &config.work;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(Error::io("create", work))?;
    let mut cairn = Cairn::new(&config.cairn, work, None)?;
    if let Some(url) = &config.store {
        cairn.store = PathBuf::from(url);
        cairn.single_publisher = true;
    }
    let manifests = work.join("manifests");
    write_manifests(&manifests, config.objects, &[], 0)?;
    let mut report = Report {
        agents: config.agents,
        objects: config.objects,
        interval_s: config.interval,
        jitter: config.jitter,
        target: format!("{:?}", config.target).to_lowercase(),
        machine: machine(),
        rss_objects: config.rss_objects,
        ..Report::default()
    };
    report
        .publishes
        .push(publish(&cairn, &manifests, "initial")?);
    let key = work.join("hub.key.pub");
    let trust: PublicKey = std::fs::read_to_string(&key)
        .map_err(Error::io("read", &key))?
        .trim()
        .parse()
        .map_err(|e| Error::unexpected(key.display().to_string(), format!("{e}")))?;
    let front = match &config.store {
        Some(url) => super::remote::open(url).await?,
        None => front::start(&cairn.store)?,
    };
    report.store = match &front.source {
        cairn_agent::StoreLocation::Opened(store) => store.url().to_owned(),
        _ => "the counting front (edge cache) over a local directory".to_owned(),
    };
    let mut bench = Bench {
        config: config.clone(),
        cairn,
        manifests,
        front,
        trust,
        revision: 0,
    };
    bench.fleet_scenarios(&mut report).await?;
    report.cold = Some(bench.cold_start(&mut report).await?);
    if config.git_clients > 0 {
        for kind in ["daemon", "http"] {
            let row = super::baseline::git_baseline(&bench.config, kind).await?;
            if row.errors > 0 {
                report
                    .error_notes
                    .push(format!("git {kind}: {} failed commands", row.errors));
            }
            report.errors += row.errors;
            report.git.push(row);
        }
    }
    if config.rss_objects > 0 {
        report.agent_rss_bytes = Some(bench.agent_rss()?);
    }
    report.fleet_peak_rss_bytes = vm_status("/proc/self/status", "VmHWM:");
    Ok(report)
}

impl Bench {
    /// How the agents are configured; `shared`: whether they share content-addressed caches
    /// (a warm fleet) or each keeps its own (a cold start, where every agent must fetch all).
    fn spec(&self, shared: bool) -> Result<Spec> {
        let blobs = self.config.work.join("blobs");
        Ok(Spec {
            source: self.front.source.clone(),
            status: cairn_store::Store::open("memory://", &Default::default())?,
            channel: CHANNEL.to_owned(),
            trust: self.trust,
            interval: self.config.t(),
            jitter: self.config.jitter,
            target: self.config.target,
            shared: shared.then(|| std::sync::Arc::new(cairn_agent::Shared::with_blob_dir(&blobs))),
        })
    }

    fn expected_rps(&self, n: usize) -> f64 {
        n as f64 / self.config.interval
    }

    /// Restart, idle, the changes and the flag flip, on one warm fleet of N agents.
    async fn fleet_scenarios(&mut self, report: &mut Report) -> Result<()> {
        let n = self.config.agents;
        let spec = self.spec(true)?;
        // One agent converges for real; the fleet is seeded from its state.
        let seed_dir = self.config.work.join("seed");
        let seed_fleet = Fleet::start(&spec, &seed_dir, 1)?;
        let generation = head_generation(&self.cairn.store).await?;
        let seen = seed_fleet
            .propagation(
                CHANNEL,
                generation,
                Instant::now(),
                self.config.deadline(),
                |_| {},
            )
            .await;
        let stop_errors = seed_fleet.stop().await;
        if seen[0].is_none() || !stop_errors.is_empty() {
            return Err(Error::unexpected(
                "the seed agent",
                format!("did not converge: {stop_errors:?}"),
            ));
        }
        let root = self.config.work.join("fleet");
        seed(
            &super::agents::agent_dir(&seed_dir, 0),
            &root,
            n,
            CHANNEL,
            self.config.target,
        )
        .map_err(Error::io("seed the fleet under", &root))?;
        let fleet = Fleet::start(&spec, &root, n)?;
        report.restart = self.restart_rate(n).await;
        report.idle = self.idle(&fleet).await;
        let m = self.config.objects;
        for (label, k) in [
            ("1 object".to_owned(), 1),
            ("10 objects".to_owned(), 10),
            (format!("10 % ({} objects)", m / 10), m / 10),
        ] {
            self.revision += 1;
            write_manifests(&self.manifests, m, &spread(m, k), self.revision)?;
            let change = self
                .change(&fleet, report, &label, |bench| {
                    publish(&bench.cairn, &bench.manifests, &label)
                })
                .await?;
            report.changes.push(change);
        }
        for (label, value) in [("flag create", "true"), ("flag flip", "false")] {
            let change = self
                .change(&fleet, report, label, |bench| bench.flag(label, value))
                .await?;
            report.changes.push(change);
        }
        self.collect_errors(&fleet, report);
        for e in fleet.stop().await {
            report.errors += 1;
            report.error_notes.push(format!("agent ended: {e}"));
        }
        let tally = self.front.counters.tally();
        if tally.other + tally.not_found > 0 {
            report.errors += tally.other + tally.not_found;
            report.error_notes.push(format!(
                "front answered {} errors and {} not-found",
                tally.other, tally.not_found
            ));
        }
        Ok(())
    }

    fn collect_errors(&self, fleet: &Fleet, report: &mut Report) {
        let failing = fleet.failing(CHANNEL);
        let status: u64 = fleet.metrics.iter().map(|m| m.status_failures()).sum();
        if failing > 0 || status > 0 {
            report.errors += failing as u64 + status;
            report.error_notes.push(format!(
                "{failing} agents in an error state, {status} status writes failed"
            ));
        }
    }

    /// The fleet just started: requests/s over the first 1.5 T, against N/T.
    async fn restart_rate(&self, n: usize) -> Rate {
        let seconds = (self.config.interval * 1.5).ceil() as usize;
        let from = self.front.counters.second() + 1;
        let bar = self.bar("restart: seconds", seconds as u64);
        tokio::time::sleep(Duration::from_secs_f64(self.config.interval * 1.5 + 1.5)).await;
        bar.finish_and_clear();
        self.rate(from, from + seconds, n)
    }

    /// The request rates at the front and at the origin over seconds `[from, to)`, for `n`
    /// agents.
    fn rate(&self, from: usize, to: usize, n: usize) -> Rate {
        let counters = &self.front.counters;
        let per_second = counters.per_second(from, to);
        let origin_per_second = counters.origin_per_second(from, to);
        let (mean_rps, peak_rps) = rate(&per_second);
        let (origin_mean_rps, origin_peak_rps) = rate(&origin_per_second);
        Rate {
            mean_rps,
            peak_rps,
            origin_mean_rps,
            origin_peak_rps,
            expected_rps: self.expected_rps(n),
            seconds: to.saturating_sub(from),
            per_second,
            origin_per_second,
        }
    }

    async fn idle(&self, fleet: &Fleet) -> Idle {
        let window = self
            .config
            .t()
            .mul_f64(f64::from(self.config.idle_intervals));
        let bar = self.bar("idle: seconds", window.as_secs());
        let (polls0, tally0) = (fleet.polls(CHANNEL), self.front.counters.tally());
        let cpu0 = self.front.cpu_s();
        let from = self.front.counters.second() + 1;
        let started = Instant::now();
        while started.elapsed() < window {
            tokio::time::sleep(Duration::from_millis(500)).await;
            bar.set_position(started.elapsed().as_secs());
        }
        bar.finish_and_clear();
        let to = self.front.counters.second();
        let polls = fleet.polls(CHANNEL) - polls0;
        let t = self.front.counters.tally().since(&tally0);
        let cpu = self.front.cpu_s() - cpu0;
        let per_poll = |x: u64| ratio(x as f64, polls as f64);
        Idle {
            polls,
            requests: t.requests,
            origin_requests: t.origin,
            not_modified: t.not_modified,
            requests_per_poll: per_poll(t.requests),
            bytes_in_per_poll: per_poll(t.bytes_in),
            bytes_out_per_poll: per_poll(t.bytes_out),
            rate: self.rate(from, to, fleet.metrics.len()),
            server_cpu_s_per_1000: self.front.tid.map(|_| ratio(cpu * 1000.0, polls as f64)),
        }
    }

    /// Publishes with `publish`, then measures the change reaching every agent.
    async fn change(
        &self,
        fleet: &Fleet,
        report: &mut Report,
        label: &str,
        publish: impl FnOnce(&Bench) -> Result<PublishRow>,
    ) -> Result<Change> {
        let (tally0, from) = (self.front.counters.tally(), self.front.counters.second());
        let row = publish(self)?;
        let published = Instant::now();
        let generation = head_generation(&self.cairn.store).await?;
        let objects = row.changes;
        report.publishes.push(row);
        let n = fleet.metrics.len();
        let bar = self.bar(&format!("{label}: agents applied"), n as u64);
        let seen = fleet
            .propagation(
                CHANNEL,
                generation,
                published,
                self.config.deadline(),
                |d| bar.set_position(d as u64),
            )
            .await;
        bar.finish_and_clear();
        let t = self.front.counters.tally().since(&tally0);
        let to = self.front.counters.second() + 1;
        Ok(self.change_row(label, objects, generation, &seen, &t, from, to))
    }

    #[allow(clippy::too_many_arguments)]
    fn change_row(
        &self,
        label: &str,
        objects: u64,
        generation: u64,
        seen: &[Option<f64>],
        t: &Tally,
        from: usize,
        to: usize,
    ) -> Change {
        let n = seen.len();
        let per_agent = |x: u64| ratio(x as f64, n as f64);
        Change {
            label: label.to_owned(),
            objects,
            generation,
            agents: n,
            propagation: Spread::of(seen),
            requests_per_agent: per_agent(t.requests),
            origin_requests_per_agent: per_agent(t.origin),
            bytes_in_per_agent: per_agent(t.bytes_in),
            bytes_out_per_agent: per_agent(t.bytes_out),
            rate: self.rate(from, to, n),
        }
    }

    /// `cairn flag set`: a one-object change (the flag ConfigMap).
    fn flag(&self, label: &str, value: &str) -> Result<PublishRow> {
        let started = Instant::now();
        let out = self
            .cairn
            .command()
            .args(["flag", "set", &format!("fleet-flag={value}")])
            .args(["--channel", CHANNEL, "--owner", "bench"])
            .args(["--expires", "2099-01-01", "--key"])
            .arg(&self.cairn.key)
            .arg("--store")
            .arg(&self.cairn.store)
            .env_remove(EnvVars::CAIRN_LOG)
            .output()
            .map_err(|e| Error::Command {
                command: "cairn flag set".to_owned(),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: "cairn flag set".to_owned(),
                message: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(PublishRow {
            label: label.to_owned(),
            changes: 1,
            wall_s: started.elapsed().as_secs_f64(),
            cpu_s: 0.0,
            puts: 0,
        })
    }

    /// A fresh fleet with no state at all fetches the current snapshot.
    async fn cold_start(&self, report: &mut Report) -> Result<Change> {
        let n = self.config.cold_agents;
        let root = self.config.work.join("cold");
        let generation = head_generation(&self.cairn.store).await?;
        let (tally0, from) = (self.front.counters.tally(), self.front.counters.second());
        let started = Instant::now();
        let fleet = Fleet::start(&self.spec(false)?, &root, n)?;
        let bar = self.bar("cold start: agents applied", n as u64);
        let seen = fleet
            .propagation(CHANNEL, generation, started, self.config.deadline(), |d| {
                bar.set_position(d as u64)
            })
            .await;
        bar.finish_and_clear();
        let t = self.front.counters.tally().since(&tally0);
        let to = self.front.counters.second() + 1;
        self.collect_errors(&fleet, report);
        for e in fleet.stop().await {
            report.errors += 1;
            report.error_notes.push(format!("cold agent ended: {e}"));
        }
        let _ = std::fs::remove_dir_all(&root);
        Ok(self.change_row(
            &format!("cold start ({} objects)", self.config.objects),
            self.config.objects as u64,
            generation,
            &seen,
            &t,
            from,
            to,
        ))
    }

    /// One real `cairn-agent` process holding `rss_objects` objects, idle: its VmRSS.
    fn agent_rss(&self) -> Result<u64> {
        let dir = self.config.work.join("rss");
        let manifests = dir.join("manifests");
        write_manifests(&manifests, self.config.rss_objects, &[], 0)?;
        let out = self
            .cairn
            .command()
            .args(["publish", "--channel", "rss", "--key"])
            .arg(&self.cairn.key)
            .arg("--store")
            .arg(&self.cairn.store)
            .arg(&manifests)
            .output()
            .map_err(|e| Error::Command {
                command: "cairn publish --channel rss".to_owned(),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: "cairn publish --channel rss".to_owned(),
                message: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let state = dir.join("state");
        let mut child = Command::new(&self.config.cairn_agent)
            .args([
                "run",
                "--channel",
                "rss",
                "--cluster-id",
                "rss",
                "--interval",
                "5s",
            ])
            .arg("--store")
            .arg(&self.cairn.store)
            .arg("--trust")
            .arg(self.config.work.join("hub.key.pub"))
            .arg("--target")
            .arg(format!("dir:{}", dir.join("target").display()))
            .arg("--state-dir")
            .arg(&state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| Error::Command {
                command: self.config.cairn_agent.display().to_string(),
                message: e.to_string(),
            })?;
        let applied = state.join("channels/rss/state.json");
        let started = Instant::now();
        while !applied.exists() && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(200));
        }
        // Idle for a few polls after converging.
        std::thread::sleep(Duration::from_secs(15));
        let rss = vm_status(&format!("/proc/{}/status", child.id()), "VmRSS:");
        let _ = child.kill();
        let _ = child.wait();
        if !applied.exists() {
            return Err(Error::unexpected(
                "cairn-agent run --channel rss",
                "did not converge in 60 s",
            ));
        }
        Ok(rss)
    }

    fn bar(&self, what: &str, len: u64) -> ProgressBar {
        if self.config.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>28} [{elapsed_precise}] {wide_bar} {pos}/{len}")
        {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        bar
    }
}

/// Writes the manifests (`files`) under `dir`, replacing what is there.
pub fn write_manifests(dir: &Path, m: usize, changed: &[usize], revision: u32) -> Result<()> {
    for file in files(m, changed, revision) {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(file.yaml.as_str()) {
            std::fs::write(&path, file.yaml).map_err(Error::io("write", &path))?;
        }
    }
    Ok(())
}

fn publish(cairn: &Cairn, dir: &Path, label: &str) -> Result<PublishRow> {
    let (usage, published) = cairn.publish(dir, true)?;
    Ok(PublishRow {
        label: label.to_owned(),
        changes: published.changes,
        wall_s: usage.wall_s,
        cpu_s: usage.cpu_s(),
        puts: published.objects_written(),
    })
}

/// The generation of the channel's head in the store (a directory or a URL).
pub async fn head_generation(store: &Path) -> Result<u64> {
    let store = cairn_store::Store::open(&store.to_string_lossy(), &Default::default())?;
    let key = cairn_state_format::layout::head_key(CHANNEL);
    let fetched = store
        .get(&key)
        .await?
        .ok_or_else(|| Error::unexpected(store.url(), format!("{key} is missing")))?;
    Ok(SignedHead::decode(&fetched.bytes)
        .map_err(|e| Error::unexpected(key, e.to_string()))?
        .head
        .generation)
}

/// A `kB` field of a `/proc/.../status` file, in bytes.
pub fn vm_status(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = vm_status("/proc/meminfo", "MemTotal:") >> 30;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {memory} GiB, Linux {}",
        kernel.trim()
    )
}
