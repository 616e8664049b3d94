//! What can go wrong reading or writing applied state, and what damage reading it back finds.

use cairn_state_format::Digest;

use super::{ConfigError, Retry, describe_api};

/// Why applied state (or a target's record of what it wrote) could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file system failed.
    #[error("cannot {op}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `append to the journal`, …).
        op: &'static str,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The state could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[source] serde_json::Error),
    /// What was read back is not a state this agent wrote, or does not add up.
    #[error("{0}; the state is damaged: remove it to start this channel over")]
    Damaged(#[source] Damage),
    /// A target's record of what it wrote does not decode.
    #[error("{0}")]
    Bookkeeping(#[source] Damage),
    /// The API server refused or failed a request for the state's ConfigMap.
    #[error("cannot {op}: {}", describe_api(source))]
    Api {
        /// What was being done.
        op: &'static str,
        /// What kube reported.
        #[source]
        source: kube::Error,
    },
    /// The agent's namespace does not exist and the agent could not create it.
    #[error(
        "the namespace {namespace} does not exist and the agent cannot create it ({}): \
         create it (kubectl create namespace {namespace}) or allow the agent to create namespaces",
        describe_api(source)
    )]
    NoNamespace {
        /// The namespace.
        namespace: String,
        /// Why it could not be created.
        #[source]
        source: kube::Error,
    },
    /// No connection to the cluster could be set up.
    #[error(transparent)]
    Connect(#[from] ConfigError),
    /// The watch of the state's ConfigMap failed (it is restarted).
    #[error("cannot watch: {0}")]
    Watch(#[source] kube::runtime::watcher::Error),
}

impl StateError {
    /// An I/O failure while doing `op`.
    pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> StateError {
        move |source| StateError::Io { op, source }
    }

    /// How the loop should retry after this error.
    pub fn retry(&self) -> Retry {
        match self {
            StateError::Api { source, .. } | StateError::NoNamespace { source, .. } => {
                Retry::of_kube(source)
            }
            StateError::Io { .. }
            | StateError::Encode(_)
            | StateError::Damaged(_)
            | StateError::Bookkeeping(_)
            | StateError::Connect(_) => Retry::Permanent,
            StateError::Watch(_) => Retry::Transient,
        }
    }
}

/// What is wrong with a record read back (applied state, a target's manifest): it is not what
/// this agent wrote, or it does not add up.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// It does not decode.
    #[error("{0}")]
    Undecodable(#[source] serde_json::Error),
    /// It has fields this agent never writes.
    #[error("unknown field(s) {}", .0.join(", "))]
    UnknownFields(Vec<String>),
    /// It is of another format, or of another channel.
    #[error(
        "format {format} for channel {channel:?}, expected format {expected_format} for {expected_channel:?}"
    )]
    Foreign {
        /// The format it says.
        format: u64,
        /// The channel it names.
        channel: String,
        /// The format this agent writes.
        expected_format: u64,
        /// The channel it was read for.
        expected_channel: String,
    },
    /// A journal line does not start from the snapshot the state before it reached.
    #[error(
        "generation {generation} starts from snapshot {from}, but the state before it is {before}"
    )]
    Unchained {
        /// The line's generation.
        generation: u64,
        /// The snapshot it starts from.
        from: Digest,
        /// The snapshot the state before it reached.
        before: Digest,
    },
    /// One line of a journal is damaged.
    #[error("journal line {line}: {source}")]
    JournalLine {
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: Box<Damage>,
    },
    /// The entries are not those of the snapshot another channel holds, verified.
    #[error("its entries are not those of snapshot {0}")]
    NotShared(Digest),
    /// The entries rebuild to another snapshot than the one recorded.
    #[error("its entries rebuild to {rebuilt}, not to the recorded snapshot {recorded}")]
    Rebuilt {
        /// What they rebuild to.
        rebuilt: Digest,
        /// What was recorded.
        recorded: Digest,
    },
    /// A manifest does not decode.
    #[error("damaged manifest: {0}")]
    Manifest(#[source] serde_json::Error),
    /// A manifest is of another format.
    #[error("manifest format {found} is not {expected}")]
    ManifestFormat {
        /// The format it says.
        found: u64,
        /// The format this agent writes.
        expected: u64,
    },
    /// A line of a manifest's journal does not decode.
    #[error("damaged journal, line {line}: {source}")]
    ManifestJournal {
        /// The line, from 1.
        line: usize,
        /// Why it does not decode.
        #[source]
        source: serde_json::Error,
    },
}
