//! The cairn agent: polls a channel's small signed head, fetches only what changed (one delta
//! pack, or the changed index nodes and missing blobs), verifies every digest, and reconciles a
//! target to the signed snapshot. It never applies anything that was not signed by a trusted key,
//! never moves to an older generation, and keeps serving what it applied when the store or the
//! head goes bad.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cairn_agent::{Agent, ChannelSpec, Config, StoreLocation, TargetSpec};
//!
//! let key = "cairn-ed25519-public AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse()?;
//! let config = Config::new(
//!     StoreLocation::Url("file:///srv/cairn".into()),
//!     vec![ChannelSpec::parse("prod")?],
//!     vec![key],
//!     "cluster-1",
//!     TargetSpec::Dir("/srv/manifests".into()),
//!     "/var/lib/cairn-agent".into(),
//! );
//! let report = Agent::new(config)?.run_once().await;
//! std::process::exit(report.outcome.exit_code());
//! # }
//! ```
//!
//! Several agents may run in one process (the fleet load tester does): each [`Agent`] has its own
//! metrics registry, state and target; nothing is global. Agents built with
//! [`Agent::with_shared`] and one [`Shared`] also share what is content-addressed (verified
//! snapshots, delta packs already checked, blobs in memory, optionally the blob directory) and
//! their HTTP clients.
//!
//! # Module map
//!
//! The folders follow the loop: run → fetch → reconcile → targets, with state and serve beside.
//!
//! | module | what | invariant |
//! |---|---|---|
//! | [`config`] | [`Config`] as a library caller builds it; [`ConfigError`] | a configuration that validates can start; every error names its flag |
//! | [`cli`] | `cairn-agent run` flags → [`Config`] | every flag has a `CAIRN_*` variable |
//! | `run` | [`Agent`]: composes the parts, supervises every task, one follower per channel, discovery, `run --once` | no spawned task ends unobserved: followers restart, services end the agent |
//! | `reconcile` | one channel's pass: poll, verify, decide, fetch, plan, apply, persist | `decide` is pure; nothing is applied before everything it needs is fetched and verified |
//! | `fetch` | the store as read: heads, delta packs, index walks, blobs, caches, [`Shared`] | what is kept is content-addressed and verified; a snapshot is exactly its signed digest or refused |
//! | `state` | what each channel applied: a base file and journal, or a ConfigMap; the trust root versions accepted | never older than what was applied; damage is detected on load |
//! | `trust` | the root heads are verified under: `--trust` keys, or the store's trust root followed forward | never backward, no version skipped; looked for only when a head changed or on resync |
//! | [`targets`] | the [`targets::Target`] trait; the directory and Kubernetes targets | a target changes only objects it wrote for that channel |
//! | `cluster` | the connection to the API server, with its rate limit as a layer | no request bypasses the limit |
//! | [`election`] | leader election with a Lease (or a lease in memory); the write fence | only the leader reads the store, writes to the target and reports; its work is cancelled before another replica may lead |
//! | `serve` | `/metrics`, `/healthz`, `/readyz` | ready only while every channel is followed |
//! | [`error`] | [`Error`], [`Retry`], [`ErrorClass`] | errors keep their sources; retries are decided by variant and status code |

pub mod cli;
mod cluster;
pub mod config;
pub mod election;
pub mod error;
mod fetch;
mod fsutil;
mod metrics;
mod reconcile;
mod run;
mod serve;
mod state;
pub mod targets;
mod trust;

use std::future::Future;

pub use cluster::Cluster;
pub use config::{
    ChannelSpec, Config, KubeOptions, StoreLocation, TargetSpec, Timing, TrustSpec,
    validate_cluster_id,
};
pub use error::{ConfigError, Error, ErrorClass, Result, Retry, StateError, TrustRootProblem};
pub use fetch::Shared;
pub use fetch::source::{Body, Bound, Conditional, HttpSource, ObjectSource, Opened, Source};
pub use metrics::{Metrics, RequestKind};
pub use run::{Agent, AgentBuilder, OnceReport, Outcome, Replicas};
pub use state::{Applied, AppliedHead, HeadBytes, MemoryState, StateBackend};
pub use targets::kube::ConfigMapState;

/// Runs an agent until `shutdown` completes (see [`Agent::run`]).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    Agent::new(config)?.run(shutdown).await
}

/// One reconcile pass over every channel (see [`Agent::run_once`]).
pub async fn run_once(config: Config) -> Result<OnceReport> {
    Ok(Agent::new(config)?.run_once().await)
}
