//! The bytes of applied state (format 1): the base file (`state.json`: the applied head and
//! every entry), the journal lines appended after it (each a generation's head and changed
//! entries), and the small record of the applied head alone (`head.json`), read before anything
//! else so that the first poll after a restart does not wait for the entries. Each embeds the
//! one [`AppliedHead`]; its fields sit at the top level of the JSON object, as they always have.
//!
//! A field this agent never writes is damage, as is a file of another format or channel.

use std::collections::BTreeMap;

use cairn_state_format::{Change, Digest, Entry, EntrySet, ResourceId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Applied, AppliedHead};
use crate::error::{Damage, StateError};

const STATE_FORMAT: u64 = 1;

/// Fields read that no file of this format has (a catch-all, since the embedded head rules out
/// `deny_unknown_fields`): reading fails on any.
type Unknown = BTreeMap<String, Value>;

/// The base file.
#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u64,
    channel: String,
    #[serde(flatten)]
    applied: AppliedHead,
    entries: Vec<Entry>,
    #[serde(flatten)]
    unknown: Unknown,
}

/// One line of the journal: a generation applied after the one before it.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    applied: AppliedHead,
    from: Digest,
    puts: Vec<Entry>,
    removes: Vec<ResourceId>,
    #[serde(flatten)]
    unknown: Unknown,
}

/// The applied head alone, written beside the state after every save.
#[derive(Serialize, Deserialize)]
struct HeadFile {
    format: u64,
    channel: String,
    #[serde(flatten)]
    applied: AppliedHead,
    #[serde(flatten)]
    unknown: Unknown,
}

/// A state being read back: the applied head, and the entries as they stand after the lines
/// replayed so far.
pub(super) struct Loaded {
    pub head: AppliedHead,
    pub entries: EntrySet,
}

/// Encodes a base file.
pub(super) fn encode(channel: &str, applied: &Applied) -> Result<Vec<u8>, StateError> {
    let file = StateFile {
        format: STATE_FORMAT,
        channel: channel.to_owned(),
        applied: applied.head.clone(),
        entries: applied.entries().values().cloned().collect(),
        unknown: Unknown::new(),
    };
    serde_json::to_vec(&file).map_err(StateError::Encode)
}

/// Decodes a base file.
pub(super) fn decode(channel: &str, bytes: &[u8]) -> Result<Loaded, Damage> {
    let file: StateFile = serde_json::from_slice(bytes).map_err(Damage::Undecodable)?;
    check(file.format, &file.channel, channel, file.unknown)?;
    Ok(Loaded {
        head: file.applied,
        entries: file
            .entries
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect(),
    })
}

/// Encodes one journal line: `applied`, reached by `changes` from snapshot `from`.
pub(super) fn record(
    applied: &Applied,
    from: &Digest,
    changes: &[Change],
) -> Result<Vec<u8>, StateError> {
    let mut record = Record {
        applied: applied.head.clone(),
        from: *from,
        puts: Vec::new(),
        removes: Vec::new(),
        unknown: Unknown::new(),
    };
    for change in changes {
        match change {
            Change::Added(e) | Change::Changed { new: e, .. } => record.puts.push(e.clone()),
            Change::Removed(e) => record.removes.push(e.id.clone()),
        }
    }
    serde_json::to_vec(&record).map_err(StateError::Encode)
}

/// Applies one journal line. Lines of generations the base already holds (left by a crash
/// between rewriting the base and removing the journal) are skipped.
pub(super) fn replay(state: &mut Loaded, line: &[u8]) -> Result<(), Damage> {
    let record: Record = serde_json::from_slice(line).map_err(Damage::Undecodable)?;
    unknown_fields(record.unknown)?;
    if record.applied.generation <= state.head.generation {
        return Ok(());
    }
    if record.from != state.head.snapshot {
        return Err(Damage::Unchained {
            generation: record.applied.generation,
            from: record.from,
            before: state.head.snapshot,
        });
    }
    for id in &record.removes {
        state.entries.remove(id);
    }
    for entry in record.puts {
        state.entries.insert(entry.id.clone(), entry);
    }
    state.head = record.applied;
    Ok(())
}

/// Encodes the record of the applied head.
pub(super) fn encode_head(channel: &str, head: &AppliedHead) -> Result<Vec<u8>, StateError> {
    let file = HeadFile {
        format: STATE_FORMAT,
        channel: channel.to_owned(),
        applied: head.clone(),
        unknown: Unknown::new(),
    };
    serde_json::to_vec(&file).map_err(StateError::Encode)
}

/// Decodes the record of the applied head.
pub(super) fn decode_head(channel: &str, bytes: &[u8]) -> Result<AppliedHead, Damage> {
    let file: HeadFile = serde_json::from_slice(bytes).map_err(Damage::Undecodable)?;
    check(file.format, &file.channel, channel, file.unknown)?;
    Ok(file.applied)
}

/// A file of this format, for `channel`, with no field this agent never writes.
fn check(format: u64, found: &str, channel: &str, unknown: Unknown) -> Result<(), Damage> {
    if format != STATE_FORMAT || found != channel {
        return Err(Damage::Foreign {
            format,
            channel: found.to_owned(),
            expected_format: STATE_FORMAT,
            expected_channel: channel.to_owned(),
        });
    }
    unknown_fields(unknown)
}

fn unknown_fields(unknown: Unknown) -> Result<(), Damage> {
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Damage::UnknownFields(unknown.into_keys().collect()))
    }
}
