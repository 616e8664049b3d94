//! Reading a channel's status records in proportion to what changed: one listing (which gives
//! each record's version), then a GET for each record that is new or whose version moved since
//! the last read. What was read before comes from memory (a watch loop, the web view) or from the
//! status cache on disk ([`super::cache`]), so at 100,000 clusters with 1 % reporting
//! since the last look a read is a listing plus about 1,000 GETs, not 100,000.
//!
//! ```no_run
//! # async fn demo(store: &cairn_store::Store) -> cairn_hub::Result<()> {
//! let mut reader = cairn_hub::StatusReader::new(store, "prod", None);
//! let stats = reader.refresh().await?;
//! println!("{} records, {} fetched", reader.len(), stats.fetched);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cairn_state_format::{StatusRecord, layout};
use cairn_store::{Listed, Store};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::cache::{CachedRecord, Stamp, StatusCacheFile};
use crate::error::{Error, Result};
use crate::objects::CONCURRENCY;

/// What one refresh did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Records the listing named.
    pub listed: usize,
    /// Records fetched (new or changed since the last read).
    pub fetched: usize,
    /// Records taken from the previous read unchanged.
    pub reused: usize,
    /// Records gone since the last read.
    pub removed: usize,
    /// Records fetched that could not be read (damaged, oversize, for another cluster or channel);
    /// left out, and fetched again next time.
    pub unreadable: usize,
}

/// The status records of one channel, kept up to date by [`StatusReader::refresh`].
#[derive(Debug)]
pub struct StatusReader {
    store: Store,
    channel: String,
    cache: Option<StatusCacheFile>,
    records: BTreeMap<String, CachedRecord>,
    loaded: bool,
}

impl StatusReader {
    /// A reader of `channel`'s records; with a `cache_dir`, it starts from the records cached
    /// there and saves what it read back.
    pub fn new(store: &Store, channel: &str, cache_dir: Option<&Path>) -> StatusReader {
        StatusReader {
            store: store.clone(),
            channel: channel.to_owned(),
            cache: cache_dir.map(|dir| StatusCacheFile::new(dir, store.url(), channel)),
            records: BTreeMap::new(),
            loaded: false,
        }
    }

    /// The channel read.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Lists the channel's records and fetches those that changed.
    pub async fn refresh(&mut self) -> Result<ReadStats> {
        let listed = self
            .store
            .list(&layout::status_prefix(&self.channel))
            .await?;
        self.refresh_from(listed).await
    }

    /// Brings the records up to date with `listed` (this channel's records, as just listed).
    pub async fn refresh_from(&mut self, listed: Vec<Listed>) -> Result<ReadStats> {
        if !self.loaded {
            if let Some(cache) = &self.cache {
                self.records.extend(cache.load());
            }
            self.loaded = true;
        }
        let mut stats = ReadStats {
            listed: listed.len(),
            ..ReadStats::default()
        };
        let mut current = BTreeMap::new();
        let mut changed = Vec::new();
        for item in listed {
            let stamp = Stamp::of(&item);
            match self.records.remove(&item.key) {
                Some(cached) if stamp.unchanged_since(&cached.stamp) => {
                    current.insert(item.key, cached);
                }
                _ => changed.push((item.key, stamp)),
            }
        }
        stats.reused = current.len();
        stats.removed = self.records.len();
        let fetched = self.fetch(changed).await?;
        stats.fetched = fetched.len();
        for (key, read) in fetched {
            match read {
                Some(cached) => {
                    current.insert(key, cached);
                }
                None => stats.unreadable += 1,
            }
        }
        self.records = current;
        if stats.fetched > 0 || stats.removed > 0 {
            self.save();
        }
        Ok(stats)
    }

    /// Fetches `changed` records concurrently; `None` for one that vanished or is unreadable.
    async fn fetch(
        &self,
        changed: Vec<(String, Stamp)>,
    ) -> Result<Vec<(String, Option<CachedRecord>)>> {
        let (store, channel) = (&self.store, self.channel.as_str());
        futures::stream::iter(changed)
            .map(|(key, stamp)| async move {
                let record = match store.get(&key).await? {
                    Some(fetched) => check(&fetched.bytes, &key, channel),
                    None => None,
                };
                let cached = record.map(|record| CachedRecord {
                    stamp,
                    record: Arc::new(record),
                });
                Ok::<_, Error>((key, cached))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await
    }

    fn save(&self) {
        if let Some(cache) = &self.cache
            && let Err(error) = cache.save(self.records.iter())
        {
            tracing::warn!(%error, path = %cache.path().display(), "status cache not saved; the next read fetches every record");
        }
    }

    /// The records, by cluster id.
    pub fn records(&self) -> impl Iterator<Item = &StatusRecord> {
        self.records.values().map(|c| c.record.as_ref())
    }

    /// The records, by cluster id, shared (cheap to take while the reader goes on reading).
    pub fn shared(&self) -> Vec<Arc<StatusRecord>> {
        self.records
            .values()
            .map(|c| Arc::clone(&c.record))
            .collect()
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Decodes a record and checks it is about the cluster and channel its key names (a record
/// copied to another key is refused, not counted twice).
fn check(bytes: &[u8], key: &str, channel: &str) -> Option<StatusRecord> {
    let record = match StatusRecord::decode(bytes, key) {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!(%error, key, "unreadable status record");
            return None;
        }
    };
    let cluster = key.rsplit('/').next().unwrap_or_default();
    if record.channel != channel || record.cluster != cluster {
        tracing::warn!(
            key,
            cluster = record.cluster,
            channel = record.channel,
            "status record names another cluster or channel than its key; ignored"
        );
        return None;
    }
    Some(record)
}

/// Every status record in the store, listed once and grouped by channel (for a look at every
/// channel without a listing per channel).
pub async fn list_by_channel(store: &Store) -> Result<BTreeMap<String, Vec<Listed>>> {
    let mut out: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
    for item in store.list("status/").await? {
        if let Some(channel) = item.key.split('/').nth(1) {
            out.entry(channel.to_owned()).or_default().push(item);
        }
    }
    Ok(out)
}
