//! The bytes of applied state: the base file (`state.json`: the applied head and every entry),
//! the journal lines appended after it (each a generation's head and changed entries), and the
//! small record of the applied head alone (`head.json`), read before anything else so that the
//! first poll after a restart does not wait for the entries.

use cairn_state_format::{Change, Digest, Entry, EntrySet, ResourceId};
use serde::{Deserialize, Serialize};

use super::{Applied, StateError};

const STATE_FORMAT: u64 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u64,
    channel: String,
    generation: u64,
    snapshot: Digest,
    head: String,
    #[serde(default)]
    head_etag: Option<String>,
    entries: Vec<Entry>,
}

/// One line of the journal: a generation applied after the one before it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    generation: u64,
    snapshot: Digest,
    from: Digest,
    head: String,
    #[serde(default)]
    head_etag: Option<String>,
    puts: Vec<Entry>,
    removes: Vec<ResourceId>,
}

/// The applied head alone, written beside the state after every save.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadFile {
    format: u64,
    channel: String,
    generation: u64,
    snapshot: Digest,
    head: String,
    #[serde(default)]
    head_etag: Option<String>,
}

/// Encodes the record of the applied head.
pub(super) fn encode_head(channel: &str, applied: &Applied) -> Result<Vec<u8>, StateError> {
    let file = HeadFile {
        format: STATE_FORMAT,
        channel: channel.to_owned(),
        generation: applied.generation,
        snapshot: applied.snapshot,
        head: head_text(applied)?,
        head_etag: applied.head_etag.clone(),
    };
    serde_json::to_vec(&file).map_err(StateError::Encode)
}

/// Decodes the record of the applied head: generation, snapshot, head and ETag.
pub(super) fn decode_head(
    channel: &str,
    bytes: &[u8],
) -> std::result::Result<(u64, Digest, String, Option<String>), String> {
    let file: HeadFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != STATE_FORMAT || file.channel != channel {
        return Err(format!(
            "format {} for channel {:?}, expected format {STATE_FORMAT} for {channel:?}",
            file.format, file.channel
        ));
    }
    Ok((file.generation, file.snapshot, file.head, file.head_etag))
}

/// A state being read back.
pub(super) struct Loaded {
    pub generation: u64,
    pub snapshot: Digest,
    pub head: String,
    pub head_etag: Option<String>,
    pub entries: EntrySet,
}

/// Decodes a base file.
pub(super) fn decode(channel: &str, bytes: &[u8]) -> std::result::Result<Loaded, String> {
    let file: StateFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != STATE_FORMAT || file.channel != channel {
        return Err(format!(
            "format {} for channel {:?}, expected format {STATE_FORMAT} for {channel:?}",
            file.format, file.channel
        ));
    }
    Ok(Loaded {
        generation: file.generation,
        snapshot: file.snapshot,
        head: file.head,
        head_etag: file.head_etag,
        entries: file
            .entries
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect(),
    })
}

/// Applies one journal line. Lines of generations the base already holds (left by a crash
/// between rewriting the base and removing the journal) are skipped.
pub(super) fn replay(state: &mut Loaded, line: &[u8]) -> std::result::Result<(), String> {
    let record: Record = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if record.generation <= state.generation {
        return Ok(());
    }
    if record.from != state.snapshot {
        return Err(format!(
            "generation {} starts from snapshot {}, but the state before it is {}",
            record.generation, record.from, state.snapshot
        ));
    }
    for id in &record.removes {
        state.entries.remove(id);
    }
    for entry in record.puts {
        state.entries.insert(entry.id.clone(), entry);
    }
    state.generation = record.generation;
    state.snapshot = record.snapshot;
    state.head = record.head;
    state.head_etag = record.head_etag;
    Ok(())
}

fn head_text(applied: &Applied) -> Result<String, StateError> {
    String::from_utf8(applied.head.to_vec())
        .map_err(|_| StateError::Damaged("the signed head is not UTF-8".to_owned()))
}

/// Encodes one journal line.
pub(super) fn record(
    applied: &Applied,
    from: &Digest,
    changes: &[Change],
) -> Result<Vec<u8>, StateError> {
    let mut record = Record {
        generation: applied.generation,
        snapshot: applied.snapshot,
        from: *from,
        head: head_text(applied)?,
        head_etag: applied.head_etag.clone(),
        puts: Vec::new(),
        removes: Vec::new(),
    };
    for change in changes {
        match change {
            Change::Added(e) | Change::Changed { new: e, .. } => record.puts.push(e.clone()),
            Change::Removed(e) => record.removes.push(e.id.clone()),
        }
    }
    serde_json::to_vec(&record).map_err(StateError::Encode)
}

/// Encodes a base file.
pub(super) fn encode(channel: &str, applied: &Applied) -> Result<Vec<u8>, StateError> {
    let file = StateFile {
        format: STATE_FORMAT,
        channel: channel.to_owned(),
        generation: applied.generation,
        snapshot: applied.snapshot,
        head: head_text(applied)?,
        head_etag: applied.head_etag.clone(),
        entries: applied.entries().values().cloned().collect(),
    };
    serde_json::to_vec(&file).map_err(StateError::Encode)
}
