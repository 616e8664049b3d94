//! Channel heads: the small signed pointer agents poll.
//!
//! Stored at `channels/<name>/head` (mutable) and `channels/<name>/log/<generation>` (immutable) as
//! a [`SignedHead`] envelope: `{"head":{…},"signatures":[{"key":…,"signature":…}]}`. Signatures
//! are ed25519 over `cairn-head-v1` NUL followed by the canonical bytes of the `head` value as
//! received, so a verifier never depends on how its own structs would re-serialize the head.
//!
//! Format 2 heads add the channel's [`Epoch`] (fixed at its first generation) and the [`Packs`]
//! the head offers, each with its exact length and digest; format 3 the bridge among the packs.
//! Heads of formats 1 and 2 are still read. Which format carries which field is one table, in
//! `head/formats.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonical_bytes_of, json_of, to_canonical_bytes};
use crate::channel_name::validate_channel_name;
use crate::digest::Digest;
use crate::epoch::Epoch;
use crate::error::{Error, Result, malformed};
use crate::keys::{PublicKey, SecretKey};
use crate::packs::Packs;
use crate::rollout::Rollout;
use crate::trust::{HeadCheck, TrustedRoot, verify_head_under};
use crate::{HEAD_FORMAT, MAX_HEAD_BYTES, check_format};

mod formats;
mod refusal;

pub use refusal::Refusal;

const SIGNING_CONTEXT: &[u8] = b"cairn-head-v1\0";

/// One generation of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Wire format version.
    pub format: u64,
    /// Channel name (see [`validate_channel_name`]).
    pub channel: String,
    /// The channel's epoch, fixed at its first generation (format 2; `None` in format 1 heads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Epoch>,
    /// Strictly increasing per channel, from 1.
    pub generation: u64,
    /// The desired state.
    pub snapshot: Digest,
    /// The snapshot of the generation before, if any (lets an agent find a delta pack).
    #[serde(default)]
    pub previous_snapshot: Option<Digest>,
    /// When the hub signed this head.
    pub published_at: DateTime<Utc>,
    /// After this instant agents refuse the head and freeze (keep what they applied).
    pub expires_at: DateTime<Utc>,
    /// A progressive rollout of `snapshot`; without one every cluster applies at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// Free-form provenance: `commit`, `pipeline`, `publisher`, `reverted_to`, `promoted_from`, ….
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source: BTreeMap<String, String>,
    /// For ephemeral channels: after this instant agents remove everything the channel applied
    /// and stop following it, whether or not the hub ever tears it down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<DateTime<Utc>>,
    /// The packs this head offers, with their lengths and digests (format 2).
    #[serde(default, skip_serializing_if = "Packs::is_empty")]
    pub packs: Packs,
}

/// One signature in an envelope (of a head or of a trust root).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSignature {
    /// Id of the signing key ([`PublicKey::id`]).
    pub key: String,
    /// Base64 ed25519 signature.
    pub signature: String,
}

/// A head as stored: the head and its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    /// The head.
    pub head: Head,
    /// Signatures over it.
    pub signatures: Vec<HeadSignature>,
    signed_bytes: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    head: Value,
    signatures: Vec<HeadSignature>,
}

impl SignedHead {
    /// Signs `head` with each key and returns the bytes to store.
    pub fn sign(head: &Head, keys: &[&SecretKey]) -> Vec<u8> {
        let message = signing_message(&canonical_bytes_of(head));
        let signatures: Vec<HeadSignature> = keys
            .iter()
            .map(|k| HeadSignature {
                key: k.public().id(),
                signature: k.sign(&message),
            })
            .collect();
        canonical_bytes_of(&serde_json::json!({ "head": head, "signatures": signatures }))
    }

    /// Parses stored bytes without checking signatures (for the hub's own bookkeeping and
    /// display; agents use [`verify_head`]).
    pub fn decode(bytes: &[u8]) -> Result<SignedHead> {
        let what = "channel head";
        if bytes.len() > MAX_HEAD_BYTES {
            return Err(Error::TooLarge {
                what: what.to_owned(),
                size: bytes.len() as u64,
                limit: MAX_HEAD_BYTES as u64,
            });
        }
        // The head's format is checked before the envelope's fields, so that a newer head whose
        // envelope gained a field is reported as "upgrade", not as "unknown field".
        let value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(what, e))?;
        let format = match value.get("head") {
            Some(head) => Some(check_format(head, what, formats::OLDEST, HEAD_FORMAT)?),
            None => None,
        };
        let envelope: Envelope = serde_json::from_value(value).map_err(|e| malformed(what, e))?;
        if let Some(format) = format {
            formats::check_fields(&envelope.head, format).map_err(|e| malformed(what, e))?;
        }
        let signed_bytes = signing_message(&to_canonical_bytes(&envelope.head));
        let head: Head = serde_json::from_value(envelope.head).map_err(|e| malformed(what, e))?;
        head.validate()?;
        Ok(SignedHead {
            head,
            signatures: envelope.signatures,
            signed_bytes,
        })
    }

    /// What each signature signs: `cairn-head-v1` NUL and the canonical bytes of the head as
    /// received.
    pub fn signing_message(&self) -> &[u8] {
        &self.signed_bytes
    }

    /// The digest of the head's canonical bytes (without signatures): names a proposed head
    /// while it collects signatures.
    pub fn head_digest(&self) -> Digest {
        Digest::of(&self.signed_bytes[SIGNING_CONTEXT.len()..])
    }

    /// Adds a signature by each key that has not signed yet (collecting signatures for a head
    /// whose channel needs several).
    pub fn add_signatures(&mut self, keys: &[&SecretKey]) {
        for key in keys {
            let id = key.public().id();
            if !self.signatures.iter().any(|s| s.key == id) {
                let signature = key.sign(&self.signed_bytes);
                self.signatures.push(HeadSignature { key: id, signature });
            }
        }
    }

    /// The bytes to store: the head exactly as received (or signed) and the signatures.
    pub fn encode(&self) -> Vec<u8> {
        let head = &self.signed_bytes[SIGNING_CONTEXT.len()..];
        [
            b"{\"head\":".as_slice(),
            head,
            b",\"signatures\":",
            &canonical_bytes_of(&self.signatures),
            b"}",
        ]
        .concat()
    }
}

impl Head {
    /// The checks of a decoded head beyond its fields' types.
    fn validate(&self) -> Result<()> {
        let what = format!(
            "head of channel {} generation {}",
            self.channel, self.generation
        );
        validate_channel_name(&self.channel).map_err(|e| malformed(&what, e))?;
        if self.generation == 0 {
            return Err(malformed(&what, "generations start at 1"));
        }
        if let Some(rollout) = &self.rollout {
            rollout.validate().map_err(|e| malformed(&what, e))?;
        }
        self.packs
            .validate(&self.snapshot)
            .map_err(|e| malformed(&what, e))
    }
}

fn signing_message(canonical_head: &[u8]) -> Vec<u8> {
    [SIGNING_CONTEXT, canonical_head].concat()
}

/// What an agent knows when it checks a head.
#[derive(Clone, Debug)]
pub struct Trust<'a> {
    /// Keys whose signatures are accepted.
    pub keys: &'a [PublicKey],
    /// The channel the agent asked for.
    pub channel: &'a str,
    /// The generation the agent has applied, if any; the head must be newer.
    pub applied_generation: Option<u64>,
    /// What else the agent knows of the channel it applied from.
    pub lineage: Lineage<'a>,
    /// The agent's clock.
    pub now: DateTime<Utc>,
}

/// What an agent knows of the channel it applied from, beyond the applied generation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lineage<'a> {
    /// Accept a head of exactly the applied generation too (the applied head read again after a
    /// restart, or signed again with a fresh expiry). Older generations are always refused.
    pub accept_applied: bool,
    /// The epoch of the channel the applied generation came from (`None`: nothing applied, or
    /// applied from a format 1 head, which carries none: then any epoch is taken as the same).
    pub epoch: Option<Epoch>,
    /// Epochs the operator said to follow although the channel was re-created.
    pub accept_epochs: &'a [Epoch],
}

/// Checks a head against what was applied: its epoch (a re-created channel is refused in words
/// unless its epoch is accepted), then its generation (older is a rollback; the same only when
/// `accept_applied`). A head of an accepted new epoch is not compared with the applied
/// generation: the new channel counts its generations afresh.
pub(crate) fn check_lineage(
    head: &Head,
    applied: Option<u64>,
    lineage: &Lineage<'_>,
) -> Result<(), Refusal> {
    let recreated = applied.is_some() && lineage.epoch.is_some() && lineage.epoch != head.epoch;
    if recreated {
        if head
            .epoch
            .is_some_and(|e| lineage.accept_epochs.contains(&e))
        {
            return Ok(());
        }
        return Err(Refusal::NewEpoch {
            channel: head.channel.clone(),
            recorded: lineage.epoch,
            found: head.epoch,
            applied: applied.unwrap_or(0),
        });
    }
    let stale = |applied: &u64| {
        head.generation < *applied || (head.generation == *applied && !lineage.accept_applied)
    };
    match applied.filter(stale) {
        Some(applied) => Err(Refusal::NotNewer {
            applied,
            found: head.generation,
        }),
        None => Ok(()),
    }
}

/// Decodes and checks a head against a flat list of keys: the simple mode, a root that delegates
/// every channel to `trust.keys` with a threshold of 1 ([`TrustedRoot::simple`]), checked by
/// [`verify_head_under`]. Returns the head and the id of the first key that vouched for it.
pub fn verify_head(bytes: &[u8], trust: &Trust<'_>) -> Result<(Head, String), Refusal> {
    let root = TrustedRoot::simple(trust.keys);
    let check = HeadCheck {
        root: &root,
        channel: trust.channel,
        applied_generation: trust.applied_generation,
        lineage: trust.lineage,
        now: trust.now,
    };
    let verified = verify_head_under(bytes, &check)?;
    // Invariant: an accepted head has at least one (threshold 1) valid signer.
    let key = verified.signers.into_iter().next().unwrap_or_default();
    Ok((verified.head, key))
}

impl Head {
    /// A head of the channel epoch `epoch`, in the lowest format with an epoch (2); naming packs
    /// through [`Head::set_packs`] raises the format when they need it.
    pub fn new(
        channel: &str,
        epoch: Epoch,
        generation: u64,
        snapshot: Digest,
        published_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Head {
        let mut head = Head {
            epoch: Some(epoch),
            ..Head::format_1(channel, generation, snapshot, published_at, expires_at)
        };
        head.raise_format();
        head
    }

    /// Names `packs`, raising the head's format to the lowest that can name them.
    pub fn set_packs(&mut self, packs: Packs) {
        self.packs = packs;
        self.raise_format();
    }

    /// Raises the format to the lowest that carries every field the head has (hubs write the
    /// lowest format that expresses a head, so agents of the format before keep reading heads
    /// that need nothing new).
    fn raise_format(&mut self) {
        self.format = self.format.max(formats::lowest_format(&json_of(self)));
    }

    /// A head of format 1 (no epoch, no packs), as hubs before format 2 wrote them.
    pub fn format_1(
        channel: &str,
        generation: u64,
        snapshot: Digest,
        published_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Head {
        Head {
            format: u64::from(formats::OLDEST),
            channel: channel.to_owned(),
            epoch: None,
            generation,
            snapshot,
            previous_snapshot: None,
            published_at,
            expires_at,
            rollout: None,
            source: BTreeMap::new(),
            retire_at: None,
            packs: Packs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    const OLD: Epoch = Epoch::from_bytes([1; 16]);
    const NEW: Epoch = Epoch::from_bytes([2; 16]);

    fn head_of(epoch: Epoch, generation: u64) -> Head {
        Head::new("prod", epoch, generation, Digest::of(b"s"), at(0), at(100))
    }

    fn signed(generation: u64, key: &SecretKey) -> Vec<u8> {
        SignedHead::sign(&head_of(OLD, generation), &[key])
    }

    fn trust(keys: &[PublicKey], applied: Option<u64>) -> Trust<'_> {
        Trust {
            keys,
            channel: "prod",
            applied_generation: applied,
            lineage: Lineage {
                accept_applied: false,
                epoch: applied.map(|_| OLD),
                accept_epochs: &[],
            },
            now: at(10),
        }
    }

    #[test]
    fn verify_gives_a_reason_for_every_refusal() {
        let key = SecretKey::from_seed([1; 32]);
        let other = SecretKey::from_seed([2; 32]);
        let keys = [key.public()];
        let trust = trust(&keys, Some(4));
        assert_eq!(
            verify_head(&signed(5, &key), &trust).unwrap().0.generation,
            5
        );
        assert!(matches!(
            verify_head(&signed(5, &other), &trust),
            Err(Refusal::UnknownKey { .. })
        ));
        assert!(matches!(
            verify_head(&signed(4, &key), &trust),
            Err(Refusal::NotNewer {
                applied: 4,
                found: 4
            })
        ));
        let late = Trust {
            now: at(100),
            ..trust.clone()
        };
        assert!(matches!(
            verify_head(&signed(5, &key), &late),
            Err(Refusal::Expired { .. })
        ));
        let staging = Trust {
            channel: "staging",
            ..trust.clone()
        };
        assert!(matches!(
            verify_head(&signed(5, &key), &staging),
            Err(Refusal::WrongChannel { .. })
        ));
        let tampered = String::from_utf8(signed(5, &key))
            .unwrap()
            .replace("\"generation\":5", "\"generation\":50");
        assert!(matches!(
            verify_head(tampered.as_bytes(), &trust),
            Err(Refusal::BadSignature { .. })
        ));
        let unsigned = SignedHead::sign(&head_of(OLD, 5), &[]);
        assert_eq!(verify_head(&unsigned, &trust), Err(Refusal::Unsigned));
        assert!(matches!(
            verify_head(b"{}", &trust),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn the_applied_generation_is_named_as_it_is() {
        let key = SecretKey::from_seed([1; 32]);
        let keys = [key.public()];
        let mut trust = trust(&keys, Some(2));
        trust.lineage.accept_applied = true;
        assert_eq!(
            verify_head(&signed(2, &key), &trust).unwrap().0.generation,
            2
        );
        let refusal = verify_head(&signed(1, &key), &trust).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "generation 1 is older than the applied generation 2 (a replay or rollback)"
        );
    }

    #[test]
    fn a_recreated_channel_is_not_a_rollback_but_is_not_followed_unasked() {
        let key = SecretKey::from_seed([1; 32]);
        let keys = [key.public()];
        let trust = trust(&keys, Some(7));
        let fresh = SignedHead::sign(&head_of(NEW, 1), &[&key]);
        let refusal = verify_head(&fresh, &trust).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::NewEpoch {
                channel: "prod".into(),
                recorded: Some(OLD),
                found: Some(NEW),
                applied: 7
            }
        );
        let text = refusal.to_string();
        assert!(text.contains(&format!("epoch {OLD} → {NEW}")), "{text}");
        assert!(
            text.contains("applied generation 7 of the old channel"),
            "{text}"
        );
        let mut told = trust.clone();
        told.lineage.accept_epochs = &[NEW];
        assert_eq!(verify_head(&fresh, &told).unwrap().0.generation, 1);
        // A replayed head of the applied channel stays a rollback, told or not.
        assert!(matches!(
            verify_head(&signed(6, &key), &told),
            Err(Refusal::NotNewer { .. })
        ));
        // Nothing applied: any epoch is taken. Applied from a format 1 head (no epoch): the
        // head is taken as the same channel's, so generations are compared.
        let mut nothing = trust.clone();
        (nothing.applied_generation, nothing.lineage.epoch) = (None, None);
        assert!(verify_head(&fresh, &nothing).is_ok());
        let mut legacy = trust.clone();
        legacy.lineage.epoch = None;
        assert!(matches!(
            verify_head(&fresh, &legacy),
            Err(Refusal::NotNewer { .. })
        ));
        assert!(verify_head(&SignedHead::sign(&head_of(NEW, 8), &[&key]), &legacy).is_ok());
    }

    #[test]
    fn format_1_heads_are_read_and_cannot_carry_format_2_fields() {
        let key = SecretKey::from_seed([1; 32]);
        let v1 = Head::format_1("prod", 3, Digest::of(b"s"), at(0), at(100));
        let bytes = SignedHead::sign(&v1, &[&key]);
        let decoded = SignedHead::decode(&bytes).unwrap().head;
        assert_eq!((decoded.format, decoded.epoch), (1, None));
        let mut forged = v1.clone();
        forged.epoch = Some(OLD);
        let err = SignedHead::decode(&SignedHead::sign(&forged, &[&key])).unwrap_err();
        assert!(err.to_string().contains("unknown field `epoch`"), "{err}");
        let mut missing = head_of(OLD, 3);
        missing.epoch = None;
        let err = SignedHead::decode(&SignedHead::sign(&missing, &[&key])).unwrap_err();
        assert!(err.to_string().contains("missing field `epoch`"), "{err}");
    }

    #[test]
    fn named_packs_are_checked() {
        use crate::packs::{DeltaRef, PackRef, SnapshotPackRef};
        let key = SecretKey::from_seed([1; 32]);
        let mut head = head_of(OLD, 3);
        let pack = PackRef {
            bytes: 10,
            digest: Digest::of(b"p"),
        };
        head.packs.snapshot = Some(SnapshotPackRef {
            snapshot: head.snapshot,
            shards: vec![pack],
        });
        head.packs.deltas.push(DeltaRef {
            from: Digest::of(b"a"),
            bytes: 10,
            digest: pack.digest,
        });
        let decoded = SignedHead::decode(&SignedHead::sign(&head, &[&key])).unwrap();
        assert_eq!(decoded.head.packs, head.packs);
        head.packs.deltas[0].bytes = 0;
        assert!(SignedHead::decode(&SignedHead::sign(&head, &[&key])).is_err());
        head.packs.deltas[0].bytes = 10;
        head.packs.deltas[0].from = head.snapshot;
        assert!(SignedHead::decode(&SignedHead::sign(&head, &[&key])).is_err());
    }

    #[test]
    fn a_bridge_needs_format_3_and_a_delta_pack_where_it_leads() {
        use crate::packs::{BridgeRef, DeltaRef, PackRef, SnapshotPackRef};
        let key = SecretKey::from_seed([1; 32]);
        let decode = |head: &Head| SignedHead::decode(&SignedHead::sign(head, &[&key]));
        let (packed, bridged) = (Digest::of(b"packed"), Digest::of(b"bridged"));
        let mut head = head_of(OLD, 3);
        let mut packs = Packs {
            deltas: vec![DeltaRef {
                from: bridged,
                bytes: 10,
                digest: Digest::of(b"d"),
            }],
            snapshot: Some(SnapshotPackRef {
                snapshot: packed,
                shards: vec![PackRef {
                    bytes: 10,
                    digest: Digest::of(b"p"),
                }],
            }),
            bridge: None,
        };
        head.set_packs(packs.clone());
        assert_eq!(decode(&head).unwrap().head.format, 2, "no bridge: format 2");
        packs.bridge = Some(BridgeRef {
            to: bridged,
            bytes: 10,
            digest: Digest::of(b"b"),
        });
        head.set_packs(packs.clone());
        let decoded = decode(&head).unwrap().head;
        assert_eq!((decoded.format, decoded.packs.bridge), (3, packs.bridge));
        assert_eq!(decoded.packs.objects().count(), 3, "delta, bridge, shard");

        let mut old = head.clone();
        old.format = 2;
        let err = decode(&old).unwrap_err().to_string();
        assert!(err.contains("unknown field `bridge`"), "{err}");
        for to in [packed, head.snapshot, Digest::of(b"elsewhere")] {
            let mut wrong = head.clone();
            wrong.packs.bridge.as_mut().unwrap().to = to;
            assert!(decode(&wrong).is_err(), "a bridge to {to}");
        }
        let mut orphan = head.clone();
        orphan.packs.snapshot = None;
        assert!(decode(&orphan).is_err(), "a bridge without a snapshot pack");
    }

    #[test]
    fn any_trusted_key_of_several_may_sign() {
        let (a, b) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
        let keys = [a.public(), b.public()];
        let trust = trust(&keys, None);
        let bytes = SignedHead::sign(&head_of(OLD, 1), &[&SecretKey::from_seed([3; 32]), &b]);
        assert_eq!(verify_head(&bytes, &trust).unwrap().1, b.public().id());
    }
}
