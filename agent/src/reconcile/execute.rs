//! Carrying out a plan against the target, step by step, in batches of bounded size, keeping
//! track of every object: written, removed, failed, or not started.

use std::collections::HashSet;

use cairn_state_format::ResourceId;

use super::plan::{Plan, Step};
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::targets::{ObjectFailure, Target, Write};

/// Objects written per batch (bounds the blob bytes held at once).
pub(super) const BATCH: usize = 64;

/// What a plan did.
#[derive(Debug, Default)]
pub struct Executed {
    /// Objects created or updated.
    pub applied: Vec<ResourceId>,
    /// Of `applied`, writes that changed nothing (for targets that can tell).
    pub unchanged: Vec<ResourceId>,
    /// Objects removed.
    pub pruned: Vec<ResourceId>,
    /// Objects that failed; steps after the first failing one were not started.
    pub failed: Vec<ObjectFailure>,
    /// Objects of the steps not started.
    pub not_started: Vec<ResourceId>,
}

impl Executed {
    /// Whether anything was written or removed.
    pub fn wrote(&self) -> bool {
        !self.applied.is_empty() || !self.pruned.is_empty()
    }
}

/// Runs `plan` against `target`, with blobs from `fetch` (for its channel). Stops after a step
/// with failures, so later waves never run ahead of earlier ones that did not land. An error of
/// the pass itself (not of one object) is returned with what was done before it.
pub async fn execute(
    target: &dyn Target,
    fetch: Fetcher<'_>,
    plan: &Plan,
    generation: u64,
) -> (Executed, Option<Error>) {
    let mut done = Executed::default();
    for (i, step) in plan.steps.iter().enumerate() {
        let channel = fetch.channel;
        tracing::debug!(channel, step = %step.label, objects = step.items.len(), "step");
        if let Err(e) = run_step(target, fetch, step, generation, &mut done).await {
            let touched: HashSet<&ResourceId> = done
                .applied
                .iter()
                .chain(&done.pruned)
                .chain(done.failed.iter().map(|f| &f.id))
                .collect();
            let rest: Vec<ResourceId> = plan.steps[i..]
                .iter()
                .flat_map(|s| &s.items)
                .map(|item| &item.id)
                .filter(|id| !touched.contains(id))
                .cloned()
                .collect();
            done.not_started = rest;
            return (done, Some(e));
        }
        if !done.failed.is_empty() {
            done.not_started.extend(
                plan.steps[i + 1..]
                    .iter()
                    .flat_map(|s| &s.items)
                    .map(|item| item.id.clone()),
            );
            break;
        }
    }
    (done, None)
}

async fn run_step(
    target: &dyn Target,
    fetch: Fetcher<'_>,
    step: &Step,
    generation: u64,
    done: &mut Executed,
) -> Result<()> {
    let channel = fetch.channel;
    if step.deletes {
        let ids: Vec<ResourceId> = step.items.iter().map(|i| i.id.clone()).collect();
        let report = target.delete(channel, ids).await?;
        done.pruned.extend(report.done);
        done.failed.extend(report.failed);
        return Ok(());
    }
    for chunk in step.items.chunks(BATCH) {
        let mut writes = Vec::with_capacity(chunk.len());
        for item in chunk {
            let Some(blob) = item.blob else { continue };
            let bytes = fetch.blob(&blob).await?;
            writes.push(Write {
                id: item.id.clone(),
                blob,
                bytes,
                generation,
            });
        }
        let report = target.apply(channel, writes).await?;
        done.applied.extend(report.done);
        done.unchanged.extend(report.unchanged);
        done.failed.extend(report.failed);
    }
    Ok(())
}
