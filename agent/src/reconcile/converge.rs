//! Steps 3 to 6 of a pass: fetch, plan, apply, persist; and their variants for a resync and a
//! teardown.

use cairn_state_format::{AppliedRef, EntrySet, MAX_UNHEALTHY, Phase};

use super::{Channel, execute};
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::fetch::{Base, FetchPath, fetch_entries};
use crate::plan::{plan, select};
use crate::state::Applied;

impl Channel {
    /// Steps 3 to 6 for a new head: fetch, plan, apply, persist.
    pub(super) async fn apply_pending(&mut self, ctx: &Ctx, check_drift: bool) -> Result<()> {
        let Some(pending) = self.pending.clone() else {
            return Ok(());
        };
        let head = &pending.head;
        let base = self.applied.as_ref().map(|a| Base {
            snapshot: &a.snapshot,
            entries: &a.entries,
        });
        let fetched =
            fetch_entries(&ctx.remote, &ctx.cache, &self.name, base, &head.snapshot).await?;
        if let Some(e) = &fetched.fallback {
            self.record_error(ctx, e, None);
        }
        match fetched.path {
            FetchPath::Walk { nodes } => tracing::info!(nodes, "fetched by walking the index"),
            FetchPath::Delta => tracing::info!("fetched one delta pack"),
            FetchPath::Same => {}
        }
        let previous = self
            .applied
            .as_ref()
            .map(|a| a.entries.clone())
            .unwrap_or_default();
        self.converge(ctx, &fetched.entries, &previous, check_drift)
            .await?;
        let applied = Applied {
            generation: head.generation,
            snapshot: head.snapshot,
            head: pending.bytes.clone(),
            head_etag: pending.etag.clone(),
            entries: fetched.entries,
        };
        ctx.state.save(&self.name, &applied)?;
        tracing::info!(generation = head.generation, "applied");
        ctx.metrics.set_generation(&self.name, head.generation);
        self.status.applied = Some(AppliedRef {
            generation: head.generation,
            snapshot: head.snapshot,
        });
        self.applied = Some(applied);
        self.pending = None;
        self.check_target = false;
        Ok(())
    }

    /// Brings the target back to the applied entries (after a restart, a failure, or on resync).
    pub(super) async fn reconcile_applied(&mut self, ctx: &Ctx, check_drift: bool) -> Result<()> {
        let entries = self
            .applied
            .as_ref()
            .map(|a| a.entries.clone())
            .unwrap_or_default();
        self.converge(ctx, &entries, &entries, check_drift).await?;
        self.check_target = false;
        Ok(())
    }

    /// Plan against the target and carry the plan out.
    async fn converge(
        &mut self,
        ctx: &Ctx,
        entries: &EntrySet,
        previous: &EntrySet,
        check_drift: bool,
    ) -> Result<()> {
        let desired = select(entries, &ctx.labels);
        let inventory = ctx.target.inventory(&self.name, check_drift).await?;
        let plan = plan(&desired, &inventory, previous);
        // Written/removed counts describe the last reconcile that changed something, so an
        // idle pass leaves the record (and the store) alone.
        let counts = &mut self.status.counts;
        counts.objects = desired.len() as u64;
        if check_drift {
            counts.drifted = inventory.drifted.len() as u64;
        }
        if plan.is_empty() {
            counts.failed = 0;
            counts.healthy = desired.len() as u64;
            return Ok(());
        }
        let (creates, updates, deletes) = plan.counts();
        tracing::info!(
            creates,
            updates,
            deletes,
            unchanged = plan.unchanged,
            drifted = inventory.drifted.len(),
            "plan"
        );
        crate::blobs::prefetch(&ctx.remote, &ctx.cache, &self.name, plan.blobs()).await?;
        let done = execute::execute(ctx, &self.name, &plan).await?;
        let failed = done.failed.len() as u64;
        ctx.metrics
            .objects(&self.name, done.applied, done.pruned, failed);
        self.status.counts.applied = done.applied;
        self.status.counts.pruned = done.pruned;
        self.status.counts.failed = failed;
        self.status.counts.healthy = (desired.len() as u64).saturating_sub(failed);
        let Some(first) = done.failed.first() else {
            return Ok(());
        };
        let error = Error::Target {
            target: ctx.target.describe(),
            message: format!(
                "{failed} of {} objects failed; first: {}: {}",
                plan.steps.iter().map(|s| s.items.len()).sum::<usize>(),
                first.id,
                first.message
            ),
        };
        for failure in done.failed.iter().skip(1).take(2) {
            let e = Error::Target {
                target: ctx.target.describe(),
                message: failure.message.clone(),
            };
            self.record_error(ctx, &e, Some(failure.id.to_string()));
        }
        self.status.unhealthy = done
            .failed
            .iter()
            .take(MAX_UNHEALTHY)
            .map(|f| f.id.to_string())
            .collect();
        Err(error)
    }

    /// Removes everything the channel applied and forgets it.
    pub(super) async fn teardown(&mut self, ctx: &Ctx, reason: &str) -> Result<()> {
        tracing::info!(reason, "tearing the channel down");
        let previous = self
            .applied
            .as_ref()
            .map(|a| a.entries.clone())
            .unwrap_or_default();
        self.converge(ctx, &EntrySet::new(), &previous, false)
            .await?;
        ctx.state.remove(&self.name)?;
        self.applied = None;
        self.pending = None;
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
}
