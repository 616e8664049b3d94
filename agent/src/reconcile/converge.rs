//! Steps 4 to 7 of a pass: fetch, plan, apply, persist; and their variants for a resync and a
//! teardown.

use cairn_state_format::{Change, EntrySet, Incomplete, MAX_UNHEALTHY, Phase, diff_entries};

use super::Channel;
use super::context::Converging;
use super::execute::{self, Executed};
use super::outcome;
use super::phases::Holding;
use super::plan::{Plan, is_definition, plan, plan_changes, select};
use super::status::status_error;
use crate::error::{Error, OutOfScope, Result};
use crate::fetch::{FetchPath, Fetched, fetch_entries};
use crate::metrics::Metrics;
use crate::state::{Applied, Step};
use crate::targets::{PassScope, Target, TargetError};

/// What a reconcile moves the target to: `entries`, from `previous` (what was applied before),
/// with the `changes` between them when they are known.
struct Desired<'a> {
    entries: &'a EntrySet,
    previous: &'a EntrySet,
    changes: Option<&'a [Change]>,
    /// Whether `entries` were checked whole against the channel's scope already (a new
    /// generation): then only the pass's removals are.
    checked: bool,
}

impl Channel {
    /// Steps 4 to 7 for a new head: fetch, check against the scope, plan, apply, persist.
    /// `Some`: the head was refused for its scope, and nothing of it written.
    pub(super) async fn apply_pending(
        &mut self,
        at: Converging<'_>,
        check_drift: bool,
    ) -> Result<Option<OutOfScope>> {
        let Some(pending) = self.pending().cloned() else {
            return Ok(None);
        };
        let head = &pending.head;
        let previous = self.holding.applied().map(|a| a.tree().clone());
        // A re-created channel (accepted by the operator) starts a new history: its state is
        // saved whole, since the journal's lines follow one channel's generations.
        let same_channel = self.holding.applied().is_some_and(|a| {
            let epoch = a.head.signed.epoch();
            epoch.is_none() || epoch == head.epoch
        });
        let fetched = fetch_entries(at.fetch, previous.as_ref(), head).await?;
        self.note_fetch(&fetched);
        let selected = select(fetched.tree.entries(), at.labels);
        let generation = head.generation;
        if let Some(refusal) = self
            .refuse_out_of_scope(at, generation, &selected, pending.etag.clone())
            .await?
        {
            return Ok(Some(refusal));
        }
        let empty = EntrySet::new();
        let desired = Desired {
            entries: fetched.tree.entries(),
            previous: previous.as_ref().map_or(&empty, |t| t.entries()),
            changes: previous.as_ref().and(fetched.changes.as_deref()),
            checked: true,
        };
        let done = self
            .converge(at, desired, check_drift, head.generation)
            .await?;
        let applied = Applied::of(pending.record(), fetched.tree.clone());
        // Persist what changed since the state saved last (a journal line), or everything.
        let changes = previous.as_ref().map(|p| {
            fetched
                .changes
                .unwrap_or_else(|| diff_entries(p.entries(), fetched.tree.entries()))
        });
        let step = match (&previous, &changes) {
            (Some(p), Some(changes)) if same_channel => Step::From {
                from: p.digest(),
                changes,
            },
            _ => Step::Full,
        };
        if let Err(e) = at.state.save(&self.name, &applied, step).await {
            // Everything is written but not recorded: the target can still find it all (the
            // ApplySet parent names its kinds), and the status says what is out there.
            return Err(self.stopped(head.generation, done, e));
        }
        self.status.incomplete = None;
        tracing::info!(generation = head.generation, "applied");
        at.metrics.set_generation(&self.name, head.generation);
        self.status.applied = Some(applied.head.reference());
        self.holding = Holding::Applied(applied);
        self.check_target = false;
        Ok(None)
    }

    /// Logs how the entries were fetched, and records a delta pack that had to be given up.
    fn note_fetch(&mut self, fetched: &Fetched) {
        if let Some(e) = &fetched.fallback {
            self.record_error(&status_error(e, None));
        }
        match fetched.path {
            FetchPath::Walk { nodes } => tracing::info!(nodes, "fetched by walking the index"),
            FetchPath::Delta => tracing::info!("fetched one delta pack"),
            FetchPath::SnapshotPack {
                shards,
                delta,
                bridge,
            } => {
                tracing::info!(shards, delta, bridge, "fetched the snapshot pack")
            }
            FetchPath::Same => {}
        }
    }

    /// Brings the target back to the applied entries (after a restart, a failure, or on resync).
    pub(super) async fn reconcile_applied(
        &mut self,
        at: Converging<'_>,
        check_drift: bool,
    ) -> Result<()> {
        let Some((tree, generation)) = self
            .holding
            .applied()
            .map(|a| (a.tree().clone(), a.head.generation))
        else {
            return Ok(());
        };
        let desired = Desired {
            entries: tree.entries(),
            previous: tree.entries(),
            changes: Some(&[]),
            checked: false,
        };
        let done = self.converge(at, desired, check_drift, generation).await?;
        if done.wrote()
            && let Some(applied) = self.holding.applied()
        {
            // What the target records beside the state (the Kubernetes target's fingerprints of
            // what it just corrected) is kept with it.
            at.state.resave(&self.name, applied).await?;
        }
        self.check_target = false;
        Ok(())
    }

    /// Plan against the target and carry the plan out; then assess the objects' health.
    /// Returns what the plan did; a pass that stops part way says what it did in the status.
    async fn converge(
        &mut self,
        at: Converging<'_>,
        desired: Desired<'_>,
        check_drift: bool,
        generation: u64,
    ) -> Result<Executed> {
        at.target.set_scope(&self.name, self.allowed.scope());
        let previous = select(desired.previous, at.labels);
        let (changes, checked) = (desired.changes, desired.checked);
        let desired = select(desired.entries, at.labels);
        let (plan, inventory) = match changes {
            // The target holds exactly what was applied before, and no drift check asks for
            // more: the changes are the plan (the same plan as the full one, see `plan_changes`).
            Some(changes) if !check_drift && at.target.owns_exactly(&self.name, &previous) => {
                (plan_changes(&desired, &previous, changes), None)
            }
            _ => {
                let inventory = self
                    .inventory(at, &desired, &previous, check_drift, generation)
                    .await?;
                (plan(&desired, &inventory, &previous), Some(inventory))
            }
        };
        let plan = self.confine(at, plan, checked).await?;
        // Written/removed counts describe the last reconcile that changed something, so an
        // idle pass leaves the record (and the store) alone.
        self.status.counts.objects = desired.len() as u64;
        if plan.is_empty() {
            self.status.counts.failed = 0;
            self.note_drift(inventory.as_ref(), &Executed::default(), check_drift);
            self.assess(at.target, &desired, check_drift).await;
            return Ok(Executed::default());
        }
        let (creates, updates, deletes) = plan.counts();
        tracing::info!(
            creates,
            updates,
            deletes,
            unchanged = plan.unchanged,
            "plan"
        );
        at.fetch.prefetch(plan.blobs()).await?;
        // Before the first write: whatever the target knows it cannot do refuses the pass now.
        let scope = scope(at, &plan).await?;
        at.state.check_writable(&self.name)?;
        at.target.prepare(&self.name, &scope).await?;
        let (done, stopped) = execute::execute(at.target, at.fetch, &plan, generation).await;
        self.count(at.metrics, &done, desired.len());
        self.note_drift(inventory.as_ref(), &done, check_drift);
        if let Some(e) = stopped {
            return Err(self.stopped(generation, done, e));
        }
        if done.failed.is_empty() {
            self.assess(at.target, &desired, true).await;
            return Ok(done);
        }
        let incomplete = outcome::incomplete(generation, &done);
        let e = self.failures(at.target, &plan, done);
        Err(self.stopped_with(incomplete, e))
    }

    /// The error of a pass that stopped part way, after recording what it did.
    fn stopped(&mut self, generation: u64, done: Executed, e: Error) -> Error {
        self.stopped_with(outcome::incomplete(generation, &done), e)
    }

    fn stopped_with(&mut self, incomplete: Incomplete, e: Error) -> Error {
        self.status.incomplete = Some(incomplete);
        e
    }

    /// Records what a plan's execution did in the metrics and the status counts.
    fn count(&mut self, metrics: &Metrics, done: &Executed, desired: usize) {
        let failed = done.failed.len() as u64;
        let (applied, pruned) = (done.applied.len() as u64, done.pruned.len() as u64);
        metrics.objects(&self.name, applied, pruned, failed);
        let counts = &mut self.status.counts;
        counts.applied = applied;
        counts.pruned = pruned;
        counts.failed = failed;
        counts.healthy = (desired as u64).saturating_sub(failed);
    }

    /// The error of a plan some of whose objects failed; the next two failures are recorded in
    /// the status with their objects, and every failed object is listed as unhealthy.
    fn failures(&mut self, target: &dyn Target, plan: &Plan, done: Executed) -> Error {
        let target = target.describe();
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
    pub(super) async fn teardown(&mut self, at: Converging<'_>, reason: &str) -> Result<()> {
        tracing::info!(reason, "tearing the channel down");
        let previous = self.holding.applied().map(|a| a.tree().clone());
        let empty = EntrySet::new();
        let generation = self.holding.generation().unwrap_or(0);
        let desired = Desired {
            entries: &empty,
            previous: previous.as_ref().map_or(&empty, |t| t.entries()),
            changes: None,
            checked: true,
        };
        self.converge(at, desired, false, generation).await?;
        at.state.remove(&self.name).await?;
        self.status.incomplete = None;
        self.holding = Holding::Nothing;
        self.status.applied = None;
        at.metrics.set_generation(&self.name, 0);
        self.hold(
            at.metrics,
            Phase::Pending,
            Some(format!("{reason}; everything it applied was removed")),
            None,
        );
        Ok(())
    }
}

/// What `plan` writes and removes, for the target's preparation.
async fn scope(at: Converging<'_>, plan: &Plan) -> Result<PassScope> {
    let mut scope = PassScope::default();
    for item in plan.steps.iter().flat_map(|s| &s.items) {
        match item.blob {
            Some(blob) => {
                if is_definition(&item.id) {
                    scope.definitions.push(at.fetch.blob(&blob).await?);
                }
                scope.writes.push(item.id.clone());
            }
            None => scope.deletes.push(item.id.clone()),
        }
    }
    Ok(scope)
}
