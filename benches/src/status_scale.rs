//! `cairn status` at fleet scale: N simulated status records in a store, then the looks a person
//! or a watch loop takes, each as a fresh `cairn status` would take it (a new reader starting
//! from the status cache on disk), with every request to the store counted:
//!
//! 1. without the cache (`--no-cache`): a listing and N GETs, what every look cost before;
//! 2. the first look with an empty cache: the same, and the cache is written;
//! 3. a second look, nothing changed: the listing alone;
//! 4. a look after a share of the clusters reported: the listing and their records.
//!
//! A local directory is counted by wrapping its object store ([`CountingStore`]: one listing is
//! one request, whatever its length); an S3 server is counted on the wire by a proxy in front of
//! it, so every page of a listing is a request.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_hub::Fleet;
use cairn_state_format::{AppliedRef, Digest, Phase, StatusRecord, layout};
use cairn_store::{CountingStore, Store};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::request_proxy::RequestProxy;

/// Writes in flight while seeding.
const SEED_CONCURRENCY: usize = 64;
/// The channel the records are about.
pub const CHANNEL: &str = "prod";

/// What one look cost.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Look {
    /// Requests that reached the store (GETs and listing pages, or listings for a directory).
    pub requests: u64,
    /// Of those, GETs.
    pub gets: u64,
    /// Bytes the store answered with, on the wire (S3 only; 0 for a directory).
    pub bytes_out: u64,
    /// Records fetched by the reader.
    pub fetched: usize,
    /// Clusters in the summary.
    pub clusters: usize,
    /// Wall time of the look.
    pub wall: Duration,
}

/// The four looks at one fleet size.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// Status records in the store.
    pub clusters: usize,
    /// Records rewritten before the last look.
    pub changed: usize,
    /// Look 1: no cache (not taken when not asked for).
    pub uncached: Option<Look>,
    /// Look 2: the first, with an empty cache.
    pub first: Look,
    /// Look 3: nothing changed.
    pub unchanged: Look,
    /// Look 4: after `changed` clusters reported.
    pub after_change: Look,
    /// Size of the cache file after the last look.
    pub cache_bytes: u64,
    /// Size of one status record as simulated.
    pub record_bytes: usize,
}

/// How requests to the store are counted.
pub enum Counter {
    /// Through the object store, for a local directory.
    Store(CountingStore),
    /// On the wire, for a server.
    Wire(RequestProxy),
}

impl Counter {
    /// (requests, GETs, bytes answered) so far.
    fn requests(&self) -> (u64, u64, u64) {
        match self {
            Counter::Store(c) => {
                let n = c.counts();
                (n.gets + n.lists, n.gets, 0)
            }
            Counter::Wire(p) => (p.requests(), p.gets(), p.bytes_out()),
        }
    }
}

/// A store to measure: one handle that writes directly (seeding is not measured) and one that
/// counts.
pub struct Target {
    /// Writes the records.
    pub direct: Store,
    /// Reads them, counted.
    pub counted: Store,
    /// The counter.
    pub counter: Counter,
}

impl Target {
    /// A local directory.
    pub fn dir(path: &Path) -> crate::Result<Target> {
        let direct = Store::open(path.to_str().unwrap_or_default(), &Default::default())?;
        let counting = CountingStore::new(Arc::clone(direct.object_store()));
        let counted =
            Store::from_object_store(Arc::new(counting.clone()), direct.provider(), direct.url());
        Ok(Target {
            direct,
            counted,
            counter: Counter::Store(counting),
        })
    }

    /// An S3 server on loopback: `url` names it with `endpoint=http://127.0.0.1:<port>`; the
    /// counted handle reaches it through a request-counting proxy.
    pub async fn s3(url: &str) -> crate::Result<Target> {
        let port = url
            .split("endpoint=http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(['&', '/']).next())
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| {
                crate::Error::unexpected(
                    "the S3 URL",
                    format!("{url} names no endpoint=http://127.0.0.1:<port>"),
                )
            })?;
        let proxy = RequestProxy::start(port).await?;
        let through = url.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", proxy.addr.port()),
        );
        Ok(Target {
            direct: Store::open(url, &Default::default())?,
            counted: Store::open(&through, &Default::default())?,
            counter: Counter::Wire(proxy),
        })
    }
}

/// A record as the agent of cluster `i` writes it; `round` changes its content.
pub fn record(i: usize, round: u32) -> StatusRecord {
    let at = chrono::DateTime::from_timestamp(1_800_000_000 + i64::from(round) * 60, 0)
        .unwrap_or_default();
    let mut r = StatusRecord::new(&cluster(i), CHANNEL, "cairn-agent 0.1.0", at);
    r.labels = [("region".to_owned(), ["eu", "us", "ap"][i % 3].to_owned())].into();
    r.applied = Some(AppliedRef {
        generation: 41 + u64::from(round),
        snapshot: Digest::of(format!("snapshot {round}").as_bytes()),
    });
    r.observed_generation = Some(41 + u64::from(round));
    r.phase = Phase::Converged;
    r.counts.objects = 2000;
    r.counts.healthy = 2000;
    r
}

/// Cluster `i`'s id.
pub fn cluster(i: usize) -> String {
    format!("cluster-{i:07}")
}

/// Writes the records of `clusters` (round `round`) directly.
pub async fn seed(
    store: &Store,
    clusters: impl Iterator<Item = usize>,
    round: u32,
) -> crate::Result<()> {
    futures::stream::iter(clusters)
        .map(|i| async move {
            let key = layout::status_key(CHANNEL, &cluster(i));
            store.put(&key, record(i, round).encode()).await.map(|_| ())
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// One look, as a new `cairn status --channel prod` process takes it.
pub async fn look(target: &Target, cache: Option<&Path>) -> crate::Result<Look> {
    let (requests, gets, bytes) = target.counter.requests();
    let start = Instant::now();
    let mut fleet = Fleet::new(&target.counted, Some(CHANNEL), cache.map(Path::to_path_buf));
    fleet.refresh().await?;
    let summaries = fleet.summaries(Duration::from_secs(900)).await?;
    let wall = start.elapsed();
    let (requests_after, gets_after, bytes_after) = target.counter.requests();
    Ok(Look {
        requests: requests_after - requests,
        gets: gets_after - gets,
        bytes_out: bytes_after - bytes,
        fetched: fleet.last_fetched(),
        clusters: summaries.first().map_or(0, |s| s.clusters),
        wall,
    })
}

/// Seeds `clusters` records, takes the looks (the uncached one if `uncached`), and rewrites
/// `changed` of them before the last.
pub async fn measure(
    target: &Target,
    (clusters, changed): (usize, usize),
    cache: &Path,
    uncached: bool,
) -> crate::Result<Scale> {
    seed(&target.direct, 0..clusters, 0).await?;
    let uncached = if uncached {
        Some(look(target, None).await?)
    } else {
        None
    };
    let first = look(target, Some(cache)).await?;
    let unchanged = look(target, Some(cache)).await?;
    // Spread over the fleet, as reports come from everywhere.
    let step = (clusters / changed.max(1)).max(1);
    seed(&target.direct, (0..clusters).step_by(step).take(changed), 1).await?;
    let after_change = look(target, Some(cache)).await?;
    let cache_bytes = dir_bytes(cache);
    Ok(Scale {
        clusters,
        changed,
        uncached,
        first,
        unchanged,
        after_change,
        cache_bytes,
        record_bytes: record(0, 0).encode().len(),
    })
}

fn dir_bytes(dir: &Path) -> u64 {
    walk(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}
