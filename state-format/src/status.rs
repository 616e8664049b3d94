//! Status records: what each agent last applied, its health and its recent errors.
//!
//! Stored at `status/<channel>/<cluster id>`, one small object per agent, overwritten on every
//! change and as a heartbeat. The hub reads them for `cairn status` and rollout gates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canonical::canonical_bytes_of;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::{MAX_STATUS_BYTES, STATUS_FORMAT, check_format};

/// Most errors a record keeps (the newest).
pub const MAX_ERRORS: usize = 10;
/// Longest error message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1024;
/// Most unhealthy objects named.
pub const MAX_UNHEALTHY: usize = 20;

/// Where an agent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Nothing applied yet.
    Pending,
    /// Applying, or applied and waiting for objects to become healthy.
    Progressing,
    /// The applied generation is in place and healthy.
    Converged,
    /// Applied, but some objects are unhealthy.
    Degraded,
    /// The last apply failed; the previous state is still being served.
    Failed,
    /// The head was refused (expired, untrusted, rollback…); the applied state is kept.
    Frozen,
    /// A newer generation exists but this cluster's rollout step has not opened.
    Waiting,
}

/// A generation and its snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedRef {
    /// Generation number.
    pub generation: u64,
    /// Snapshot digest.
    pub snapshot: Digest,
}

/// Object counts of the applied generation and the last reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Objects selected for this cluster.
    pub objects: u64,
    /// Objects written by the last reconcile.
    pub applied: u64,
    /// Objects removed by the last reconcile.
    pub pruned: u64,
    /// Objects that failed in the last reconcile.
    pub failed: u64,
    /// Objects found drifted (and corrected) by the last resync.
    pub drifted: u64,
    /// Healthy objects.
    pub healthy: u64,
    /// Objects still progressing.
    pub progressing: u64,
    /// Degraded objects.
    pub degraded: u64,
}

/// One recorded error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusError {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// A stable class for grouping: `store`, `verify`, `fetch`, `apply`, `state`, ….
    pub class: String,
    /// The message, at most [`MAX_MESSAGE_CHARS`] characters.
    pub message: String,
    /// The object concerned, if any (`Deployment.apps shop/web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

/// The record itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRecord {
    /// Wire format version.
    pub format: u64,
    /// The cluster's id.
    pub cluster: String,
    /// The channel this record is about.
    pub channel: String,
    /// The cluster's labels (what selectors match against).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Agent version.
    pub agent: String,
    /// What is applied, if anything.
    #[serde(default)]
    pub applied: Option<AppliedRef>,
    /// The newest generation the agent has seen in the head.
    #[serde(default)]
    pub observed_generation: Option<u64>,
    /// Where it stands.
    pub phase: Phase,
    /// Why, in a sentence, when the phase is not `converged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Counts.
    pub counts: Counts,
    /// Up to [`MAX_UNHEALTHY`] objects that are not healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unhealthy: Vec<String>,
    /// Up to [`MAX_ERRORS`] most recent errors, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<StatusError>,
    /// When the agent started.
    pub started_at: DateTime<Utc>,
    /// When this record was written.
    pub updated_at: DateTime<Utc>,
}

impl StatusRecord {
    /// A fresh record for an agent that has applied nothing yet.
    pub fn new(cluster: &str, channel: &str, agent: &str, now: DateTime<Utc>) -> StatusRecord {
        StatusRecord {
            format: STATUS_FORMAT.into(),
            cluster: cluster.to_owned(),
            channel: channel.to_owned(),
            labels: BTreeMap::new(),
            agent: agent.to_owned(),
            applied: None,
            observed_generation: None,
            phase: Phase::Pending,
            reason: None,
            counts: Counts::default(),
            unhealthy: Vec::new(),
            errors: Vec::new(),
            started_at: now,
            updated_at: now,
        }
    }

    /// Records an error, keeping only the newest [`MAX_ERRORS`] and cutting long messages.
    pub fn push_error(&mut self, error: StatusError) {
        let mut error = error;
        if error.message.chars().count() > MAX_MESSAGE_CHARS {
            error.message = error
                .message
                .chars()
                .take(MAX_MESSAGE_CHARS - 1)
                .chain(['…'])
                .collect();
        }
        self.errors.push(error);
        if self.errors.len() > MAX_ERRORS {
            self.errors.drain(..self.errors.len() - MAX_ERRORS);
        }
    }

    /// Canonical bytes, as stored.
    pub fn encode(&self) -> Vec<u8> {
        canonical_bytes_of(self)
    }

    /// Decodes a stored record; `what` names it (its key) in errors.
    pub fn decode(bytes: &[u8], what: &str) -> Result<StatusRecord> {
        if bytes.len() > MAX_STATUS_BYTES {
            return Err(Error::TooLarge {
                what: what.to_owned(),
                size: bytes.len() as u64,
                limit: MAX_STATUS_BYTES as u64,
            });
        }
        let malformed = |message: String| Error::Malformed {
            what: what.to_owned(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        check_format(&value, what, STATUS_FORMAT, STATUS_FORMAT)?;
        let record: StatusRecord =
            serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        if record.errors.len() > MAX_ERRORS || record.unhealthy.len() > MAX_UNHEALTHY {
            return Err(malformed(format!(
                "more than {MAX_ERRORS} errors or {MAX_UNHEALTHY} unhealthy objects"
            )));
        }
        if record
            .errors
            .iter()
            .any(|e| e.message.chars().count() > MAX_MESSAGE_CHARS)
        {
            return Err(malformed(format!(
                "an error message is longer than {MAX_MESSAGE_CHARS} characters"
            )));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn errors_are_bounded() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut record = StatusRecord::new("c1", "prod", "cairn-agent 0.1.0", now);
        for i in 0..25 {
            record.push_error(StatusError {
                at: now,
                class: "apply".into(),
                message: format!("{i}{}", "x".repeat(5000)),
                object: None,
            });
        }
        assert_eq!(record.errors.len(), MAX_ERRORS);
        assert!(record.errors[0].message.starts_with("15"));
        let decoded = StatusRecord::decode(&record.encode(), "status/prod/c1").unwrap();
        assert_eq!(decoded, record);
    }
}
