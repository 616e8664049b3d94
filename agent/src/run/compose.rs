//! From a configuration to the parts of one agent: the store it reads (and the one it writes
//! status to), the target, where its state lives, and the election it campaigns in. The Kubernetes
//! target, the in-cluster state and the election share one connection to the cluster.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;

use super::{Ctx, Replicas};
use crate::cluster::Cluster;
use crate::config::{Config, TargetSpec};
use crate::election::{Campaign, KubeLease, Leadership, Standing};
use crate::error::{ConfigError, Result};
use crate::fetch::Shared;
use crate::fetch::cache::BlobCache;
use crate::fetch::remote::Remote;
use crate::fetch::source::{self, ObjectSource, Source};
use crate::metrics::Metrics;
use crate::reconcile::{self, Identity, Reader};
use crate::state::{StateBackend, StateDir};
use crate::targets::{DirTarget, KubeTarget, Target};
use crate::trust::TrustChain;

/// The election's own request budget: a renewal per retry period, a few acquisition attempts.
const LEASE_QPS: f64 = 5.0;
const LEASE_BURST: u32 = 10;

/// An agent's parts, ready to run.
pub(super) struct Parts {
    pub ctx: Ctx,
    pub leading: watch::Sender<Standing>,
    pub campaign: Option<Campaign>,
}

/// The target, where state lives when not in the state directory, and the election.
struct Placement {
    target: Arc<dyn Target>,
    backend: Option<Arc<dyn StateBackend>>,
    campaign: Option<Campaign>,
}

impl Parts {
    /// Opens everything `config` names (it was validated, with `target` and `replicas`).
    pub fn open(
        config: &Config,
        shared: Arc<Shared>,
        target: Option<Arc<dyn Target>>,
        replicas: Option<Replicas>,
    ) -> Result<Parts> {
        let (source, status) = stores(config, &shared)?;
        let placement = place(config, target, replicas)?;
        // Without an election this agent always leads.
        let standing = match placement.campaign {
            None => Standing::ALWAYS,
            Some(_) => Standing::Following,
        };
        let (leading, leader) = watch::channel(standing);
        let metrics = Arc::new(Metrics::new());
        let reconcile = reconcile::Ctx {
            identity: Identity {
                cluster_id: config.cluster_id.clone(),
                labels: config.labels.clone(),
                started_at: Utc::now(),
            },
            state: StateDir::with_backend(&config.state_dir, placement.backend, shared.clone()),
            reader: Reader {
                remote: Remote::new(source, metrics.clone()),
                cache: BlobCache::with_memory(
                    &shared.blob_dir(&config.state_dir.join("blobs")),
                    shared.memory(config.memory_cache_bytes),
                ),
                shared,
                trust: TrustChain::new(&config.trust),
                accept_epochs: config.accept_epochs.clone(),
            },
            target: placement.target,
            leader: Leadership::new(leader),
            metrics,
        };
        let ctx = Ctx {
            reconcile,
            timing: config.timing.clone(),
            status,
        };
        Ok(Parts {
            ctx,
            leading,
            campaign: placement.campaign,
        })
    }
}

/// The store read, and the store status records are written to. An object store is opened once
/// and serves both.
fn stores(
    config: &Config,
    shared: &Shared,
) -> Result<(Arc<dyn Source>, Option<cairn_store::Store>)> {
    let timeout = config.timing.request_timeout;
    let (source, main_store) = match &config.store {
        location if location.is_http() => (source::open(location, timeout, shared)?, None),
        location => {
            let store = source::open_writable(location, timeout)?;
            let source: Arc<dyn Source> = Arc::new(ObjectSource::new(store.clone()));
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
    Ok((source, status))
}

/// The target the configuration names; with `kube`, also the in-cluster state and the
/// election, all through one connection. The directory target keeps its bookkeeping under the
/// state dir. Other targets elect a leader when the library caller gives them [`Replicas`].
fn place(
    config: &Config,
    custom: Option<Arc<dyn Target>>,
    replicas: Option<Replicas>,
) -> Result<Placement> {
    let target: Arc<dyn Target> = match (&config.target, custom) {
        (TargetSpec::Dir(root), _) => {
            Arc::new(DirTarget::open(root, &config.state_dir.join("dir-target"))?)
        }
        (TargetSpec::Kube, _) => return Ok(place_in_cluster(config)),
        (TargetSpec::Custom, Some(target)) => target,
        (TargetSpec::Custom, None) => {
            let why = "a custom target is given with AgentBuilder::target";
            return Err(ConfigError::invalid("--target", why).into());
        }
    };
    let (backend, campaign) = match replicas {
        Some(replicas) => (
            Some(replicas.state),
            Some(Campaign {
                election: replicas.election,
                lock: replicas.lease,
            }),
        ),
        None => (None, None),
    };
    Ok(Placement {
        target,
        backend,
        campaign,
    })
}

/// The Kubernetes target, its state in ConfigMaps and its election's Lease, through one
/// connection.
fn place_in_cluster(config: &Config) -> Placement {
    let kube = &config.kube;
    let cluster = Arc::new(Cluster::new(kube.kubeconfig.clone(), kube.qps, kube.burst));
    // The target records each pass in the channel's ApplySet parent, which is the state
    // ConfigMap: they share it.
    let target = KubeTarget::new(cluster, kube.clone());
    let state: Arc<dyn StateBackend> = target.state();
    Placement {
        target: Arc::new(target),
        backend: Some(state),
        campaign: kube.election.clone().map(|election| {
            // The Lease gets a connection of its own: renewals must never queue behind a large
            // apply in the target's token bucket (they are a few requests per retry period).
            let cluster = Arc::new(Cluster::new(
                kube.kubeconfig.clone(),
                LEASE_QPS,
                LEASE_BURST,
            ));
            Campaign {
                lock: Arc::new(KubeLease::new(cluster, &kube.namespace, &election.lease)),
                election,
            }
        }),
    }
}
