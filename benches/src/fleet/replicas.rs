//! Replicas per cluster: N simulated clusters of R agent replicas each (a DaemonSet on R
//! nodes), in one process, for R = 1, 3, 10. Only each cluster's leader may read the store, so
//! origin requests per cluster per interval and bytes per cluster per change must not grow
//! with R; and when a leader dies, another replica must apply a change published at that moment
//! within a lease duration plus T (the takeover time).
//!
//! Each cluster's Lease and state ConfigMap are simulated in memory ([`MemoryLease`],
//! [`MemoryState`], shared by its replicas; the target is one [`CountingTarget`] per cluster):
//! at N = 1,000 and R = 10 an API server would have to serve 10,000 agents' watches and 500 lease
//! renewals a second, and on 2 cores the run would measure that server instead of the origin
//! load this scenario is about. The election, the write fence and the followers' following are
//! the agent's own code, unchanged; only where the lease and the state live differs. The store
//! side is the fleet's counting front (an edge cache in front of a local directory).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::election::{Election, LeaseLock, MemoryLease};
use cairn_agent::{
    AgentBuilder, ChannelSpec, Config, MemoryState, Metrics, Replicas, Shared, StateBackend,
    StoreLocation, TargetSpec, Timing,
};
use cairn_state_format::PublicKey;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::count::CountingTarget;
use super::front::{self, Front, Tally};
use super::scenarios::{head_generation, write_manifests};
use super::stats::{Spread, ratio};
use crate::error::{Error, Result};
use crate::manifests::spread;
use crate::scaling::cairn::{CHANNEL, Cairn};

/// What to run.
#[derive(Clone, Debug, clap::Args)]
pub struct ReplicasConfig {
    /// Clusters N.
    #[arg(long, default_value_t = 1_000)]
    pub clusters: usize,
    /// Replicas per cluster to measure, in order (the first is the baseline).
    #[arg(long, value_delimiter = ',', default_value = "1,3,10")]
    pub replicas: Vec<usize>,
    /// Objects M per snapshot.
    #[arg(long, default_value_t = 500)]
    pub objects: usize,
    /// Poll interval T in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub interval: f64,
    /// Jitter of each poll, as a fraction of T.
    #[arg(long, default_value_t = 0.2)]
    pub jitter: f64,
    /// Intervals of idle polling measured.
    #[arg(long, default_value_t = 3)]
    pub idle_intervals: u32,
    /// Clusters whose leader is killed for the takeover measurement (R > 1).
    #[arg(long, default_value_t = 50)]
    pub takeovers: usize,
    /// Lease duration in whole seconds.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// Renew deadline in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub renew_deadline: f64,
    /// Retry period in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub retry_period: f64,
    /// Working directory (on a tmpfs); emptied first.
    #[arg(long, default_value = "/dev/shm/cairn-fleet-replicas")]
    pub work: PathBuf,
    /// The `cairn` binary.
    #[arg(long, default_value = "target/release/cairn")]
    pub cairn: PathBuf,
}

/// Everything measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplicasReport {
    /// Clusters N.
    pub clusters: usize,
    /// Objects M.
    pub objects: usize,
    /// T in seconds.
    pub interval_s: f64,
    /// Lease duration in seconds.
    pub lease_duration_s: u64,
    /// One row per R.
    pub rows: Vec<ReplicasRow>,
    /// Errors counted (agents ending with an error, clusters that missed a change).
    pub errors: u64,
    /// What they were.
    pub error_notes: Vec<String>,
}

/// The figures for one R.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplicasRow {
    /// Replicas per cluster.
    pub replicas: usize,
    /// Agents in the process (N × R).
    pub agents: usize,
    /// Idle: requests reaching the origin per cluster per interval.
    pub idle_origin_per_cluster_interval: f64,
    /// Idle: requests at the front per cluster per interval.
    pub idle_front_per_cluster_interval: f64,
    /// A one-object change: requests at the origin per cluster.
    pub change_origin_per_cluster: f64,
    /// A one-object change: requests at the front per cluster.
    pub change_front_per_cluster: f64,
    /// A one-object change: bytes served per cluster.
    pub change_bytes_per_cluster: f64,
    /// Seconds from publish to each cluster applied.
    pub propagation: Spread,
    /// Seconds from killing a cluster's leader (and publishing) to another replica applying.
    pub takeover: Option<Spread>,
    /// Objects written to the clusters per cluster for the change (all replicas together).
    pub writes_per_cluster: f64,
    /// Replicas per cluster that ever polled the store, before the takeover (only leaders: 1).
    pub readers_per_cluster: f64,
}

/// One simulated cluster: its lease, its recorded state, its target, its replicas.
struct Cluster {
    lease: Arc<MemoryLease>,
    target: Arc<CountingTarget>,
    agents: Vec<Replica>,
}

struct Replica {
    identity: String,
    metrics: Arc<Metrics>,
    task: JoinHandle<cairn_agent::Result<()>>,
}

/// Runs every R and returns the report.
pub async fn run(config: &ReplicasConfig) -> Result<ReplicasReport> {
    let work = &config.work;
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(Error::io("create", work))?;
    let cairn = Cairn::new(&config.cairn, work, None)?;
    let manifests = work.join("manifests");
    write_manifests(&manifests, config.objects, &[], 0)?;
    cairn.publish(&manifests, true)?;
    let key = work.join("hub.key.pub");
    let trust: PublicKey = std::fs::read_to_string(&key)
        .map_err(Error::io("read", &key))?
        .trim()
        .parse()
        .map_err(|e| Error::unexpected(key.display().to_string(), format!("{e}")))?;
    let front = front::start(&cairn.store)?;
    let mut bench = Bench {
        config: config.clone(),
        cairn,
        manifests,
        front,
        trust,
        revision: 0,
        status: cairn_store::Store::open("memory://", &Default::default())?,
    };
    let mut report = ReplicasReport {
        clusters: config.clusters,
        objects: config.objects,
        interval_s: config.interval,
        lease_duration_s: config.lease_duration,
        ..ReplicasReport::default()
    };
    for &r in &config.replicas {
        let row = bench.measure(r.max(1), &mut report).await?;
        report.rows.push(row);
    }
    Ok(report)
}

struct Bench {
    config: ReplicasConfig,
    cairn: Cairn,
    manifests: PathBuf,
    front: Front,
    trust: PublicKey,
    revision: u32,
    status: cairn_store::Store,
}

impl Bench {
    fn election(&self, identity: &str) -> Election {
        Election {
            lease_duration: Duration::from_secs(self.config.lease_duration),
            renew_deadline: Duration::from_secs_f64(self.config.renew_deadline),
            retry_period: Duration::from_secs_f64(self.config.retry_period),
            ..Election::new(identity)
        }
    }

    /// Replica `identity` of `replicas`, writing to `target` (built by the caller).
    fn agent(
        &self,
        identity: &str,
        replicas: Replicas,
        target: Arc<CountingTarget>,
    ) -> Result<AgentBuilder> {
        let mut config = Config::new(
            self.front.source.clone(),
            vec![ChannelSpec::parse(CHANNEL).map_err(cairn_agent::Error::from)?],
            vec![self.trust],
            identity,
            TargetSpec::Custom,
            self.config.work.join("state").join(identity),
        );
        config.status_store = Some(StoreLocation::Opened(self.status.clone()));
        config.timing = Timing {
            interval: Duration::from_secs_f64(self.config.interval),
            jitter: self.config.jitter,
            resync: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(30),
            ..Timing::default()
        };
        Ok(AgentBuilder::new(config).replicas(replicas).target(target))
    }

    /// Starts N clusters of `r` replicas, all holding the state one agent reached (as if they
    /// had run for a while), sharing content-addressed caches as agents in one process may.
    async fn start(&self, r: usize, seed: &[u8]) -> Result<Vec<Cluster>> {
        let shared = Arc::new(Shared::with_blob_dir(&self.config.work.join("blobs")));
        let mut clusters = Vec::with_capacity(self.config.clusters);
        for c in 0..self.config.clusters {
            let lease = Arc::new(MemoryLease::new(&format!("cluster-{c:05}")));
            let state = Arc::new(MemoryState::new());
            state.put(CHANNEL, seed.to_vec());
            let target = Arc::new(CountingTarget::default());
            let mut agents = Vec::with_capacity(r);
            for i in 0..r {
                let identity = format!("c{c:05}-r{i:02}");
                let replicas = Replicas {
                    election: self.election(&identity),
                    lease: lease.clone() as Arc<dyn LeaseLock>,
                    state: state.clone() as Arc<dyn StateBackend>,
                };
                let agent = self
                    .agent(&identity, replicas, target.clone())?
                    .shared(shared.clone())
                    .build()?;
                let metrics = agent.metrics().clone();
                let task = tokio::spawn(agent.run(std::future::pending()));
                agents.push(Replica {
                    identity,
                    metrics,
                    task,
                });
            }
            clusters.push(Cluster {
                lease,
                target,
                agents,
            });
        }
        Ok(clusters)
    }

    /// The state one agent reaches at the current head (the seed of every cluster's state).
    async fn seed(&self) -> Result<Vec<u8>> {
        let generation = head_generation(&self.cairn.store).await?;
        let state = Arc::new(MemoryState::new());
        let replicas = Replicas {
            election: self.election("seed"),
            lease: Arc::new(MemoryLease::new("seed")),
            state: state.clone(),
        };
        let agent = self
            .agent("seed", replicas, Arc::new(CountingTarget::default()))?
            .build()?;
        let metrics = agent.metrics().clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(agent.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let started = Instant::now();
        while metrics.applied_generation(CHANNEL) < generation {
            if started.elapsed() > self.deadline() {
                return Err(Error::unexpected("the seed agent", "did not converge"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(true);
        let _ = task.await;
        state
            .read(CHANNEL)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| Error::unexpected("the seed agent", "recorded no state"))
    }

    fn deadline(&self) -> Duration {
        Duration::from_secs_f64(self.config.interval * 3.0)
            + Duration::from_secs(self.config.lease_duration)
            + Duration::from_secs(30)
    }

    /// Runs one R: start, idle, a one-object change, a takeover, stop.
    async fn measure(&mut self, r: usize, report: &mut ReplicasReport) -> Result<ReplicasRow> {
        let seed = self.seed().await?;
        let clusters = self.start(r, &seed).await?;
        let n = clusters.len();
        eprintln!("R = {r}: {} agents started", n * r);
        wait_for_leaders(&clusters, self.deadline()).await;
        let t = Duration::from_secs_f64(self.config.interval);
        // The first polls spread over T; then idle intervals are measured.
        tokio::time::sleep(t.mul_f64(1.5)).await;
        let idle_window = t * self.config.idle_intervals;
        let before = self.front.counters.tally();
        tokio::time::sleep(idle_window).await;
        let idle = self.front.counters.tally().since(&before);
        let per_interval =
            |x: u64| ratio(x as f64, (n as f64) * f64::from(self.config.idle_intervals));
        let mut row = ReplicasRow {
            replicas: r,
            agents: n * r,
            idle_origin_per_cluster_interval: per_interval(idle.origin),
            idle_front_per_cluster_interval: per_interval(idle.requests),
            ..ReplicasRow::default()
        };
        let written_before: u64 = clusters.iter().map(|c| written(&c.target)).sum();
        let (tally, propagation) = self.change(&clusters, &[], report).await?;
        let written_after: u64 = clusters.iter().map(|c| written(&c.target)).sum();
        row.change_origin_per_cluster = ratio(tally.origin as f64, n as f64);
        row.change_front_per_cluster = ratio(tally.requests as f64, n as f64);
        row.change_bytes_per_cluster = ratio(tally.bytes_out as f64, n as f64);
        row.writes_per_cluster = ratio((written_after - written_before) as f64, n as f64);
        row.propagation = Spread::of(&propagation);
        let readers = clusters
            .iter()
            .flat_map(|c| &c.agents)
            .filter(|a| a.metrics.polls(CHANNEL) > 0)
            .count();
        row.readers_per_cluster = ratio(readers as f64, n as f64);
        if r > 1 {
            let killed = kill_leaders(&clusters, self.config.takeovers.min(n)).await;
            let (_, seen) = self.change(&clusters, &killed, report).await?;
            let takeover: Vec<Option<f64>> = killed.iter().map(|&(c, _)| seen[c]).collect();
            row.takeover = Some(Spread::of(&takeover));
        }
        stop(clusters, report).await;
        Ok(row)
    }

    /// Publishes a one-object change and waits until every cluster applied it (`killed`
    /// clusters: a replica other than the killed one). Returns the front's tally over the
    /// change and each cluster's propagation time.
    async fn change(
        &mut self,
        clusters: &[Cluster],
        killed: &[(usize, usize)],
        report: &mut ReplicasReport,
    ) -> Result<(Tally, Vec<Option<f64>>)> {
        self.revision += 1;
        let m = self.config.objects;
        // The same object at a new revision each time: anything else also sets the object the
        // previous change touched back to revision 0, a second changed object.
        let changed = spread(m, 1);
        write_manifests(&self.manifests, m, &changed, self.revision)?;
        let before = self.front.counters.tally();
        self.cairn.publish(&self.manifests, true)?;
        let published = Instant::now();
        let generation = head_generation(&self.cairn.store).await?;
        let mut seen: Vec<Option<f64>> = vec![None; clusters.len()];
        while published.elapsed() < self.deadline() && seen.iter().any(Option::is_none) {
            let now = published.elapsed().as_secs_f64();
            for (c, cluster) in clusters.iter().enumerate() {
                let dead = killed.iter().find(|(k, _)| *k == c).map(|(_, r)| *r);
                let applied = cluster.agents.iter().enumerate().any(|(i, a)| {
                    Some(i) != dead && a.metrics.applied_generation(CHANNEL) >= generation
                });
                if seen[c].is_none() && applied {
                    seen[c] = Some(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let missed = seen.iter().filter(|s| s.is_none()).count();
        if missed > 0 {
            report.errors += missed as u64;
            report
                .error_notes
                .push(format!("{missed} clusters missed generation {generation}"));
        }
        Ok((self.front.counters.tally().since(&before), seen))
    }
}

fn written(target: &CountingTarget) -> u64 {
    target.written.load(std::sync::atomic::Ordering::Relaxed)
}

/// Waits until every cluster has a leader.
async fn wait_for_leaders(clusters: &[Cluster], deadline: Duration) {
    let started = Instant::now();
    while started.elapsed() < deadline {
        let mut all = true;
        for cluster in clusters {
            let held = cluster.lease.get().await.ok().flatten();
            all &= held.is_some_and(|v| v.record.holder.is_some());
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Kills (aborts, without releasing the lease) the leader of the first `k` clusters; returns
/// (cluster, replica) of each.
async fn kill_leaders(clusters: &[Cluster], k: usize) -> Vec<(usize, usize)> {
    let mut killed = Vec::new();
    for (c, cluster) in clusters.iter().enumerate().take(k) {
        let Ok(Some(lease)) = cluster.lease.get().await else {
            continue;
        };
        let holder = lease.record.holder.unwrap_or_default();
        if let Some(i) = cluster.agents.iter().position(|a| a.identity == holder) {
            cluster.agents[i].task.abort();
            killed.push((c, i));
        }
    }
    killed
}

/// Stops every agent; agents that ended with an error are counted.
async fn stop(clusters: Vec<Cluster>, report: &mut ReplicasReport) {
    for cluster in clusters {
        for agent in cluster.agents {
            agent.task.abort();
            if let Ok(Err(e)) = agent.task.await {
                report.errors += 1;
                report.error_notes.push(format!("{}: {e}", agent.identity));
            }
        }
    }
}

/// The report as Markdown.
pub fn markdown(report: &ReplicasReport) -> String {
    let base = report.rows.first();
    let mut out = format!(
        "N = {} clusters, M = {} objects, T = {} s, lease duration {} s\n\n\
         | R | agents | store readers / cluster | idle origin req / cluster / T | vs R = {} | change: origin req / cluster | change: bytes / cluster | vs R = {} | writes / cluster | propagation p50 / p99 s | takeover p50 / max s (missed) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        report.clusters,
        report.objects,
        report.interval_s,
        report.lease_duration_s,
        base.map_or(1, |b| b.replicas),
        base.map_or(1, |b| b.replicas),
    );
    for row in &report.rows {
        let vs = |x: f64, b: f64| format!("{:+.2} %", (ratio(x, b) - 1.0) * 100.0);
        let (idle_vs, bytes_vs) = match base {
            Some(b) => (
                vs(
                    row.idle_origin_per_cluster_interval,
                    b.idle_origin_per_cluster_interval,
                ),
                vs(row.change_bytes_per_cluster, b.change_bytes_per_cluster),
            ),
            None => (String::new(), String::new()),
        };
        let takeover = row.takeover.map_or("–".to_owned(), |t| {
            format!("{:.1} / {:.1} ({})", t.p50_s, t.max_s, t.missed)
        });
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.3} | {} | {:.3} | {:.0} | {} | {:.2} | {:.1} / {:.1} | {} |\n",
            row.replicas,
            row.agents,
            row.readers_per_cluster,
            row.idle_origin_per_cluster_interval,
            idle_vs,
            row.change_origin_per_cluster,
            row.change_bytes_per_cluster,
            bytes_vs,
            row.writes_per_cluster,
            row.propagation.p50_s,
            row.propagation.p99_s,
            takeover,
        ));
    }
    if report.errors > 0 {
        out.push_str(&format!(
            "\nerrors: {} ({:?})\n",
            report.errors, report.error_notes
        ));
    }
    out
}
