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
//! [`Agent::with_shared`] (or [`AgentBuilder::shared`]) and one [`Shared`] also share what is
//! content-addressed (verified snapshots, delta packs already checked, blobs in memory,
//! optionally the blob directory) and their HTTP clients. A library caller's own target and
//! replicas that elect a leader in memory go to the [`AgentBuilder`] beside the [`Config`].
//!
//! # Module map
//!
//! The folders follow the loop: run → fetch → reconcile → targets, with state and serve beside.
//! They are layered: a module imports only modules above it in this table (a module's own
//! submodules may use their parent), so nothing imports its way back up. `run` composes the
//! parts; `reconcile` drives them through one pass; everything below is a part.
//!
//! | layer | module | what | invariant |
//! |---|---|---|---|
//! | 1 | [`error`] | [`Error`], which wraps every module's error ([`ConfigError`], [`StateError`], [`targets::TargetError`], …); [`Retry`], [`ErrorClass`] | a module's error never imports [`Error`]; errors keep their sources; retries are decided by variant and status code |
//! | 2 | [`config`] | [`Config`] as a library caller builds it: plain data (stores, channels, trust, timing, [`KubeOptions`], drift policy, election settings) | a configuration that validates can start; every error names its flag; it holds no live part of the agent |
//! | 3 | `fsutil`, `cluster` | atomic writes and journals; the connection to the API server, with its rate limit as a layer | no request bypasses the limit |
//! | 4 | `metrics` | [`Metrics`]: Prometheus families of one agent | one registry per agent; nothing global |
//! | 5 | `fetch` | the store as read: heads, delta packs, index walks, blobs, caches, [`Shared`] | what is kept is content-addressed and verified; a snapshot is exactly its signed digest or refused |
//! | 6 | `state` | what each channel applied: [`AppliedHead`], the one record of an applied head, embedded in the base file, journal lines, head record and [`Applied`]; a [`StateBackend`] elsewhere; the trust root versions accepted | never older than what was applied; damage is detected on load |
//! | 7 | `trust` | the root heads are verified under: `--trust` keys, or the store's trust root followed forward | never backward, no version skipped; looked for only when a head changed or on resync |
//! | 8 | [`election`] | leader election with a Lease (or a lease in memory); the write fence | only the leader reads the store, writes to the target and reports; its work is cancelled before another replica may lead |
//! | 9 | [`targets`] | the [`targets::Target`] trait; the directory target; the Kubernetes target with its state ConfigMaps ([`ConfigMapState`]) | a target changes only objects it wrote for that channel |
//! | 10 | `reconcile` | one channel's pass: poll, verify, decide, fetch, plan, apply, persist; the context it works with, and the narrow view each step takes | `decide` is pure; nothing is applied before everything it needs is fetched and verified |
//! | 11 | `serve` | `/metrics`, `/healthz`, `/readyz` (readiness is kept here) | ready only while every channel is followed |
//! | 12 | `run` | [`Agent`] and [`AgentBuilder`]: composes the parts, supervises every task, one follower per channel, discovery, `run --once` | no spawned task ends unobserved: followers restart, services end the agent |
//! | 12 | [`cli`] | `cairn-agent run` flags → [`Config`] | every flag has a `CAIRN_*` variable |
//!
//! Where to start: a new kind of target (a Helm release) is a folder in [`targets`] that
//! implements [`targets::Target`], plus a [`TargetSpec`] variant in [`config`] and its placement
//! in `run/compose.rs`. A new field of the applied head (agent side) is one field of
//! [`AppliedHead`] (`state/applied.rs`): the files on disk and the in-cluster state embed it.

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
