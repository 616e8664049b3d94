//! A target that writes nothing: it counts the objects and bytes each agent would write, and
//! keeps ownership the way the Kubernetes target does (the previous snapshot's entries plus what
//! it wrote or removed since), so the agent's planning, fetching and persisting run for real.
//! The fleet uses it where N `dir` targets would not fit in memory (`--target count`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use cairn_agent::target::{BatchReport, Inventory, Target, Write};
use cairn_state_format::{Digest, EntrySet, ResourceId};

/// Counts writes; remembers only what differs from the applied snapshot.
#[derive(Debug, Default)]
pub struct CountingTarget {
    /// Per channel: objects written (`Some`) or removed (`None`) since the applied snapshot.
    overlay: Mutex<BTreeMap<String, BTreeMap<ResourceId, Option<Digest>>>>,
    /// Objects written.
    pub written: AtomicU64,
    /// Their canonical bytes.
    pub bytes: AtomicU64,
    /// Objects removed.
    pub removed: AtomicU64,
}

#[async_trait]
impl Target for CountingTarget {
    fn describe(&self) -> String {
        "count".to_owned()
    }

    async fn inventory(
        &self,
        channel: &str,
        previous: &EntrySet,
        _check_drift: bool,
    ) -> cairn_agent::Result<Inventory> {
        let mut owned: BTreeMap<ResourceId, Option<Digest>> = previous
            .values()
            .map(|e| (e.id.clone(), Some(e.blob)))
            .collect();
        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(marks) = overlay.get_mut(channel) {
            // What `previous` now says by itself needs no remembering.
            marks.retain(|id, mark| match mark {
                Some(blob) => previous.get(id).map(|e| e.blob) != Some(*blob),
                None => previous.contains_key(id),
            });
            for (id, mark) in marks.iter() {
                match mark {
                    Some(blob) => owned.insert(id.clone(), Some(*blob)),
                    None => owned.remove(id),
                };
            }
        }
        Ok(Inventory {
            owned,
            drifted: BTreeSet::new(),
        })
    }

    async fn apply(&self, channel: &str, writes: Vec<Write>) -> cairn_agent::Result<BatchReport> {
        let mut report = BatchReport::default();
        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        let marks = overlay.entry(channel.to_owned()).or_default();
        for write in writes {
            self.written.fetch_add(1, Ordering::Relaxed);
            self.bytes
                .fetch_add(write.bytes.len() as u64, Ordering::Relaxed);
            marks.insert(write.id.clone(), Some(write.blob));
            report.done.push(write.id);
        }
        Ok(report)
    }

    async fn delete(
        &self,
        channel: &str,
        ids: Vec<ResourceId>,
    ) -> cairn_agent::Result<BatchReport> {
        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        let marks = overlay.entry(channel.to_owned()).or_default();
        for id in &ids {
            self.removed.fetch_add(1, Ordering::Relaxed);
            marks.insert(id.clone(), None);
        }
        Ok(BatchReport {
            done: ids,
            failed: Vec::new(),
        })
    }
}
