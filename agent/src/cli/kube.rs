//! The flags of the Kubernetes target (`--target kube`), and the election of its replicas
//! (`--leader-elect`).

use std::path::PathBuf;
use std::time::Duration;

use cairn_env_vars::EnvVars;

use crate::config::{
    DEFAULT_BURST, DEFAULT_QPS, DriftMode, DriftPolicy, Election, KubeOptions, Propagation,
};
use crate::error::PolicyError;

/// Flags of the Kubernetes target (`--target kube`).
#[derive(Debug, clap::Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: the in-cluster service account, else ~/.kube/config).
    #[arg(long, env = EnvVars::CAIRN_KUBECONFIG)]
    pub kubeconfig: Option<PathBuf>,

    /// The agent's own namespace, where its state ConfigMaps and Lease live.
    #[arg(long, env = EnvVars::CAIRN_AGENT_NAMESPACE, default_value = "cairn-system")]
    pub agent_namespace: String,

    /// Server-side apply field manager.
    #[arg(long, env = EnvVars::CAIRN_FIELD_MANAGER, default_value = "cairn")]
    pub field_manager: String,

    /// Take over fields other field managers own when applying (`--force-conflicts=false`
    /// reports conflicts instead).
    #[arg(long, env = EnvVars::CAIRN_FORCE_CONFLICTS, default_value_t = true, action = clap::ArgAction::Set)]
    pub force_conflicts: bool,

    /// Take over existing objects cairn did not create (by default they are refused).
    #[arg(long, env = EnvVars::CAIRN_KUBE_ADOPT)]
    pub kube_adopt: bool,

    /// Deletion propagation for pruned objects: background, foreground or orphan.
    #[arg(long, env = EnvVars::CAIRN_PRUNE_PROPAGATION, default_value = "background", value_parser = Propagation::parse)]
    pub prune_propagation: Propagation,

    /// API requests in flight at once.
    #[arg(long, env = EnvVars::CAIRN_KUBE_CONCURRENCY, default_value_t = 8)]
    pub kube_concurrency: usize,

    /// Sustained API requests per second, for every request the agent makes (apply, list,
    /// state, lease): a token bucket under the client. 0: no limit. The default is kubectl's
    /// (since Kubernetes 1.27); client-go's library default, 5, would take minutes over a large
    /// first apply. Lower it on a busy, shared API server.
    #[arg(long, env = EnvVars::CAIRN_KUBE_QPS, default_value_t = DEFAULT_QPS)]
    pub kube_qps: f64,

    /// API requests allowed in a burst above --kube-qps (kubectl's default; client-go's is 10).
    #[arg(long, env = EnvVars::CAIRN_KUBE_BURST, default_value_t = DEFAULT_BURST)]
    pub kube_burst: u32,

    /// What to do when a live object no longer matches what cairn applied: `correct` it (the
    /// default) or only `report` it in the status record, for every channel (`report`) or one
    /// (`prod=report`); comma-separated or repeated. An object's `cairn.dev/drift` annotation
    /// overrides it, and `cairn.dev/ignore-fields` leaves fields to other managers.
    #[arg(long, env = EnvVars::CAIRN_DRIFT, value_delimiter = ',', value_parser = DriftRule::parse)]
    pub drift: Vec<DriftRule>,

    /// How long to wait for a CustomResourceDefinition to be Established.
    #[arg(long, env = EnvVars::CAIRN_CRD_TIMEOUT, default_value = "60s", value_parser = humantime::parse_duration)]
    pub crd_timeout: Duration,

    /// Compete for a coordination.k8s.io Lease: only the leader reads the store, applies and
    /// reports; the others follow it through the Lease and the state ConfigMaps, by watch (for
    /// a DaemonSet or several replicas).
    #[arg(long, env = EnvVars::CAIRN_LEADER_ELECT)]
    pub leader_elect: bool,

    /// The Lease's name, in --agent-namespace.
    #[arg(long, env = EnvVars::CAIRN_LEASE_NAME, default_value = "cairn-agent")]
    pub lease_name: String,

    /// How long a follower waits, after it last saw the Lease renewed, before it may take it
    /// (whole seconds). Must be longer than --renew-deadline.
    #[arg(long, env = EnvVars::CAIRN_LEASE_DURATION, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,

    /// How long the leader keeps writing after the start of its last successful renewal: when
    /// it cannot renew within this, it steps down (its work in flight is cancelled) before any
    /// follower may take the Lease. Must be longer than --retry-period × 1.2.
    #[arg(long, env = EnvVars::CAIRN_RENEW_DEADLINE, default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,

    /// How often the leader renews the Lease (followers watch it and do not poll); also the
    /// timeout of every Lease call.
    #[arg(long, env = EnvVars::CAIRN_RETRY_PERIOD, default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,

    /// This replica's identity in the election (default: $HOSTNAME, the pod name in a pod).
    #[arg(long, env = EnvVars::CAIRN_IDENTITY)]
    pub identity: Option<String>,
}

impl KubeArgs {
    /// The Kubernetes target's options these flags describe.
    pub fn to_options(&self, cluster_id: &str) -> KubeOptions {
        let election = self.leader_elect.then(|| {
            let identity = self
                .identity
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| cluster_id.to_owned());
            Election {
                lease: self.lease_name.clone(),
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
                ..Election::new(&identity)
            }
        });
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            namespace: self.agent_namespace.clone(),
            field_manager: self.field_manager.clone(),
            force_conflicts: self.force_conflicts,
            adopt: self.kube_adopt,
            propagation: self.prune_propagation,
            concurrency: self.kube_concurrency,
            qps: self.kube_qps,
            burst: self.kube_burst,
            crd_timeout: self.crd_timeout,
            election,
            drift: DriftRule::policy(&self.drift),
        }
    }
}

/// One `--drift` value: a mode for every channel, or for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftRule {
    /// The channel, or `None` for all.
    pub channel: Option<String>,
    /// The mode.
    pub mode: DriftMode,
}

impl DriftRule {
    /// Parses `report`, `correct` or `<channel>=<mode>`.
    pub fn parse(text: &str) -> std::result::Result<DriftRule, PolicyError> {
        let policy = DriftPolicy::parse([text])?;
        Ok(match policy.channels.into_iter().next() {
            Some((channel, mode)) => DriftRule {
                channel: Some(channel),
                mode,
            },
            None => DriftRule {
                channel: None,
                mode: policy.default,
            },
        })
    }

    /// The policy the rules make, later rules winning.
    pub fn policy(rules: &[DriftRule]) -> DriftPolicy {
        let mut policy = DriftPolicy::default();
        for rule in rules {
            match &rule.channel {
                Some(channel) => {
                    policy.channels.insert(channel.clone(), rule.mode);
                }
                None => policy.default = rule.mode,
            }
        }
        policy
    }
}
