//! What the target holds for a channel, as a pass looks at it: the inventory, drift (from the
//! target's own bookkeeping, or by comparing live objects), and the objects' health.

use cairn_state_format::{EntrySet, MAX_UNHEALTHY, ResourceId};

use super::Channel;
use super::context::Converging;
use super::execute::{self, Executed};
use super::outcome;
use crate::error::Result;
use crate::targets::{Drifted, Inventory, Target, Write};

impl Channel {
    /// Records the drift check's findings (only a pass that checked changes them).
    pub(super) fn note_drift(
        &mut self,
        inventory: Option<&Inventory>,
        done: &Executed,
        check_drift: bool,
    ) {
        if !check_drift {
            return;
        }
        let (total, listed) = match inventory {
            Some(inventory) => outcome::drifted(inventory, done),
            None => (0, Vec::new()),
        };
        self.status.counts.drifted = total;
        self.status.drifted = listed;
    }

    /// What the target holds for the channel, with drift when asked.
    pub(super) async fn inventory(
        &self,
        at: Converging<'_>,
        desired: &EntrySet,
        previous: &EntrySet,
        check_drift: bool,
        generation: u64,
    ) -> Result<Inventory> {
        let mut inventory = at
            .target
            .inventory(&self.name, desired, previous, check_drift)
            .await?;
        if check_drift && at.target.live_drift().is_some() {
            let drifted = self.live_drift(at, desired, &inventory, generation).await?;
            inventory.drifted.extend(drifted.correct);
            inventory.reported.extend(drifted.report);
        }
        Ok(inventory)
    }

    /// Objects the channel owns, unchanged since written, whose live state no longer matches
    /// (for targets that compare live content): only the target's suspects, when it has them.
    pub(super) async fn live_drift(
        &self,
        at: Converging<'_>,
        desired: &EntrySet,
        inventory: &Inventory,
        generation: u64,
    ) -> Result<Drifted> {
        let Some(live) = at.target.live_drift() else {
            return Ok(Drifted::default());
        };
        let current: Vec<_> = desired
            .values()
            .filter(|e| inventory.owned.get(&e.id) == Some(&Some(e.blob)))
            .filter(|e| !inventory.narrowed || inventory.suspects.contains(&e.id))
            .collect();
        let digests: Vec<_> = current.iter().map(|e| e.blob).collect();
        at.fetch.prefetch(digests).await?;
        let mut drifted = Drifted::default();
        for chunk in current.chunks(execute::BATCH) {
            let mut writes = Vec::with_capacity(chunk.len());
            for entry in chunk {
                let bytes = at.fetch.blob(&entry.blob).await?;
                writes.push(Write {
                    id: entry.id.clone(),
                    blob: entry.blob,
                    bytes,
                    generation,
                });
            }
            let found = live.drifted(&self.name, writes).await?;
            drifted.correct.extend(found.correct);
            drifted.report.extend(found.report);
        }
        Ok(drifted)
    }

    /// Fills the health counts from the target, when it can tell and an assessment is due:
    /// after changes, on resync, while anything is not healthy, or when never assessed. A target
    /// that cannot tell counts every object it holds as healthy.
    pub(super) async fn assess(&mut self, target: &dyn Target, desired: &EntrySet, due: bool) {
        let counts = &self.status.counts;
        let assessed = counts.healthy + counts.progressing + counts.degraded;
        let due = due
            || counts.progressing > 0
            || counts.degraded > 0
            || assessed != desired.len() as u64;
        if !due {
            return;
        }
        let Some(check) = target.health() else {
            let counts = &mut self.status.counts;
            counts.healthy = (desired.len() as u64).saturating_sub(counts.failed);
            counts.progressing = 0;
            counts.degraded = 0;
            return;
        };
        let ids: Vec<ResourceId> = desired.keys().cloned().collect();
        match check.assess(&self.name, ids).await {
            Ok(report) => {
                let counts = &mut self.status.counts;
                counts.healthy = report.healthy;
                counts.progressing = report.progressing;
                counts.degraded = report.degraded;
                self.status.unhealthy = report.unhealthy.into_iter().take(MAX_UNHEALTHY).collect();
            }
            Err(error) => {
                tracing::warn!(%error, "cannot assess health; keeping the last assessment")
            }
        }
    }
}
