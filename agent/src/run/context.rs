//! What the tasks of one running agent share: the channels' context (what their passes work
//! with, [`reconcile::Ctx`]), and what only the loop around the passes uses.

use crate::config::Timing;
use crate::reconcile;

/// Shared by the tasks of one agent (between agents, only what [`crate::Shared`] holds).
#[derive(Debug)]
pub(crate) struct Ctx {
    /// What every channel's passes work with.
    pub reconcile: reconcile::Ctx,
    /// When to poll, back off, resync, report and give up draining.
    pub timing: Timing,
    /// Where status records are written, if anywhere.
    pub status: Option<cairn_store::Store>,
}
