//! The fleet load tester: N real agents in one process against a counting static front over a
//! local store, the real `cairn` publishing changes, and the Git baseline (`git daemon` and
//! `git http-backend`) with clients doing what a Git-based GitOps agent does, in the same run.
//!
//! [`run`] measures, in order: a fleet restart (warm agents starting with their first polls
//! spread over T), idle polling, changes of 1, 10 and 10 % of M objects, a feature-flag flip,
//! a cold start of a smaller fleet, the Git baseline, and one real `cairn-agent` process's RSS.

pub mod agents;
pub mod baseline;
pub mod count;
pub mod front;
pub mod git;
pub mod proxy;
pub mod remote;
pub mod replicas;
pub mod report;
pub mod scenarios;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use report::markdown;
pub use scenarios::run;

use stats::Spread;

/// What to run.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Agents N in the fleet.
    #[arg(long, default_value_t = 10_000)]
    pub agents: usize,
    /// Objects M per snapshot.
    #[arg(long, default_value_t = 2_000)]
    pub objects: usize,
    /// Poll interval T in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub interval: f64,
    /// Jitter of each poll, as a fraction of T.
    #[arg(long, default_value_t = 0.2)]
    pub jitter: f64,
    /// Intervals of idle polling measured.
    #[arg(long, default_value_t = 2)]
    pub idle_intervals: u32,
    /// Agents of the cold-start scenario (each fetches the whole snapshot).
    #[arg(long, default_value_t = 100)]
    pub cold_agents: usize,
    /// Git clients per Git server (0 skips the Git baseline).
    #[arg(long, default_value_t = 200)]
    pub git_clients: usize,
    /// Objects of the snapshot the single `cairn-agent` process holds for the RSS measurement
    /// (0 skips it).
    #[arg(long, default_value_t = 1_000)]
    pub rss_objects: usize,
    /// Publish to this store and have the agents read it directly, instead of a local directory
    /// (under --work) behind the counting front: an s3:// URL with its options, e.g.
    /// `s3://bucket/prefix?endpoint=http://127.0.0.1:3900&region=garage&access_key_id=…&secret_access_key=…`.
    /// Requests are counted as the agents' store client ends them, bytes through a counting
    /// proxy when the endpoint is on loopback; publishes pass --single-publisher (this tool is
    /// the only publisher), so stores without conditional writes work too.
    #[arg(long)]
    pub store: Option<String>,
    /// Working directory (on a tmpfs); emptied first.
    #[arg(long, default_value = "/dev/shm/cairn-fleet")]
    pub work: PathBuf,
    /// The `cairn` binary.
    #[arg(long, default_value = "target/release/cairn")]
    pub cairn: PathBuf,
    /// The `cairn-agent` binary (for the RSS measurement).
    #[arg(long, default_value = "target/release/cairn-agent")]
    pub cairn_agent: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// What the agents reconcile: `dir` (files on the tmpfs, with the directory target's
    /// bookkeeping) or `count` (a target that counts writes and keeps ownership as the Kubernetes
    /// target does; for fleets whose files would not fit in memory).
    #[arg(long, value_enum, default_value_t = TargetKind::Dir)]
    pub target: TargetKind,
}

/// The target every agent of the fleet reconciles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// `dir:` targets on the tmpfs.
    Dir,
    /// [`count::CountingTarget`].
    Count,
}

impl Config {
    /// T as a duration.
    pub fn t(&self) -> Duration {
        Duration::from_secs_f64(self.interval)
    }

    /// How long a change may take to reach everyone before agents count as missed.
    pub fn deadline(&self) -> Duration {
        self.t().mul_f64(3.0) + Duration::from_secs(30)
    }
}

/// Everything measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Agents N.
    pub agents: usize,
    /// Objects M.
    pub objects: usize,
    /// T in seconds.
    pub interval_s: f64,
    /// Jitter fraction.
    pub jitter: f64,
    /// The agents' target.
    pub target: String,
    /// Where the agents read: the counting front over a local directory, or the `--store` URL
    /// (credentials masked).
    pub store: String,
    /// The machine (CPU model and count, memory, kernel).
    pub machine: String,
    /// Publishes: the initial one and each change.
    pub publishes: Vec<PublishRow>,
    /// The fleet restart (warm state, first polls at random offsets).
    pub restart: Rate,
    /// Idle polling.
    pub idle: Idle,
    /// Changes (1, 10, 10 % of M objects, and the flag flip).
    pub changes: Vec<Change>,
    /// The cold start of a smaller fleet.
    pub cold: Option<Change>,
    /// The Git baseline, per server.
    pub git: Vec<GitRow>,
    /// Errors: front answers other than 200/304, agents ending with an error or in an error
    /// state, status writes that failed, Git commands that failed.
    pub errors: u64,
    /// Describes each error counted.
    pub error_notes: Vec<String>,
    /// One `cairn-agent` process, idle with `rss_objects` objects: VmRSS bytes.
    pub agent_rss_bytes: Option<u64>,
    /// The objects it held.
    pub rss_objects: usize,
    /// Peak resident memory of this whole process (all N agents, front included), bytes.
    pub fleet_peak_rss_bytes: u64,
}

/// One publish.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PublishRow {
    /// What was published.
    pub label: String,
    /// Objects changed.
    pub changes: u64,
    /// Wall seconds of the `cairn` process.
    pub wall_s: f64,
    /// CPU seconds of the `cairn` process.
    pub cpu_s: f64,
    /// Objects written (PUTs, excluding the store probe).
    pub puts: u64,
}

/// Request rates over a window: every request the agents sent (what the front, a CDN's edge,
/// answered) and those that reached the store behind it (the origin).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Rate {
    /// Mean requests/s at the front.
    pub mean_rps: f64,
    /// Busiest whole second at the front.
    pub peak_rps: u64,
    /// Mean requests/s at the origin (edge cache misses and every head request).
    pub origin_mean_rps: f64,
    /// Busiest whole second at the origin.
    pub origin_peak_rps: u64,
    /// N / T.
    pub expected_rps: f64,
    /// Seconds measured.
    pub seconds: usize,
    /// Requests at the front in each second of the window (JSON only).
    pub per_second: Vec<u64>,
    /// Requests at the origin in each second of the window (JSON only).
    pub origin_per_second: Vec<u64>,
}

/// Idle polling.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Idle {
    /// Head polls the agents made.
    pub polls: u64,
    /// Requests the front answered.
    pub requests: u64,
    /// Of them, requests that reached the origin.
    pub origin_requests: u64,
    /// Of them, `304 Not Modified`.
    pub not_modified: u64,
    /// Requests per poll.
    pub requests_per_poll: f64,
    /// Bytes agent → store per poll (request heads).
    pub bytes_in_per_poll: f64,
    /// Bytes store → agent per poll (response heads).
    pub bytes_out_per_poll: f64,
    /// Origin request rate.
    pub rate: Rate,
    /// Front CPU seconds per 1,000 polls (`None` with `--store`: the server is another process).
    pub server_cpu_s_per_1000: Option<f64>,
}

/// One change reaching the fleet.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Change {
    /// What changed.
    pub label: String,
    /// Objects changed.
    pub objects: u64,
    /// Generation published.
    pub generation: u64,
    /// Agents that had to apply it.
    pub agents: usize,
    /// Seconds from publish completion (or start, for a cold start) to applied.
    pub propagation: Spread,
    /// Requests per agent from publish to everyone applied (head polls included).
    pub requests_per_agent: f64,
    /// Of them, the requests that reached the origin behind the edge cache, per agent.
    pub origin_requests_per_agent: f64,
    /// Bytes agent → store per agent.
    pub bytes_in_per_agent: f64,
    /// Bytes store → agent per agent.
    pub bytes_out_per_agent: f64,
    /// Origin rate in the window.
    pub rate: Rate,
}

/// The Git baseline on one server.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GitRow {
    /// `daemon` or `http`.
    pub server: String,
    /// Clients.
    pub clients: usize,
    /// Polls (`ls-remote`) in the idle window.
    pub polls: u64,
    /// Requests per poll (daemon: connections; HTTP: requests).
    pub requests_per_poll: f64,
    /// Bytes client → server per poll.
    pub bytes_in_per_poll: f64,
    /// Bytes server → client per poll.
    pub bytes_out_per_poll: f64,
    /// Server CPU seconds (server and its children) per 1,000 polls.
    pub server_cpu_s_per_1000: f64,
    /// Idle rate at the server.
    pub rate: Rate,
    /// A one-object change: propagation and bytes per client.
    pub change: Change,
    /// Git commands that failed.
    pub errors: u64,
}
