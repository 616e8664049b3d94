//! A target that writes nothing: it counts the objects and bytes each agent would write, and
//! keeps ownership the way the Kubernetes target does (the previous snapshot's entries plus what
//! it wrote or removed since), so the agent's planning, fetching and persisting run for real.
//! The fleet uses it where N `dir` targets would not fit in memory (`--target count`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use cairn_agent::targets::{BatchReport, Inventory, Target, Write};
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
            forget_what_previous_says(marks, previous);
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

    fn owns_exactly(&self, channel: &str, previous: &EntrySet) -> bool {
        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay.get_mut(channel).is_none_or(|marks| {
            forget_what_previous_says(marks, previous);
            marks.is_empty()
        })
    }

    fn forget(&self, channel: &str) {
        let mut overlay = self.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay.remove(channel);
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

/// Drops the marks `previous` now says by itself (written with the blob it names, or removed
/// and absent from it).
fn forget_what_previous_says(
    marks: &mut BTreeMap<ResourceId, Option<Digest>>,
    previous: &EntrySet,
) {
    marks.retain(|id, mark| match mark {
        Some(blob) => previous.get(id).map(|e| e.blob) != Some(*blob),
        None => previous.contains_key(id),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::parse_documents;

    fn entries(values: &[(&str, &str)]) -> EntrySet {
        let yaml: String = values
            .iter()
            .map(|(n, v)| {
                format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\ndata: {{v: '{v}'}}\n")
            })
            .collect();
        parse_documents("t.yaml", &yaml)
            .unwrap()
            .iter()
            .map(|r| (r.id.clone(), r.entry()))
            .collect()
    }

    fn write(entry: &cairn_state_format::Entry) -> Write {
        Write {
            id: entry.id.clone(),
            blob: entry.blob,
            bytes: bytes::Bytes::new(),
            generation: 2,
        }
    }

    #[tokio::test]
    async fn owns_exactly_what_was_applied_until_a_write_or_removal_is_not_in_it() {
        let target = CountingTarget::default();
        let one = entries(&[("a", "1"), ("b", "1")]);
        let two = entries(&[("a", "2"), ("b", "1")]);
        assert!(target.owns_exactly("c", &one));
        let a2 = two.values().next().unwrap();
        target.apply("c", vec![write(a2)]).await.unwrap();
        // Written, but the applied entries still say "a = 1" (say, the state was not saved).
        assert!(!target.owns_exactly("c", &one));
        let owned = target.inventory("c", &one, false).await.unwrap().owned;
        assert_eq!(owned.get(&a2.id), Some(&Some(a2.blob)));
        // Once the applied entries are those written, nothing is left to remember.
        assert!(target.owns_exactly("c", &two));
        let b = one.keys().nth(1).unwrap().clone();
        target.delete("c", vec![b]).await.unwrap();
        assert!(!target.owns_exactly("c", &two));
        let only_a = entries(&[("a", "2")]);
        assert!(target.owns_exactly("c", &only_a));
    }
}
