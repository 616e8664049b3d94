//! Running an agent: composing its parts (store, target, state, election, metrics server), and
//! the long-running loop, every task of which is supervised. The top of the crate: it imports
//! every part and nothing imports it.
//!
//! - [`builder`]: a [`Config`] and what a library caller brings beside it (its own target,
//!   replicas meeting in memory, caches shared with other agents) → an [`Agent`];
//!   [`compose`]: from those to the parts one agent shares between its channels ([`Ctx`]).
//! - [`supervisor`]: every spawned task's end is observed; followers restart, services fail.
//! - [`follower`]: one channel's loop; [`schedule`]: when it polls next; [`report`]: its status
//!   records.
//! - [`discover`]: channel patterns; [`once`]: a single pass (`run --once`); [`sweep`]: the blob
//!   cache's clean-up.

mod builder;
mod compose;
mod context;
mod discover;
mod follower;
mod once;
mod report;
mod schedule;
mod supervisor;
mod sweep;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

pub use builder::{AgentBuilder, Replicas};
use context::Ctx;
use discover::{Membership, discover};
pub use once::{OnceReport, Outcome};
use report::Reporter;
use supervisor::{Start, Supervisor};

use crate::config::{ChannelSpec, Config};
use crate::election::{Campaign, Standing};
use crate::error::{ConfigError, Result};
use crate::fetch::Shared;
use crate::metrics::Metrics;
use crate::reconcile::Channel;
use crate::serve::Readiness;

/// One agent, ready to run.
#[derive(Debug)]
pub struct Agent {
    ctx: Arc<Ctx>,
    channels: Vec<ChannelSpec>,
    listener: Option<std::net::TcpListener>,
    /// Whether this agent leads (always, unless it campaigns in an election).
    leading: watch::Sender<Standing>,
    /// The election this replica campaigns in, if any.
    campaign: Option<Campaign>,
    /// Channels of `run_once` passes, kept between passes of the same agent.
    once: tokio::sync::Mutex<HashMap<String, (Channel, Reporter)>>,
}

impl Agent {
    /// Checks the configuration and opens the store, target, state dir and caches. Fails only on
    /// configuration problems: an unreachable store is not one (the agent waits for it).
    pub fn new(config: Config) -> Result<Agent> {
        Agent::builder(config).build()
    }

    /// Like [`Agent::new`], sharing content-addressed caches and HTTP clients with the other
    /// agents given the same `shared` (for processes that run many agents).
    pub fn with_shared(config: Config, shared: Arc<Shared>) -> Result<Agent> {
        Agent::builder(config).shared(shared).build()
    }

    /// An agent of `config`, with what a library caller may bring beside it (see
    /// [`AgentBuilder`]).
    pub fn builder(config: Config) -> AgentBuilder {
        AgentBuilder::new(config)
    }

    /// The agent's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.ctx.reconcile.metrics
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

    /// Runs until `shutdown` completes, then drains in-flight work for at most the drain timeout.
    /// Store outages, refused heads and failed applies never end it; a follower that fails is
    /// restarted; a task the agent cannot run without that ends early ends it with an error.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let ctx = self.ctx.clone();
        let (stop, stopped) = watch::channel(false);
        let readiness = Arc::new(Readiness::default());
        let membership = Arc::new(Membership::default());
        let mut supervisor = Supervisor::new(
            ctx.clone(),
            stopped.clone(),
            readiness.clone(),
            membership.clone(),
        );
        self.start_services(&mut supervisor, readiness, &stopped)?;
        let mut named: Vec<String> = self.named().into_iter().collect();
        named.sort();
        for name in named {
            supervisor.follow(name, false, Start::Offset);
        }
        let discovered = self.start_discovery(&mut supervisor, membership, stopped);
        let outcome = supervisor.watch(shutdown, discovered).await;
        match &outcome {
            Ok(()) => tracing::info!(drain = ?ctx.timing.drain, "shutting down"),
            Err(error) => tracing::error!(%error, "stopping the agent"),
        }
        let _ = stop.send(true);
        supervisor.drain(ctx.timing.drain).await;
        outcome
    }

    /// Starts what the agent cannot run without: the metrics server (when it has an address),
    /// the election (when it campaigns) and the cache sweeper.
    fn start_services(
        &mut self,
        supervisor: &mut Supervisor,
        readiness: Arc<Readiness>,
        stopped: &watch::Receiver<bool>,
    ) -> Result<()> {
        if let Some(listener) = self.listener.take() {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|source| {
                ConfigError::Listen {
                    addr: self.metrics_addr().unwrap_or(([0, 0, 0, 0], 0).into()),
                    source,
                }
            })?;
            let metrics = self.metrics().clone();
            let serve = crate::serve::serve(listener, metrics, readiness, stopped.clone());
            supervisor.service("metrics server", serve);
        }
        if let Some(campaign) = self.campaign.take() {
            supervisor.service(
                "leader election",
                campaign.run(self.leading.clone(), stopped.clone()),
            );
        }
        let sweeper = sweep::sweep_cache_every(self.ctx.clone(), stopped.clone());
        supervisor.service("cache sweeper", sweeper);
        Ok(())
    }

    /// Starts channel discovery when a channel is a pattern; the channels it finds come on the
    /// receiver returned.
    fn start_discovery(
        &self,
        supervisor: &mut Supervisor,
        membership: Arc<Membership>,
        stopped: watch::Receiver<bool>,
    ) -> Option<mpsc::UnboundedReceiver<String>> {
        let patterns = self.patterns();
        if patterns.is_empty() {
            return None;
        }
        let (start, starts) = mpsc::unbounded_channel();
        let discovery = discover(
            self.ctx.clone(),
            patterns,
            self.named(),
            membership,
            start,
            stopped,
        );
        supervisor.service("channel discovery", discovery);
        Some(starts)
    }
}
