//! The soak: real `cairn-agent` processes following a channel for as long as asked while a
//! publisher changes it at a set rate (single objects, bursts, a large change now and then,
//! drift in a target, `cairn gc`), with `cairn ui` and `cairn status --watch` reading the same
//! store, and everything sampled from outside: resident memory, open file descriptors, state
//! directories, the store, and the agents' own metrics. [`run`] returns the samples and the
//! lines fitted to them after the warm-up; [`write`] saves a table, a CSV and an SVG plot.
//!
//! Memory is judged by its slope (MiB per hour, KiB per generation), not by timings, so the soak
//! means the same on a busy machine; with `lockstep` the publisher waits for every agent to apply
//! each generation, so a run is a count of generations whatever the machine's speed.

mod changes;
pub mod plot;
pub mod probe;
mod processes;
mod report;
mod run;
pub mod slope;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use report::{markdown, write};
pub use run::run;

/// Runs of samples after the warm-up whose smallest RSS makes the floor.
pub const FLOOR_WINDOWS: usize = 4;

/// What to run.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// How long to run (publishing stops then), e.g. `2h`; with --generations, whichever
    /// comes first.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub duration: Duration,
    /// Stop after publishing this many generations (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub generations: u64,
    /// Agent processes.
    #[arg(long, default_value_t = 1)]
    pub agents: usize,
    /// Objects in the channel.
    #[arg(long, default_value_t = 1_000)]
    pub objects: usize,
    /// The agents' poll interval.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub interval: Duration,
    /// The agents' resync period (drift check, cache sweep).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub resync: Duration,
    /// Time between two publishes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub every: Duration,
    /// Wait for every agent to apply a generation before publishing the next.
    #[arg(long)]
    pub lockstep: bool,
    /// The change pattern.
    #[command(flatten)]
    pub pattern: Pattern,
    /// Simulated clusters whose status records `cairn ui` and `cairn status --watch` read
    /// besides the agents' (a few report at every publish).
    #[arg(long, default_value_t = 300)]
    pub simulated_clusters: usize,
    /// Also run `cairn ui` and `cairn status --watch` on the store and sample them.
    #[arg(long)]
    pub hub: bool,
    /// Time between two samples.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    pub sample_every: Duration,
    /// Samples before this time are left out of the fitted slopes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub warm_up: Duration,
    /// Samples taken before every agent applied this generation are left out of the fitted
    /// slopes too.
    #[arg(long, default_value_t = 0)]
    pub warm_up_generations: u64,
    /// Working directory (store, agents' state and targets, logs); emptied first.
    #[arg(long, default_value = "/dev/shm/cairn-soak")]
    pub work: PathBuf,
    /// The `cairn` binary.
    #[arg(long, default_value = "target/release/cairn")]
    pub cairn: PathBuf,
    /// The `cairn-agent` binary.
    #[arg(long, default_value = "target/release/cairn-agent")]
    pub cairn_agent: PathBuf,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// How the channel changes, in publishes ("ticks"): every tick changes one object, except that
/// every `burst_every`th is a burst, every `large_every`th a large change; every `drift_every`th
/// tick also edits a file in one agent's target, and every `gc_every`th runs `cairn gc`.
#[derive(Clone, Debug, clap::Args)]
pub struct Pattern {
    /// Every this many ticks, publish `burst_size` generations back to back (0: never).
    #[arg(long, default_value_t = 25)]
    pub burst_every: u64,
    /// Generations of a burst.
    #[arg(long, default_value_t = 5)]
    pub burst_size: u64,
    /// Every this many ticks, change `large_percent` of the objects at once (0: never).
    #[arg(long, default_value_t = 150)]
    pub large_every: u64,
    /// Share of the objects a large change changes, in percent.
    #[arg(long, default_value_t = 10)]
    pub large_percent: usize,
    /// Every this many ticks, change a file in one agent's target behind its back (0: never).
    #[arg(long, default_value_t = 40)]
    pub drift_every: u64,
    /// Every this many ticks, run `cairn gc --keep 20 --grace <gc-grace>` (0: never).
    #[arg(long, default_value_t = 300)]
    pub gc_every: u64,
    /// The grace `cairn gc` gives unreferenced objects: what the store holds beyond the kept
    /// generations, and with it what `cairn ui` lists.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2m")]
    pub gc_grace: Duration,
}

/// One look at everything.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since the agents started.
    pub at_s: f64,
    /// The newest generation published.
    pub published: u64,
    /// Each process watched.
    pub processes: Vec<ProcessSample>,
    /// Each agent's view of itself.
    pub agents: Vec<AgentSample>,
    /// Objects in the store (files of the store directory).
    pub store_objects: u64,
    /// Bytes in the store.
    pub store_bytes: u64,
}

/// A process, seen from outside.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessSample {
    /// `agent-1`, `cairn ui`, `cairn status --watch`.
    pub name: String,
    /// Resident set size in bytes (0 once it exited).
    pub rss_bytes: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// An agent's state directory and metrics.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AgentSample {
    /// Generation applied (`cairn_agent_applied_generation`).
    pub applied: u64,
    /// Errors counted so far (`cairn_agent_errors_total`, every class).
    pub errors: u64,
    /// Head polls so far.
    pub polls: u64,
    /// Files in its state directory.
    pub state_files: u64,
    /// Bytes in its state directory.
    pub state_bytes: u64,
}

/// What the soak found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The settings, as a line.
    pub settings: String,
    /// Every sample, in time order.
    pub samples: Vec<Sample>,
    /// Per process, the lines fitted to its memory after the warm-up.
    pub growth: Vec<Growth>,
    /// Ticks of each kind that ran.
    pub ticks: Ticks,
    /// Pages of `cairn ui` fetched, and how many did not answer 200.
    pub ui_pages: (u64, u64),
    /// Generations an agent had not applied when the publisher gave up waiting (lockstep).
    pub missed: u64,
}

/// How one process's memory grew after the warm-up.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Growth {
    /// The process.
    pub name: String,
    /// RSS against hours: MiB per hour.
    pub per_hour: Option<slope::Fit>,
    /// RSS against generations applied (agents) or published (hub): KiB per generation.
    pub per_generation: Option<slope::Fit>,
    /// The floor of RSS (the smallest sample of each of [`FLOOR_WINDOWS`] equal runs of samples)
    /// against generations: KiB per generation. Memory an allocator holds for a while after a
    /// burst of work lifts single samples, never every sample of a window, so a floor that
    /// rises is memory kept.
    pub floor_per_generation: Option<slope::Fit>,
    /// RSS at the first and the last sample after the warm-up, and the largest, in MiB.
    pub rss_mib: (f64, f64, f64),
    /// Open file descriptors: at the first sample after the warm-up, the last, the largest.
    pub fds: (u64, u64, u64),
}

/// What the publisher did.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Ticks {
    /// Single-object changes.
    pub single: u64,
    /// Bursts.
    pub bursts: u64,
    /// Large changes.
    pub large: u64,
    /// Files changed behind an agent's back.
    pub drifts: u64,
    /// `cairn gc` runs.
    pub gcs: u64,
}
