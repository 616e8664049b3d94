//! N real agents in one process: each an [`Agent`] with its own state dir, target and metrics,
//! reading through the counting front, writing status records to one shared in-memory store, and
//! reconciling a `dir` target on a tmpfs (or a [`CountingTarget`]). A warm fleet's agents share
//! one [`Shared`] (verified snapshots, the in-memory blob tier and one blob directory, all
//! content-addressed), as agents in one process may; a cold fleet's agents share nothing, so
//! each fetches what a lone agent would.
//!
//! A warm fleet is seeded from one agent that converged for real: its state file and its dir
//! target's bookkeeping are hard-linked into every agent's state dir (agents replace those files
//! by rename and append only to journals, which the seed has none of, so the links never write
//! through), and the target directories start empty. Drift resync is pushed past the run, so no
//! agent rewrites objects it did not change.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::{Agent, ChannelSpec, Config, Metrics, Shared, StoreLocation, TargetSpec, Timing};
use cairn_state_format::PublicKey;

use super::TargetKind;
use super::count::CountingTarget;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How every agent of the fleet is configured.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Where the agents read (the front's URL, or an opened store).
    pub source: StoreLocation,
    /// Where status records go (shared by all agents).
    pub status: cairn_store::Store,
    /// The channel followed.
    pub channel: String,
    /// The trusted key.
    pub trust: PublicKey,
    /// Poll interval T.
    pub interval: Duration,
    /// Jitter as a fraction of T.
    pub jitter: f64,
    /// The agents' target.
    pub target: TargetKind,
    /// What the agents share (`None`: each its own, as separate processes).
    pub shared: Option<Arc<Shared>>,
}

impl Spec {
    /// Agent `id`, with its state under `dir`.
    fn agent(&self, id: usize, dir: &Path) -> Result<Agent, cairn_agent::Error> {
        let mut agent = Agent::builder(self.config(id, dir)?);
        if let Some(shared) = &self.shared {
            agent = agent.shared(shared.clone());
        }
        if self.target == TargetKind::Count {
            agent = agent.target(Arc::new(CountingTarget::default()));
        }
        agent.build()
    }

    fn config(&self, id: usize, dir: &Path) -> Result<Config, cairn_agent::Error> {
        let target = match self.target {
            TargetKind::Dir => TargetSpec::Dir(dir.join("target")),
            TargetKind::Count => TargetSpec::Custom,
        };
        let mut config = Config::new(
            self.source.clone(),
            vec![ChannelSpec::parse(&self.channel)?],
            vec![self.trust],
            &format!("agent-{id:05}"),
            target,
            dir.join("state"),
        );
        config.status_store = Some(StoreLocation::Opened(self.status.clone()));
        config.timing = Timing {
            interval: self.interval,
            jitter: self.jitter,
            resync: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(30),
            ..Timing::default()
        };
        Ok(config)
    }
}

/// A running fleet.
#[derive(Debug)]
pub struct Fleet {
    /// Each agent's metrics, by agent index.
    pub metrics: Vec<Arc<Metrics>>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<Result<(), String>>,
}

/// The state dir of agent `id` under `root`.
pub fn agent_dir(root: &Path, id: usize) -> PathBuf {
    root.join(format!("{:03}", id / 1000))
        .join(format!("{id:05}"))
}

/// Hard-links the converged seed agent's state and target bookkeeping into agents `0..n`.
pub fn seed(
    seed_dir: &Path,
    root: &Path,
    n: usize,
    channel: &str,
    target: TargetKind,
) -> std::io::Result<()> {
    let mut files = vec![
        PathBuf::from("state/channels")
            .join(channel)
            .join("state.json"),
    ];
    if target == TargetKind::Dir {
        files.push(PathBuf::from("state/dir-target").join(format!("{channel}.json")));
    }
    for id in 0..n {
        let dir = agent_dir(root, id);
        for file in &files {
            let to = dir.join(file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let _ = std::fs::remove_file(&to);
            std::fs::hard_link(seed_dir.join(file), &to)?;
        }
    }
    Ok(())
}

impl Fleet {
    /// Starts agents `0..n` with state under `root` (first polls at random offsets in [0, T)).
    pub fn start(spec: &Spec, root: &Path, n: usize) -> Result<Fleet, cairn_agent::Error> {
        let (shutdown, watch) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let mut metrics = Vec::with_capacity(n);
        for id in 0..n {
            let agent = spec.agent(id, &agent_dir(root, id))?;
            metrics.push(agent.metrics().clone());
            let mut watch = watch.clone();
            tasks.spawn(async move {
                let stop = async move {
                    let _ = watch.wait_for(|stop| *stop).await;
                };
                agent.run(stop).await.map_err(|e| e.to_string())
            });
        }
        Ok(Fleet {
            metrics,
            shutdown,
            tasks,
        })
    }

    /// How many agents have applied at least `generation` of `channel`.
    pub fn applied(&self, channel: &str, generation: u64) -> usize {
        self.metrics
            .iter()
            .filter(|m| m.applied_generation(channel) >= generation)
            .count()
    }

    /// Head polls so far, over all agents.
    pub fn polls(&self, channel: &str) -> u64 {
        self.metrics.iter().map(|m| m.polls(channel)).sum()
    }

    /// Agents whose channel currently reports an error.
    pub fn failing(&self, channel: &str) -> usize {
        self.metrics
            .iter()
            .filter(|m| m.last_error(channel).is_some())
            .count()
    }

    /// Seconds from `since` until each agent applied `generation` (sampled every `step`), or
    /// `None` for agents that had not by `deadline`. `tick` is called after each sample.
    pub async fn propagation(
        &self,
        channel: &str,
        generation: u64,
        since: Instant,
        deadline: Duration,
        mut tick: impl FnMut(usize),
    ) -> Vec<Option<f64>> {
        let step = Duration::from_millis(100);
        let mut seen: Vec<Option<f64>> = vec![None; self.metrics.len()];
        let mut done = 0;
        while since.elapsed() < deadline && done < seen.len() {
            let now = since.elapsed().as_secs_f64();
            for (m, at) in self.metrics.iter().zip(seen.iter_mut()) {
                if at.is_none() && m.applied_generation(channel) >= generation {
                    *at = Some(now);
                    done += 1;
                }
            }
            tick(done);
            tokio::time::sleep(step).await;
        }
        seen
    }

    /// Stops every agent and waits for them; returns the errors agents ended with.
    pub async fn stop(mut self) -> Vec<String> {
        let _ = self.shutdown.send(true);
        let mut errors = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(Ok(())))) => {}
                Ok(Some(Ok(Err(e)))) => errors.push(e),
                Ok(Some(Err(e))) => errors.push(e.to_string()),
                Ok(None) => break,
                Err(_) => {
                    errors.push(format!("{} agents did not stop in 60 s", self.tasks.len()));
                    self.tasks.abort_all();
                    break;
                }
            }
        }
        errors
    }
}
