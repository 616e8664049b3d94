//! What the Kubernetes target knows about each channel's live objects: what it last did to each
//! (laid over the previous snapshot), what it last saw of each (uid, resourceVersion,
//! fingerprint, health), the fingerprints recorded when it last wrote or checked them (kept in
//! the state ConfigMap across restarts), and the channel's ApplySet parent as last read or
//! written, with the health and ownership claims it found. Shared by the target and the in-cluster state ([`super::ConfigMapState`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use cairn_state_format::{Digest, ResourceId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::scope::Scope;

/// What this process last did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Applied this blob.
    Written(Digest),
    /// Tried to apply it and failed: it may or may not have landed, so it stays owned and is
    /// written again.
    Unconfirmed,
    /// Pruned it.
    Removed,
}

/// An owned live object, as last listed or returned by an apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    pub uid: String,
    pub resource_version: String,
    pub fingerprint: u64,
}

/// The channel's ApplySet parent, as this process knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Parent {
    /// Not read yet (then every served kind may hold the channel's objects).
    #[default]
    Unknown,
    /// Read, and it does not exist (nor, so, any record of what the channel wrote).
    Absent,
    /// Its record of group-kinds and namespaces.
    Recorded(Scope),
}

/// One channel's book. Ids are as the API server sees them ([`super::scope::effective`]),
/// except `marks`, which follow the snapshot's entries.
#[derive(Debug, Default)]
pub struct Book {
    /// Whether the channel's objects were listed in this process: then `live`, `marks` and
    /// `orphans` say everything it owns beyond the previous snapshot.
    pub listed: bool,
    pub marks: BTreeMap<ResourceId, Mark>,
    pub live: HashMap<ResourceId, Live>,
    /// Objects listed as the channel's that no snapshot entry names (left by a crash, a lost
    /// state), until pruned.
    pub orphans: BTreeSet<ResourceId>,
    /// Fingerprints as of cairn's last write or check, persisted with the state.
    pub recorded: BTreeMap<ResourceId, u64>,
    /// Live objects of the last drift check's suspects (`None`: missing).
    pub suspects: HashMap<ResourceId, Option<Value>>,
    /// Report-only drift found, with the fingerprint it was found at.
    pub reported: HashMap<ResourceId, u64>,
    /// Health as last seen, with the assessment round it was seen in.
    pub health: HashMap<ResourceId, (Health, u64)>,
    /// The current assessment round.
    pub round: u64,
    /// Namespaces created by the pass in progress (so nothing else can be in them).
    pub fresh: HashSet<String>,
    /// What the pass in progress looked for before writing.
    pub seen: Seen,
    pub parent: Parent,
}

impl Book {
    /// Records an object cairn just wrote (or checked) and saw like this.
    pub fn saw_written(&mut self, id: &ResourceId, live: Live, health: Health) {
        self.recorded.insert(id.clone(), live.fingerprint);
        self.suspects.remove(id);
        self.reported.remove(id);
        self.saw(id, live, health);
    }

    /// Records an object as seen (listed or read).
    pub fn saw(&mut self, id: &ResourceId, live: Live, health: Health) {
        self.live.insert(id.clone(), live);
        self.health.insert(id.clone(), (health, self.round));
    }

    /// Forgets an object that is gone.
    pub fn gone(&mut self, id: &ResourceId) {
        self.live.remove(id);
        self.recorded.remove(id);
        self.orphans.remove(id);
        self.suspects.remove(id);
        self.reported.remove(id);
        self.health.remove(id);
    }
}

/// Every channel's book.
#[derive(Debug, Default)]
pub struct Ledger {
    books: Mutex<HashMap<String, Book>>,
}

impl Ledger {
    /// The books, locked; a panic while holding them leaves a cache behind, which stays usable.
    pub fn books(&self) -> MutexGuard<'_, HashMap<String, Book>> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on `channel`'s book.
    pub fn with<R>(&self, channel: &str, f: impl FnOnce(&mut Book) -> R) -> R {
        f(self.books().entry(channel.to_owned()).or_default())
    }
}

/// The fingerprints as kept in the state ConfigMap (`fingerprints.json.zst`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// This encoding's version.
    pub format: u32,
    /// `[group, kind, namespace, name, fingerprint as 16 hex digits]`.
    pub objects: Vec<(String, String, String, String, String)>,
}

impl Recorded {
    /// The record of `recorded`.
    pub fn of(recorded: &BTreeMap<ResourceId, u64>) -> Recorded {
        Recorded {
            format: 1,
            objects: recorded
                .iter()
                .map(|(id, fp)| {
                    (
                        id.group.clone(),
                        id.kind.clone(),
                        id.namespace.clone(),
                        id.name.clone(),
                        format!("{fp:016x}"),
                    )
                })
                .collect(),
        }
    }

    /// Back to fingerprints; entries that do not parse are dropped (their objects are checked
    /// again, which is all a lost fingerprint costs).
    pub fn into_map(self) -> BTreeMap<ResourceId, u64> {
        self.objects
            .into_iter()
            .filter_map(|(group, kind, namespace, name, fp)| {
                let fp = u64::from_str_radix(&fp, 16).ok()?;
                Some((
                    ResourceId {
                        group,
                        kind,
                        namespace,
                        name,
                    },
                    fp,
                ))
            })
            .collect()
    }
}

/// How a live object is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Reconciled and available.
    Healthy,
    /// Still rolling out; the reason says what is awaited.
    Progressing(String),
    /// Failed or stuck; the reason says why.
    Degraded(String),
}

/// Whose an object is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nobody's: it does not exist.
    Absent,
    /// The channel's (it exists, with the channel's labels).
    Ours,
    /// Another cairn channel's.
    Other(String),
    /// Not cairn's.
    Foreign,
}

/// The objects one pass looked for, by (group, kind, namespace): name → claim, for the kinds
/// and namespaces it listed.
#[derive(Debug, Default)]
pub struct Seen(pub HashMap<(String, String, String), HashMap<String, Claim>>);

impl Seen {
    /// Where `id` is recorded.
    pub fn key(id: &ResourceId) -> (String, String, String) {
        (id.group.clone(), id.kind.clone(), id.namespace.clone())
    }
}
