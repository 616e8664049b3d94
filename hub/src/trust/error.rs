//! Why the store's trust root refuses what a command was asked to do.

use cairn_state_format::RootRefusal;
use chrono::{DateTime, Utc};

/// A refusal by the trust root: the keys given may not do this, or the root itself is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A stored version does not follow the one before it (forged, damaged, or from another
    /// store).
    #[error("the trust root in {store} is broken at version {version}: {refusal}")]
    Chain {
        /// Store URL.
        store: String,
        /// The version refused.
        version: u64,
        /// Why.
        #[source]
        refusal: RootRefusal,
    },
    /// The newest version expired: agents refuse every head.
    #[error(
        "the trust root (version {version}) expired at {expires_at}: agents refuse every head until a new version is \
         published; renew it with `cairn trust rotate --key ROOT_KEY`"
    )]
    Expired {
        /// Its version.
        version: u64,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// No delegation names the channel.
    #[error(
        "trust root version {version} lets no key sign channel {channel:?}; delegate it first: \
         `cairn trust delegate NAME --channel {channel} --signer KEY.pub --key ROOT_KEY`"
    )]
    NotDelegated {
        /// The channel.
        channel: String,
        /// The root's version.
        version: u64,
    },
    /// A key given is not one the channel's delegation names.
    #[error(
        "key {keys:?} may not sign channel {channel:?}: trust root version {version} decides it by delegation \
         {delegation:?}, which names keys {allowed:?}"
    )]
    KeyNotDelegated {
        /// The channel.
        channel: String,
        /// The root's version.
        version: u64,
        /// The delegation that decides.
        delegation: String,
        /// The keys given that it does not name.
        keys: Vec<String>,
        /// The keys it names.
        allowed: Vec<String>,
    },
    /// The keys given are fewer than the delegation's threshold.
    #[error(
        "channel {channel:?} needs signatures by {threshold} of keys {allowed:?} (delegation {delegation:?}), and \
         {signers:?} give {}; sign with more keys (repeat --key), or pass --propose to leave the head \
         for others to sign with `cairn sign --channel {channel}`",
        signers.len()
    )]
    BelowThreshold {
        /// The channel.
        channel: String,
        /// The delegation that decides.
        delegation: String,
        /// Signatures it needs.
        threshold: u32,
        /// The keys that signed.
        signers: Vec<String>,
        /// The keys it names.
        allowed: Vec<String>,
    },
    /// The delegation has fewer keys than its threshold (a key was revoked): nobody can sign.
    #[error(
        "channel {channel:?} cannot be signed: delegation {delegation:?} needs {threshold} signatures but names {keys} \
         keys (a key was removed); add one with `cairn trust add-key KEY.pub --delegation {delegation} --key ROOT_KEY`"
    )]
    Suspended {
        /// The channel.
        channel: String,
        /// The delegation that decides.
        delegation: String,
        /// Signatures it needs.
        threshold: u32,
        /// Keys it names.
        keys: usize,
    },
    /// A key given to sign the trust root is a root key of neither the current nor the new version.
    #[error(
        "key {key} is not a root key of version {version} (root keys: {root_keys:?}) nor of the new version: only root \
         keys sign the trust root"
    )]
    NotRootKey {
        /// The key.
        key: String,
        /// The current version.
        version: u64,
        /// Its root keys.
        root_keys: Vec<String>,
    },
    /// The new version would not be accepted by agents (threshold not met).
    #[error("version {version} would be refused by agents: {refusal}")]
    Unaccepted {
        /// The new version.
        version: u64,
        /// Why.
        #[source]
        refusal: RootRefusal,
    },
}
