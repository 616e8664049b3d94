//! The soak's loop: set up a store and a channel, start the processes, then publish tick after
//! tick and sample everything until the time or the generations run out.

use std::time::{Duration, Instant};

use cairn_state_format::layout;
use cairn_store::Store;

use super::changes::{Change, Manifests, drift};
use super::processes::{self, Watched};
use super::report::growth;
use super::{AgentSample, Config, ProcessSample, Report, Sample, probe};
use crate::error::{Error, Result};
use crate::measure;
use crate::scaling::cairn::{CHANNEL, Cairn};
use crate::status_scale;

/// The `cairn ui` pages fetched at every sample.
const UI_PAGES: &[&str] = &[
    "/",
    "/channels/bench",
    "/channels/bench/clusters",
    "/channels/bench/history",
];

/// Each simulated cluster reports every this many ticks.
const REPORTING_EVERY: usize = 50;

/// What the loop works with.
struct Soak<'a> {
    config: &'a Config,
    cairn: Cairn,
    manifests: Manifests,
    status: Store,
    agents: Vec<Watched>,
    hub: Vec<Watched>,
    published: u64,
    report: Report,
    started: Instant,
}

/// Runs the soak `config` describes and returns its samples and fitted growth.
pub async fn run(config: &Config) -> Result<Report> {
    let work = &config.work;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(Error::io("create", work))?;
    let cairn = Cairn::new(&config.cairn, work, None)?;
    let manifests = Manifests::create(&work.join("manifests"), config.objects)?;
    let (_, first) = cairn.publish(&manifests.dir, true)?;
    let status = Store::open(&cairn.store.to_string_lossy(), &Default::default())?;
    let trust = work.join("hub.key.pub");
    let agents = (1..=config.agents)
        .map(|n| processes::agent(config, n, &cairn.store, &trust))
        .collect::<Result<Vec<_>>>()?;
    let hub = if config.hub {
        vec![
            processes::ui(config, &cairn.store)?,
            processes::status_watch(config, &cairn.store)?,
        ]
    } else {
        Vec::new()
    };
    let mut soak = Soak {
        config,
        cairn,
        manifests,
        status,
        agents,
        hub,
        published: first.generation,
        report: Report {
            settings: settings(config),
            ..Report::default()
        },
        started: Instant::now(),
    };
    soak.simulated_reports(0..config.simulated_clusters).await?;
    soak.run().await?;
    let Soak { mut report, .. } = soak;
    report.growth = growth(config, &report.samples);
    Ok(report)
}

impl Soak<'_> {
    async fn run(&mut self) -> Result<()> {
        let config = self.config;
        let mut next_sample = Instant::now();
        let mut tick = 0;
        loop {
            let elapsed = self.started.elapsed();
            let enough = config.generations > 0 && self.published >= config.generations;
            if elapsed >= config.duration || enough {
                break;
            }
            tick += 1;
            self.tick(tick).await?;
            if config.lockstep {
                self.wait_for_agents().await;
            }
            if Instant::now() >= next_sample {
                self.sample()?;
                next_sample += config.sample_every;
            }
            let due = self.started + config.every * u32::try_from(tick).unwrap_or(u32::MAX);
            tokio::time::sleep_until(due.into()).await;
        }
        self.wait_for_agents().await;
        self.sample()
    }

    /// One tick of the pattern.
    async fn tick(&mut self, tick: u64) -> Result<()> {
        let pattern = &self.config.pattern;
        let revision = u32::try_from(tick).unwrap_or(u32::MAX);
        match pattern.change(tick, self.manifests.objects()) {
            Change::Single(i) => {
                self.manifests.write(i, revision)?;
                self.publish()?;
                self.report.ticks.single += 1;
            }
            Change::Burst(objects) => {
                for i in objects {
                    self.manifests.write(i, revision)?;
                    self.publish()?;
                }
                self.report.ticks.bursts += 1;
            }
            Change::Large(objects) => {
                for i in objects {
                    self.manifests.write(i, revision)?;
                }
                self.publish()?;
                self.report.ticks.large += 1;
            }
        }
        if pattern.drifts(tick) && !self.agents.is_empty() {
            let which = (tick / pattern.drift_every) as usize % self.agents.len();
            if let Some((_, target)) = &self.agents[which].dirs
                && drift(target, tick)?
            {
                self.report.ticks.drifts += 1;
            }
        }
        if pattern.collects(tick) {
            self.collect()?;
        }
        // A fiftieth of the simulated fleet reports at every tick.
        let first = (tick as usize) % REPORTING_EVERY;
        self.simulated_reports((first..self.config.simulated_clusters).step_by(REPORTING_EVERY))
            .await
    }

    fn publish(&mut self) -> Result<()> {
        let (_, published) = self.cairn.publish(&self.manifests.dir, true)?;
        if published.unchanged {
            return Err(Error::unexpected(
                "cairn publish",
                "a change was published as unchanged",
            ));
        }
        self.published = published.generation;
        Ok(())
    }

    fn collect(&mut self) -> Result<()> {
        let mut command = self.cairn.command();
        let grace = format!("{}s", self.config.pattern.gc_grace.as_secs());
        command
            .args(["gc", "--keep", "20", "--grace", &grace, "--store"])
            .arg(&self.cairn.store);
        measure::run(&mut command)?;
        self.report.ticks.gcs += 1;
        Ok(())
    }

    /// Status records of simulated clusters `clusters`, reporting the newest generation.
    async fn simulated_reports(&self, clusters: impl Iterator<Item = usize>) -> Result<()> {
        for i in clusters {
            let mut record = status_scale::record(i, 0);
            record.channel = CHANNEL.to_owned();
            if let Some(applied) = &mut record.applied {
                applied.generation = self.published;
            }
            record.observed_generation = Some(self.published);
            record.updated_at = chrono::Utc::now();
            let key = layout::status_key(CHANNEL, &record.cluster);
            self.status.put(&key, record.encode()).await?;
        }
        Ok(())
    }

    /// Waits until every agent applied the newest generation, or gives up after 20 poll
    /// intervals and a minute (counting what was missed).
    async fn wait_for_agents(&mut self) {
        let deadline = Instant::now() + self.config.interval * 20 + Duration::from_secs(60);
        loop {
            let behind: u64 = self
                .agents
                .iter()
                .map(|a| self.published.saturating_sub(applied(a)))
                .sum();
            if behind == 0 {
                return;
            }
            if Instant::now() >= deadline {
                self.report.missed += behind;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Samples every process, the state dirs, the store and the web view.
    fn sample(&mut self) -> Result<()> {
        let mut sample = Sample {
            at_s: self.started.elapsed().as_secs_f64(),
            published: self.published,
            ..Sample::default()
        };
        for watched in self.agents.iter_mut().chain(self.hub.iter_mut()) {
            if !watched.running() {
                return Err(Error::unexpected(
                    watched.name.clone(),
                    format!(
                        "exited during the soak (see its log under {})",
                        self.config.work.display()
                    ),
                ));
            }
            sample.processes.push(ProcessSample {
                name: watched.name.clone(),
                rss_bytes: probe::rss_bytes(watched.pid()).unwrap_or(0),
                fds: probe::open_fds(watched.pid()).unwrap_or(0),
            });
        }
        for agent in &self.agents {
            let metrics = probe::metrics(agent.addr, "cairn_agent_").unwrap_or_default();
            let (state_files, state_bytes) = agent
                .dirs
                .as_ref()
                .map_or((0, 0), |(state, _)| probe::dir_usage(state));
            sample.agents.push(AgentSample {
                applied: probe::total(&metrics, "cairn_agent_applied_generation") as u64,
                errors: probe::total(&metrics, "cairn_agent_errors_total") as u64,
                polls: probe::total(&metrics, "cairn_agent_polls_total") as u64,
                state_files,
                state_bytes,
            });
        }
        (sample.store_objects, sample.store_bytes) = probe::dir_usage(&self.cairn.store);
        if let Some(ui) = self.hub.first() {
            for page in UI_PAGES {
                self.report.ui_pages.0 += 1;
                if processes::get(ui.addr, page) != Some(200) {
                    self.report.ui_pages.1 += 1;
                }
            }
        }
        if !self.config.quiet {
            progress(&sample);
        }
        self.report.samples.push(sample);
        Ok(())
    }
}

/// The generation agent `a` applied, per its metrics (0 if it does not answer).
fn applied(a: &Watched) -> u64 {
    probe::metrics(a.addr, "cairn_agent_applied_generation").map_or(0, |m| {
        probe::total(&m, "cairn_agent_applied_generation") as u64
    })
}

fn progress(sample: &Sample) {
    let rss: Vec<String> = sample
        .processes
        .iter()
        .map(|p| {
            format!(
                "{} {:.1} MiB/{} fds",
                p.name,
                p.rss_bytes as f64 / 1048576.0,
                p.fds
            )
        })
        .collect();
    eprintln!(
        "soak: {:>6.0} s  generation {}  {}  store {} objects",
        sample.at_s,
        sample.published,
        rss.join(", "),
        sample.store_objects
    );
}

fn settings(config: &Config) -> String {
    let p = &config.pattern;
    let d = |d: Duration| humantime::format_duration(d).to_string();
    format!(
        "{} agent(s), {} objects, dir targets, --interval {} --resync {}; a publish every {}{}; \
         bursts of {} every {} ticks, {} % of the objects every {} ticks, a drift every {} ticks, \
         gc every {} ticks (grace {}); {} simulated clusters{}",
        config.agents,
        config.objects,
        d(config.interval),
        d(config.resync),
        d(config.every),
        if config.lockstep { " (lockstep)" } else { "" },
        p.burst_size,
        p.burst_every,
        p.large_percent,
        p.large_every,
        p.drift_every,
        p.gc_every,
        d(p.gc_grace),
        config.simulated_clusters,
        if config.hub {
            "; cairn ui and cairn status --watch"
        } else {
            ""
        },
    )
}
