//! Steps 4 to 7 of a pass: fetch, plan, apply, persist; and their variants for a resync and a
//! teardown.

use std::collections::BTreeSet;

use cairn_state_format::{
    AppliedRef, Change, EntrySet, MAX_UNHEALTHY, Phase, ResourceId, diff_entries,
};

use super::execute::{self, Executed};
use super::phases::Holding;
use super::plan::{Plan, plan, plan_changes, select};
use super::{Channel, status_error};
use crate::error::{Error, Result};
use crate::fetch::blobs;
use crate::fetch::{FetchPath, Fetched, fetch_entries};
use crate::run::Ctx;
use crate::state::{Applied, Step};
use crate::targets::{Inventory, TargetError, Write};

/// What a reconcile moves the target to: `entries`, from `previous` (what was applied before),
/// with the `changes` between them when they are known.
struct Desired<'a> {
    entries: &'a EntrySet,
    previous: &'a EntrySet,
    changes: Option<&'a [Change]>,
}

impl Channel {
    /// Steps 4 to 7 for a new head: fetch, plan, apply, persist.
    pub(super) async fn apply_pending(&mut self, ctx: &Ctx, check_drift: bool) -> Result<()> {
        let Some(pending) = self.pending().cloned() else {
            return Ok(());
        };
        let head = &pending.head;
        let previous = self.holding.applied().map(|a| a.tree().clone());
        // A re-created channel (accepted by the operator) starts a new history: its state is
        // saved whole, since the journal's lines follow one channel's generations.
        let same_channel = self
            .holding
            .applied()
            .is_some_and(|a| a.epoch.is_none() || a.epoch == head.epoch);
        let fetched = fetch_entries(ctx.fetcher(&self.name), previous.as_ref(), head).await?;
        self.note_fetch(&fetched);
        let empty = EntrySet::new();
        let desired = Desired {
            entries: fetched.tree.entries(),
            previous: previous.as_ref().map_or(&empty, |t| t.entries()),
            changes: previous.as_ref().and(fetched.changes.as_deref()),
        };
        self.converge(ctx, desired, check_drift, head.generation)
            .await?;
        let applied = Applied::of(
            head.generation,
            pending.bytes.clone(),
            pending.etag.clone(),
            fetched.tree.clone(),
        );
        // Persist what changed since the state saved last (a journal line), or everything.
        let changes = match (&previous, fetched.changes) {
            (Some(_), Some(changes)) => Some(changes),
            (Some(p), None) => Some(diff_entries(p.entries(), fetched.tree.entries())),
            (None, _) => None,
        };
        let step = match (&previous, &changes) {
            (Some(p), Some(changes)) if same_channel => Step::From {
                from: p.digest(),
                changes,
            },
            _ => Step::Full,
        };
        ctx.state.save(&self.name, &applied, step).await?;
        tracing::info!(generation = head.generation, "applied");
        ctx.metrics.set_generation(&self.name, head.generation);
        self.status.applied = Some(AppliedRef {
            generation: head.generation,
            snapshot: head.snapshot,
        });
        self.holding = Holding::Applied(applied);
        self.check_target = false;
        Ok(())
    }

    /// Logs how the entries were fetched, and records a delta pack that had to be given up.
    fn note_fetch(&mut self, fetched: &Fetched) {
        if let Some(e) = &fetched.fallback {
            self.record_error(&status_error(e, None));
        }
        match fetched.path {
            FetchPath::Walk { nodes } => tracing::info!(nodes, "fetched by walking the index"),
            FetchPath::Delta => tracing::info!("fetched one delta pack"),
            FetchPath::SnapshotPack { shards, delta } => {
                tracing::info!(shards, delta, "fetched the snapshot pack")
            }
            FetchPath::Same => {}
        }
    }

    /// Brings the target back to the applied entries (after a restart, a failure, or on resync).
    pub(super) async fn reconcile_applied(&mut self, ctx: &Ctx, check_drift: bool) -> Result<()> {
        let Some((tree, generation)) = self
            .holding
            .applied()
            .map(|a| (a.tree().clone(), a.generation))
        else {
            return Ok(());
        };
        let desired = Desired {
            entries: tree.entries(),
            previous: tree.entries(),
            changes: Some(&[]),
        };
        self.converge(ctx, desired, check_drift, generation).await?;
        self.check_target = false;
        Ok(())
    }

    /// Plan against the target and carry the plan out; then assess the objects' health.
    async fn converge(
        &mut self,
        ctx: &Ctx,
        desired: Desired<'_>,
        check_drift: bool,
        generation: u64,
    ) -> Result<()> {
        let previous = select(desired.previous, &ctx.labels);
        let changes = desired.changes;
        let desired = select(desired.entries, &ctx.labels);
        let plan = match changes {
            // The target holds exactly what was applied before, and no drift check asks for
            // more: the changes are the plan (the same plan as the full one, see `plan_changes`).
            Some(changes) if !check_drift && ctx.target.owns_exactly(&self.name, &previous) => {
                plan_changes(&desired, &previous, changes)
            }
            _ => {
                let inventory = self
                    .inventory(ctx, &desired, &previous, check_drift, generation)
                    .await?;
                if check_drift {
                    self.status.counts.drifted = inventory.drifted.len() as u64;
                }
                plan(&desired, &inventory, &previous)
            }
        };
        // Written/removed counts describe the last reconcile that changed something, so an
        // idle pass leaves the record (and the store) alone.
        self.status.counts.objects = desired.len() as u64;
        if plan.is_empty() {
            self.status.counts.failed = 0;
            self.assess(ctx, &desired, check_drift).await;
            return Ok(());
        }
        let (creates, updates, deletes) = plan.counts();
        tracing::info!(
            creates,
            updates,
            deletes,
            unchanged = plan.unchanged,
            "plan"
        );
        blobs::prefetch(&ctx.remote, &ctx.cache, &self.name, plan.blobs()).await?;
        let done = execute::execute(ctx, &self.name, &plan, generation).await?;
        self.count(ctx, &done, desired.len());
        if done.failed.is_empty() {
            self.assess(ctx, &desired, true).await;
            return Ok(());
        }
        Err(self.failures(ctx, &plan, done))
    }

    /// Records what a plan's execution did in the metrics and the status counts.
    fn count(&mut self, ctx: &Ctx, done: &Executed, desired: usize) {
        let failed = done.failed.len() as u64;
        ctx.metrics
            .objects(&self.name, done.applied, done.pruned, failed);
        let counts = &mut self.status.counts;
        counts.applied = done.applied;
        counts.pruned = done.pruned;
        counts.failed = failed;
        counts.healthy = (desired as u64).saturating_sub(failed);
    }

    /// The error of a plan some of whose objects failed; the next two failures are recorded in
    /// the status with their objects, and every failed object is listed as unhealthy.
    fn failures(&mut self, ctx: &Ctx, plan: &Plan, done: Executed) -> Error {
        let target = ctx.target.describe();
        self.status.unhealthy = done
            .failed
            .iter()
            .take(MAX_UNHEALTHY)
            .map(|f| f.id.to_string())
            .collect();
        let (failed, total) = (done.failed.len(), plan.len());
        let mut failures = done.failed.into_iter();
        let Some(first) = failures.next() else {
            return Error::target(
                target,
                TargetError::Bookkeeping("a failed plan reported no failure".to_owned()),
            );
        };
        for failure in failures.take(2) {
            let e = Error::target(target.clone(), failure.error);
            self.record_error(&status_error(&e, Some(failure.id.to_string())));
        }
        Error::target(
            target,
            TargetError::Failed {
                failed,
                total,
                first: Box::new(first.error.about(&first.id)),
            },
        )
    }

    /// Removes everything the channel applied and forgets it.
    pub(super) async fn teardown(&mut self, ctx: &Ctx, reason: &str) -> Result<()> {
        tracing::info!(reason, "tearing the channel down");
        let previous = self.holding.applied().map(|a| a.tree().clone());
        let empty = EntrySet::new();
        let generation = self.holding.generation().unwrap_or(0);
        let desired = Desired {
            entries: &empty,
            previous: previous.as_ref().map_or(&empty, |t| t.entries()),
            changes: None,
        };
        self.converge(ctx, desired, false, generation).await?;
        ctx.state.remove(&self.name).await?;
        self.holding = Holding::Nothing;
        self.status.applied = None;
        ctx.metrics.set_generation(&self.name, 0);
        self.hold(
            ctx,
            Phase::Pending,
            Some(format!("{reason}; everything it applied was removed")),
            None,
        );
        Ok(())
    }

    /// What the target holds for the channel, with drift when asked.
    async fn inventory(
        &self,
        ctx: &Ctx,
        desired: &EntrySet,
        previous: &EntrySet,
        check_drift: bool,
        generation: u64,
    ) -> Result<Inventory> {
        let mut inventory = ctx
            .target
            .inventory(&self.name, previous, check_drift)
            .await?;
        if check_drift && ctx.target.live_drift().is_some() {
            let drifted = self
                .live_drift(ctx, desired, &inventory, generation)
                .await?;
            inventory.drifted.extend(drifted);
        }
        Ok(inventory)
    }

    /// Objects the channel owns, unchanged since written, whose live state no longer matches
    /// (for targets that compare live content).
    async fn live_drift(
        &self,
        ctx: &Ctx,
        desired: &EntrySet,
        inventory: &Inventory,
        generation: u64,
    ) -> Result<BTreeSet<ResourceId>> {
        let Some(live) = ctx.target.live_drift() else {
            return Ok(BTreeSet::new());
        };
        let current: Vec<_> = desired
            .values()
            .filter(|e| inventory.owned.get(&e.id) == Some(&Some(e.blob)))
            .collect();
        let digests: Vec<_> = current.iter().map(|e| e.blob).collect();
        blobs::prefetch(&ctx.remote, &ctx.cache, &self.name, digests).await?;
        let mut drifted = BTreeSet::new();
        for chunk in current.chunks(execute::BATCH) {
            let mut writes = Vec::with_capacity(chunk.len());
            for entry in chunk {
                let bytes = blobs::load(&ctx.remote, &ctx.cache, &self.name, &entry.blob).await?;
                writes.push(Write {
                    id: entry.id.clone(),
                    blob: entry.blob,
                    bytes,
                    generation,
                });
            }
            drifted.extend(live.drifted(&self.name, writes).await?);
        }
        Ok(drifted)
    }

    /// Fills the health counts from the target, when it can tell and an assessment is due:
    /// after changes, on resync, while anything is not healthy, or when never assessed. A target
    /// that cannot tell counts every object it holds as healthy.
    async fn assess(&mut self, ctx: &Ctx, desired: &EntrySet, due: bool) {
        let counts = &self.status.counts;
        let assessed = counts.healthy + counts.progressing + counts.degraded;
        let due = due
            || counts.progressing > 0
            || counts.degraded > 0
            || assessed != desired.len() as u64;
        if !due {
            return;
        }
        let Some(check) = ctx.target.health() else {
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
