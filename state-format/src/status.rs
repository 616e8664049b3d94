//! Status records: what each agent last applied, its health and its recent errors.
//!
//! Stored at `status/<channel>/<cluster id>`, one small object per agent, overwritten on every
//! change and as a heartbeat. The hub reads them for `cairn status` and rollout gates.
//!
//! Status records have versions of their own: format 2 adds the drifted objects (`drifted`) and
//! what a pass that stopped part way did (`incomplete`). A record is written in the lowest
//! format that holds it (format 1 when both are empty), so hubs that read format 1 only keep
//! reading the records of upgraded agents until one of them has drift or a stopped pass to
//! tell; those records read as "upgrade cairn". This build reads both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canonical::to_canonical_bytes;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::{MAX_STATUS_BYTES, check_format};

/// Most errors a record keeps (the newest).
pub const MAX_ERRORS: usize = 10;
/// Longest error message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1024;
/// Most unhealthy objects named.
pub const MAX_UNHEALTHY: usize = 20;
/// Most drifted objects named (`counts.drifted` counts them all).
pub const MAX_DRIFTED: usize = 20;
/// Most objects an incomplete pass names.
pub const MAX_PASS_OBJECTS: usize = 20;
/// Longest reason given for one object of an incomplete pass, in characters.
pub const MAX_REASON_CHARS: usize = 256;
/// The newest status record format this build writes and reads (it reads format 1 too).
pub const STATUS_FORMAT: u32 = 2;

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

/// An object found drifted: changed or deleted behind cairn's back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftedObject {
    /// The object (`Deployment.apps shop/web`).
    pub object: String,
    /// Whether the agent put it back (`false`: its drift is only reported, by its
    /// `cairn.dev/drift: report` annotation or the channel's policy).
    pub corrected: bool,
}

/// What happened to one object in a pass that stopped part way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PassOutcome {
    /// Written (created or updated).
    Written,
    /// Removed.
    Pruned,
    /// Tried, and failed.
    Failed,
    /// Not tried: the pass stopped before it.
    NotStarted,
}

/// One object of a pass that stopped part way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassObject {
    /// The object (`Ingress.networking.k8s.io shop/web`).
    pub object: String,
    /// What happened to it.
    pub outcome: PassOutcome,
    /// Why it failed, at most [`MAX_REASON_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a pass that stopped part way did: it wrote some objects of a generation but not all
/// (or all, and could not record it), so the generation is not applied, and these objects are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incomplete {
    /// The generation the pass was applying.
    pub generation: u64,
    /// Objects written.
    pub written: u64,
    /// Objects removed.
    pub pruned: u64,
    /// Objects that failed.
    pub failed: u64,
    /// Objects not tried.
    pub not_started: u64,
    /// Up to [`MAX_PASS_OBJECTS`] of them: failures first, then written, removed, not tried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<PassObject>,
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
    /// Up to [`MAX_DRIFTED`] objects the last drift check found drifted (format 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<DriftedObject>,
    /// What the last pass did, when it stopped part way (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
    /// When the agent started.
    pub started_at: DateTime<Utc>,
    /// When this record was written.
    pub updated_at: DateTime<Utc>,
}

impl StatusRecord {
    /// A fresh record for an agent that has applied nothing yet.
    pub fn new(cluster: &str, channel: &str, agent: &str, now: DateTime<Utc>) -> StatusRecord {
        StatusRecord {
            // Format 1 holds a fresh record; `encode` writes the lowest format that holds it.
            format: 1,
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
            drifted: Vec::new(),
            incomplete: None,
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

    /// The lowest format that holds this record: 1 unless it names drifted objects or an
    /// incomplete pass.
    pub fn lowest_format(&self) -> u32 {
        if self.drifted.is_empty() && self.incomplete.is_none() {
            1
        } else {
            STATUS_FORMAT
        }
    }

    /// Canonical bytes, as stored, in the lowest format that holds the record.
    pub fn encode(&self) -> Vec<u8> {
        // Invariant: the record is plain strings, numbers, maps with string keys and sequences,
        // which `serde_json` always represents.
        let mut value = serde_json::to_value(self).expect("a status record always serializes");
        value["format"] = self.lowest_format().into();
        to_canonical_bytes(&value)
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
        let format = check_format(&value, what, 1, STATUS_FORMAT)?;
        let record: StatusRecord =
            serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        if format < u64::from(record.lowest_format()) {
            return Err(malformed(format!(
                "a format {format} record cannot name drifted objects or an incomplete pass"
            )));
        }
        if record.errors.len() > MAX_ERRORS
            || record.unhealthy.len() > MAX_UNHEALTHY
            || record.drifted.len() > MAX_DRIFTED
            || record
                .incomplete
                .as_ref()
                .is_some_and(|i| i.objects.len() > MAX_PASS_OBJECTS)
        {
            return Err(malformed(format!(
                "more than {MAX_ERRORS} errors, {MAX_UNHEALTHY} unhealthy objects, \
                 {MAX_DRIFTED} drifted objects or {MAX_PASS_OBJECTS} objects of a pass"
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
        let long_reason = record
            .incomplete
            .iter()
            .flat_map(|i| &i.objects)
            .filter_map(|o| o.reason.as_ref())
            .any(|r| r.chars().count() > MAX_REASON_CHARS);
        if long_reason {
            return Err(malformed(format!(
                "a reason is longer than {MAX_REASON_CHARS} characters"
            )));
        }
        Ok(record)
    }
}

/// `text` cut to at most `max` characters (the last one an ellipsis when cut).
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    text.chars()
        .take(max.saturating_sub(1))
        .chain(['…'])
        .collect()
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

    #[test]
    fn records_are_written_in_the_lowest_format_that_holds_them() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut record = StatusRecord::new("c1", "prod", "cairn-agent 0.1.0", now);
        let text = |r: &StatusRecord| String::from_utf8(r.encode()).unwrap();
        assert!(text(&record).contains("\"format\":1"));
        record.drifted.push(DriftedObject {
            object: "ConfigMap app/a".into(),
            corrected: false,
        });
        assert!(text(&record).contains("\"format\":2"));
        assert_eq!(
            StatusRecord::decode(&record.encode(), "s").unwrap().drifted,
            record.drifted
        );
        // A format 1 record cannot hold format 2 fields; a newer format is "upgrade".
        let forged = text(&record).replace("\"format\":2", "\"format\":1");
        assert!(StatusRecord::decode(forged.as_bytes(), "s").is_err());
        let newer = text(&record).replace("\"format\":2", "\"format\":3");
        assert!(matches!(
            StatusRecord::decode(newer.as_bytes(), "s"),
            Err(Error::UnsupportedFormat { found: 3, .. })
        ));
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
