//! An agent being put together: its configuration (plain data), and what a library caller brings
//! that a configuration cannot name: a target of its own, replicas that meet in memory, caches
//! shared with the other agents of its process.

use std::sync::Arc;

use super::Agent;
use super::compose::Parts;
use crate::config::{Config, Election, TargetSpec};
use crate::election::LeaseLock;
use crate::error::{ConfigError, Result};
use crate::fetch::Shared;
use crate::state::StateBackend;
use crate::targets::Target;

/// Replicas of one agent that meet somewhere other than a Kubernetes API server: a lease and a
/// state backend the library caller shares between them (the fleet load tester simulates R
/// replicas per cluster in memory with [`crate::election::MemoryLease`] and
/// [`crate::MemoryState`]). With `--target kube`, `--leader-elect` does the same through the
/// cluster's Lease and ConfigMaps.
#[derive(Clone, Debug)]
pub struct Replicas {
    /// The election's settings.
    pub election: Election,
    /// The lease the replicas compete for.
    pub lease: Arc<dyn LeaseLock>,
    /// Where the leader records what it applied, and followers follow it.
    pub state: Arc<dyn StateBackend>,
}

/// A [`Config`] and what goes beside it; [`AgentBuilder::build`] checks them together.
#[derive(Debug)]
pub struct AgentBuilder {
    config: Config,
    shared: Option<Arc<Shared>>,
    target: Option<Arc<dyn Target>>,
    replicas: Option<Replicas>,
}

impl AgentBuilder {
    /// An agent of `config`, with nothing beside it yet.
    pub fn new(config: Config) -> AgentBuilder {
        AgentBuilder {
            config,
            shared: None,
            target: None,
            replicas: None,
        }
    }

    /// Shares content-addressed caches and HTTP clients with the other agents given `shared`
    /// (by default an agent keeps its own).
    pub fn shared(mut self, shared: Arc<Shared>) -> AgentBuilder {
        self.shared = Some(shared);
        self
    }

    /// The target of a configuration that names [`TargetSpec::Custom`] (an embedding host, the
    /// fleet load tester's counting target).
    pub fn target(mut self, target: Arc<dyn Target>) -> AgentBuilder {
        self.target = Some(target);
        self
    }

    /// Makes this agent one of `replicas`, which elect a leader through a lease the library
    /// caller keeps (not with `--target kube`, whose replicas elect through the cluster).
    pub fn replicas(mut self, replicas: Replicas) -> AgentBuilder {
        self.replicas = Some(replicas);
        self
    }

    /// Checks the configuration and opens the store, target, state dir and caches. Fails only on
    /// configuration problems: an unreachable store is not one (the agent waits for it).
    pub fn build(self) -> Result<Agent> {
        self.config.validate()?;
        self.validate()?;
        let shared = self.shared.unwrap_or_default();
        let parts = Parts::open(&self.config, shared, self.target, self.replicas)?;
        let listener = match self.config.metrics_addr {
            Some(addr) => Some(listen(addr)?),
            None => None,
        };
        Ok(Agent {
            ctx: Arc::new(parts.ctx),
            channels: self.config.channels,
            listener,
            leading: parts.leading,
            campaign: parts.campaign,
            once: tokio::sync::Mutex::default(),
        })
    }

    /// Whether what goes beside the configuration agrees with it.
    fn validate(&self) -> Result<(), ConfigError> {
        // A custom target that is missing is found when the target is placed.
        if matches!(&self.config.target, TargetSpec::Dir(_) | TargetSpec::Kube)
            && self.target.is_some()
        {
            return Err(ConfigError::invalid(
                "--target",
                "a target given with AgentBuilder::target needs TargetSpec::Custom",
            ));
        }
        if let Some(replicas) = &self.replicas {
            if self.config.target == TargetSpec::Kube {
                return Err(ConfigError::invalid(
                    "--leader-elect",
                    "with --target kube the replicas elect a leader through the cluster: use --leader-elect, not a library lease",
                ));
            }
            replicas.election.validate()?;
        }
        Ok(())
    }
}

/// Binds the metrics address before any work starts, so a taken port is a configuration error.
fn listen(addr: std::net::SocketAddr) -> Result<std::net::TcpListener, ConfigError> {
    let failed = |source| ConfigError::Listen { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    Ok(listener)
}
