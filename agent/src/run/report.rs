//! Writing a channel's status record: on every change, and as a heartbeat.

use std::time::{Duration, Instant};

use cairn_state_format::{StatusRecord, layout};
use chrono::Utc;

use super::Ctx;
use super::schedule::spread;
use crate::metrics::RequestKind;

/// Remembers what was last written for one channel.
#[derive(Debug, Default)]
pub struct Reporter {
    last: Option<StatusRecord>,
    written_at: Option<Instant>,
    heartbeat: Duration,
}

impl Reporter {
    /// A reporter that has written nothing yet.
    pub fn new() -> Reporter {
        Reporter::default()
    }

    /// Writes `record` if it changed since the last write or a heartbeat is due. Failures are
    /// logged and counted; the next change or heartbeat tries again.
    pub(crate) async fn report(&mut self, ctx: &Ctx, record: &StatusRecord) {
        let Some(store) = &ctx.status else { return };
        let mut comparable = record.clone();
        comparable.updated_at = comparable.started_at;
        let changed = self.last.as_ref() != Some(&comparable);
        let due = self
            .written_at
            .is_none_or(|at| at.elapsed() >= self.heartbeat);
        if !changed && !due {
            return;
        }
        let mut record = record.clone();
        record.updated_at = Utc::now();
        let key = layout::status_key(&record.channel, &record.cluster);
        let result = store.put(&key, record.encode()).await;
        let metrics = &ctx.reconcile.metrics;
        metrics.request(RequestKind::Status, &record.channel, 0);
        match result {
            Ok(_) => {
                self.last = Some(comparable);
                self.written_at = Some(Instant::now());
                self.heartbeat = spread(ctx.timing.heartbeat, ctx.timing.jitter);
            }
            Err(e) => {
                metrics.status_failed();
                tracing::warn!(key, error = %e, "cannot write the status record");
            }
        }
    }

    /// Removes the channel's record (when the channel is torn down).
    pub(crate) async fn remove(&mut self, ctx: &Ctx, channel: &str) {
        let Some(store) = &ctx.status else { return };
        let key = layout::status_key(channel, &ctx.reconcile.identity.cluster_id);
        if let Err(e) = store.delete(&key).await {
            tracing::warn!(key, error = %e, "cannot remove the status record");
        }
        self.last = None;
    }
}
