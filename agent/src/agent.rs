//! One agent: its channels, its shared parts, and the two ways to run it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cairn_state_format::{Phase, StatusRecord};
use chrono::Utc;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::cache::BlobCache;
use crate::config::{ChannelSpec, Config};
use crate::context::Ctx;
use crate::discover::{discover, matching};
use crate::error::{Error, Result};
use crate::follower::{first_offset, follow, sleep_or_shutdown};
use crate::metrics::Metrics;
use crate::reconcile::{Channel, PassResult};
use crate::remote::Remote;
use crate::report::Reporter;
use crate::shared::Shared;
use crate::state::StateDir;
use crate::{source, target};

/// How a `run --once` pass ended, and the process exit code that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every channel is converged (exit 0).
    Converged,
    /// Something failed or a head was refused; the previous state is kept (exit 1).
    Failed,
    /// Nothing failed, but a channel waits (rollout step not open, no head published yet)
    /// (exit 3).
    Waiting,
}

impl Outcome {
    /// The process exit code (2 is left for configuration errors).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Converged => 0,
            Outcome::Failed => 1,
            Outcome::Waiting => 3,
        }
    }

    fn of(phase: Phase) -> Outcome {
        match phase {
            Phase::Converged => Outcome::Converged,
            Phase::Failed | Phase::Frozen | Phase::Degraded => Outcome::Failed,
            Phase::Pending | Phase::Progressing | Phase::Waiting => Outcome::Waiting,
        }
    }

    fn worst(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Failed, _) | (_, Outcome::Failed) => Outcome::Failed,
            (Outcome::Waiting, _) | (_, Outcome::Waiting) => Outcome::Waiting,
            _ => Outcome::Converged,
        }
    }
}

/// What one `run --once` pass found.
#[derive(Clone, Debug)]
pub struct OnceReport {
    /// The overall outcome.
    pub outcome: Outcome,
    /// Each channel's status record after its pass (torn-down channels included).
    pub channels: Vec<StatusRecord>,
    /// Problems outside any one channel (a failed listing of channels).
    pub errors: Vec<String>,
}

/// One agent, ready to run.
#[derive(Debug)]
pub struct Agent {
    ctx: Arc<Ctx>,
    channels: Vec<ChannelSpec>,
    listener: Option<std::net::TcpListener>,
    /// Whether this agent leads (always, unless the target runs an election).
    leading: watch::Sender<bool>,
    /// Channels of `run_once` passes, kept between passes of the same agent.
    once: tokio::sync::Mutex<HashMap<String, (Channel, Reporter)>>,
}

impl Agent {
    /// Checks the configuration and opens the store, target, state dir and caches. Fails only on
    /// configuration problems: an unreachable store is not one (the agent waits for it).
    pub fn new(config: Config) -> Result<Agent> {
        Agent::with_shared(config, crate::shared::own())
    }

    /// Like [`Agent::new`], sharing content-addressed caches and HTTP clients with the other
    /// agents given the same `shared` (for processes that run many agents).
    pub fn with_shared(config: Config, shared: Arc<Shared>) -> Result<Agent> {
        config.validate()?;
        let timeout = config.timing.request_timeout;
        // An object store is opened once and serves both reads and status writes.
        let (source, main_store) = match &config.store {
            location if location.is_http() => (source::open(location, timeout, &shared)?, None),
            location => {
                let store = source::open_writable(location, timeout)?;
                let source: Arc<dyn source::Source> =
                    Arc::new(source::ObjectSource::new(store.clone()));
                (source, Some(store))
            }
        };
        let status = match (&config.status_store, main_store) {
            (Some(location), _) => Some(source::open_writable(location, timeout)?),
            (None, Some(store)) => Some(store),
            (None, None) => {
                tracing::warn!(
                    store = %config.store.describe(),
                    "the store is a read-only HTTP store and no --status-store was given: status reporting is off"
                );
                None
            }
        };
        let target = target::open(&config)?;
        let elected = matches!(config.target, crate::config::TargetSpec::Kube)
            && config.kube.election.is_some();
        // Without an election this agent always leads.
        let (leading, leader) = watch::channel(!elected);
        let metrics = Arc::new(Metrics::new());
        let listener = match config.metrics_addr {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr).map_err(|e| {
                    Error::Config(format!("--metrics-addr {addr}: cannot listen: {e}"))
                })?;
                listener
                    .set_nonblocking(true)
                    .map_err(|e| Error::Config(format!("--metrics-addr {addr}: {e}")))?;
                Some(listener)
            }
            None => None,
        };
        let ctx = Ctx {
            cluster_id: config.cluster_id.clone(),
            labels: config.labels.clone(),
            keys: config.trust.clone(),
            timing: config.timing.clone(),
            remote: Remote::new(source, metrics.clone()),
            status,
            cache: BlobCache::with_memory(
                &shared.blob_dir(&config.state_dir.join("blobs")),
                shared.memory(config.memory_cache_bytes),
            ),
            state: StateDir::with_backend(
                &config.state_dir,
                target.state_backend(),
                shared.clone(),
            ),
            target,
            leader,
            metrics,
            started_at: Utc::now(),
            shared,
        };
        Ok(Agent {
            ctx: Arc::new(ctx),
            channels: config.channels,
            listener,
            leading,
            once: tokio::sync::Mutex::default(),
        })
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.ctx.metrics
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    fn named(&self) -> HashSet<String> {
        self.channels
            .iter()
            .filter_map(|c| match c {
                ChannelSpec::Name(n) => Some(n.clone()),
                ChannelSpec::Pattern(_) => None,
            })
            .collect()
    }

    fn patterns(&self) -> Vec<ChannelSpec> {
        self.channels
            .iter()
            .filter(|c| matches!(c, ChannelSpec::Pattern(_)))
            .cloned()
            .collect()
    }

    /// One reconcile pass over every channel (checking the target for drift), then returns.
    /// A single pass takes part in no leader election: it leads.
    pub async fn run_once(&self) -> OnceReport {
        let ctx = &self.ctx;
        self.leading.send_replace(true);
        let named = self.named();
        let patterns = self.patterns();
        let mut errors = Vec::new();
        let mut outcome = Outcome::Converged;
        let mut work: Vec<(String, bool)> = {
            let mut names: Vec<String> = named.iter().cloned().collect();
            names.sort();
            names.into_iter().map(|n| (n, false)).collect()
        };
        if !patterns.is_empty() {
            let mut candidates: BTreeSet<String> = ctx.state.channels().await.into_iter().collect();
            match ctx.remote.list_channels().await {
                Ok(listed) => candidates.extend(listed),
                Err(e) => {
                    outcome = Outcome::Failed;
                    errors.push(format!("cannot list channels: {e}"));
                }
            }
            work.extend(
                matching(&patterns, &named, candidates)
                    .into_iter()
                    .map(|n| (n, true)),
            );
        }
        let mut channels = Vec::new();
        let mut kept = self.once.lock().await;
        for (name, discovered) in work {
            if !kept.contains_key(&name) {
                let channel = Channel::load(ctx, &name, discovered).await;
                kept.insert(name.clone(), (channel, Reporter::new()));
            }
            let Some((channel, reporter)) = kept.get_mut(&name) else {
                continue;
            };
            let result = channel.pass(ctx, true).await;
            match result {
                PassResult::TornDown if discovered => reporter.remove(ctx, &name).await,
                _ => reporter.report(ctx, channel.status()).await,
            }
            let phase = match result {
                PassResult::TornDown => Phase::Converged,
                _ => channel.status().phase,
            };
            outcome = outcome.worst(Outcome::of(phase));
            channels.push(channel.status().clone());
            if matches!(result, PassResult::TornDown) && discovered {
                kept.remove(&name);
            }
        }
        OnceReport {
            outcome,
            channels,
            errors,
        }
    }

    /// Runs until `shutdown` completes, then drains in-flight work for at most the drain timeout.
    /// Store outages, refused heads and failed applies never end it.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let ctx = self.ctx.clone();
        let (stop, stopped) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();

        if let Some(listener) = self.listener.take() {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|e| Error::Config(format!("--metrics-addr: {e}")))?;
            let (metrics, ready, stopped) = (ctx.metrics.clone(), ready.clone(), stopped.clone());
            tasks.spawn(crate::server::serve(listener, metrics, ready, stopped));
        }
        if let Some(campaign) = ctx.target.elect(self.leading.clone(), stopped.clone()) {
            tasks.spawn(campaign);
        }
        let mut firsts = Vec::new();
        let mut named: Vec<String> = self.named().into_iter().collect();
        named.sort();
        for name in named {
            let (tx, rx) = oneshot::channel();
            firsts.push(rx);
            let (ctx, mut stopped) = (ctx.clone(), stopped.clone());
            tasks.spawn(async move {
                // Loading waits for the first offset too, so a restart spreads its work.
                if first_offset(&ctx, &mut stopped).await {
                    return;
                }
                let channel = Channel::load(&ctx, &name, false).await;
                follow(ctx, channel, stopped, Some(tx)).await;
            });
        }
        {
            let (ctx, mut stopped) = (ctx.clone(), stopped.clone());
            tasks.spawn(async move {
                while !sleep_or_shutdown(ctx.timing.resync, &mut stopped).await {
                    sweep_cache(&ctx, ctx.timing.resync).await;
                }
            });
        }
        let patterns = self.patterns();
        if !patterns.is_empty() {
            tasks.spawn(discover(
                ctx.clone(),
                patterns,
                self.named(),
                stopped.clone(),
            ));
        }
        {
            let ready = ready.clone();
            tasks.spawn(async move {
                for rx in firsts {
                    let _ = rx.await;
                }
                ready.store(true, Ordering::Relaxed);
            });
        }

        shutdown.await;
        tracing::info!(drain = ?ctx.timing.drain, "shutting down");
        let _ = stop.send(true);
        let drained = tokio::time::timeout(ctx.timing.drain, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight work did not finish within the drain timeout; stopping it");
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }
}

/// Removes cached blobs that no persisted channel, and no snapshot in use in the process, refers
/// to and that are older than `grace` (younger ones may belong to a reconcile in flight).
async fn sweep_cache(ctx: &Ctx, grace: Duration) {
    let mut keep: HashSet<_> = ctx.shared.trees.blobs().into_iter().collect();
    for name in ctx.state.channels().await {
        if let Ok(Some(applied)) = ctx.state.load(&name).await {
            keep.extend(applied.entries().values().map(|e| e.blob));
        }
    }
    let removed = ctx.cache.sweep(keep, grace).await;
    if removed > 0 {
        tracing::info!(removed, "removed unused blobs from the cache");
    }
}
