//! What several agents in one process may share: content-addressed data (verified snapshots,
//! blobs in memory) and HTTP clients. Everything kept here is named by its digest and was
//! verified before it was kept, so sharing it between agents with different keys, channels or
//! stores changes nothing but memory and CPU.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use cairn_state_format::Digest;
use moka::future::Cache;

use crate::error::ConfigError;
use crate::fetch::CheckedPacks;
use crate::fetch::tree::Trees;

/// What a blob in the memory tier costs besides its bytes: moka's entry (152 bytes on 64-bit
/// platforms without a time-to-live, per its maintainer: moka-rs/moka#201), the digest and the
/// `Bytes` handle. Counted so that a tier of small blobs stays within its capacity.
const BLOB_ENTRY_BYTES: usize = 152 + size_of::<Digest>() + size_of::<Bytes>();

/// How long a blob unread stays in the memory tier: longer than the poll interval of a fleet
/// sharing the tier (30 s by default), so the agents that follow a change find its blobs, and
/// short enough that a busy channel does not fill the capacity with blobs of past generations
/// that nothing reads again (at a change every 2 s, 4 MiB of 1 KiB blobs took two hours to
/// fill, which a soak cannot tell from a leak). The pass that fetched a blob reads it at once;
/// a later read (a drift check, a resync) finds it on disk.
const BLOB_IDLE: Duration = Duration::from_secs(60);

/// A semaphore of one permit per core but one (at least one), for state loads.
#[derive(Debug)]
pub(crate) struct LoadSlots(tokio::sync::Semaphore);

impl Default for LoadSlots {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LoadSlots(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1)))
    }
}

impl LoadSlots {
    /// Waits for a slot.
    pub(crate) async fn acquire(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed, so `acquire` only fails if it were: then go on.
        self.0.acquire().await.ok()
    }
}

/// Caches and clients shared by the agents of one process. [`crate::Agent::new`] gives each agent
/// its own; [`crate::Agent::with_shared`] lets a process that runs many agents (the fleet load
/// tester, a host following many channels) give them one.
///
/// ```
/// use std::sync::Arc;
/// let shared = Arc::new(cairn_agent::Shared::new());
/// // Agent::with_shared(config_a, shared.clone())?, Agent::with_shared(config_b, shared)?
/// # drop(shared);
/// ```
#[derive(Debug, Default)]
pub struct Shared {
    pub(crate) trees: Trees,
    pub(crate) packs: CheckedPacks,
    /// State loads running at once: they are CPU-bound, and polls must not wait behind them.
    pub(crate) loads: LoadSlots,
    memory: Mutex<HashMap<u64, Cache<Digest, Bytes>>>,
    http: Mutex<HashMap<Duration, reqwest::Client>>,
    blob_dir: Option<PathBuf>,
}

impl Shared {
    /// Nothing shared yet; each agent keeps blobs on disk in its own state dir.
    pub fn new() -> Shared {
        Shared::default()
    }

    /// Like [`Shared::new`], and the agents keep blobs on disk in `dir`, one copy for all of
    /// them, instead of in their state dirs. A cache sweep by any of them keeps the blobs of
    /// every snapshot any of them holds.
    pub fn with_blob_dir(dir: &Path) -> Shared {
        Shared {
            blob_dir: Some(dir.to_owned()),
            ..Shared::default()
        }
    }

    /// Where blobs go on disk: the shared directory, or `own` (the agent's).
    pub(crate) fn blob_dir(&self, own: &Path) -> PathBuf {
        self.blob_dir.clone().unwrap_or_else(|| own.to_owned())
    }

    /// The in-memory blob tier of `bytes` capacity (one per distinct capacity). An entry weighs
    /// its blob and what keeping it costs (so the capacity bounds the memory, however small the
    /// blobs), and leaves after [`BLOB_IDLE`] unread: the tier serves the pass that fetched a
    /// blob and the agents of the process that follow the same change; everything stays on disk.
    pub(crate) fn memory(&self, bytes: u64) -> Cache<Digest, Bytes> {
        let mut caches = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        caches
            .entry(bytes)
            .or_insert_with(|| {
                Cache::builder()
                    .weigher(|_: &Digest, blob: &Bytes| {
                        u32::try_from(blob.len() + BLOB_ENTRY_BYTES).unwrap_or(u32::MAX)
                    })
                    .max_capacity(bytes)
                    .time_to_idle(BLOB_IDLE)
                    .build()
            })
            .clone()
    }

    /// An HTTP client whose requests time out after `timeout` (one per distinct timeout; a
    /// client pools connections per host).
    pub(crate) fn http(&self, timeout: Duration) -> Result<reqwest::Client, ConfigError> {
        let mut clients = self.http.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&timeout) {
            return Ok(client.clone());
        }
        // No total timeout on the client: each read has a deadline of its own, which grows with
        // the bytes it may return (a large snapshot pack needs longer than a head).
        let client = reqwest::Client::builder()
            .read_timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("cairn-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::HttpClient)?;
        clients.insert(timeout, client.clone());
        Ok(client)
    }
}
