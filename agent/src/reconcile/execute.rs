//! Carrying out a plan against the target, step by step, in batches of bounded size.

use cairn_state_format::ResourceId;

use super::plan::Plan;
use crate::error::Result;
use crate::fetch::blobs;
use crate::run::Ctx;
use crate::targets::{ObjectFailure, Write};

/// Objects written per batch (bounds the blob bytes held at once).
pub(super) const BATCH: usize = 64;

/// What a plan did.
#[derive(Debug, Default)]
pub struct Executed {
    /// Objects created or updated.
    pub applied: u64,
    /// Objects removed.
    pub pruned: u64,
    /// Objects that failed; steps after the first failing one were not started.
    pub failed: Vec<ObjectFailure>,
}

/// Runs `plan` for `channel`. Stops after a step with failures, so later waves never run ahead
/// of earlier ones that did not land.
pub async fn execute(ctx: &Ctx, channel: &str, plan: &Plan, generation: u64) -> Result<Executed> {
    let mut done = Executed::default();
    for step in &plan.steps {
        tracing::debug!(channel, step = %step.label, objects = step.items.len(), "step");
        if step.deletes {
            let ids: Vec<ResourceId> = step.items.iter().map(|i| i.id.clone()).collect();
            let report = ctx.target.delete(channel, ids).await?;
            done.pruned += report.done.len() as u64;
            done.failed.extend(report.failed);
        } else {
            for chunk in step.items.chunks(BATCH) {
                let mut writes = Vec::with_capacity(chunk.len());
                for item in chunk {
                    let Some(blob) = item.blob else { continue };
                    let bytes = blobs::load(&ctx.remote, &ctx.cache, channel, &blob).await?;
                    writes.push(Write {
                        id: item.id.clone(),
                        blob,
                        bytes,
                        generation,
                    });
                }
                let report = ctx.target.apply(channel, writes).await?;
                done.applied += report.done.len() as u64;
                done.failed.extend(report.failed);
            }
        }
        if !done.failed.is_empty() {
            break;
        }
    }
    Ok(done)
}
