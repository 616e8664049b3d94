//! The trust root and chain walking under attack (TUF's list), and heads under a root.
//!
//! Each attack is a store an attacker with write access could arrange: a root signed by too few
//! keys, a version skipped or replayed, an expired root, a head signed by a revoked key or by a
//! key delegated other channels, roots of two stores mixed. Property tests follow at the end.

use cairn_state_format::{
    Delegation, Digest, Epoch, Head, HeadCheck, KeyEntry, Lineage, Refusal, RootRefusal, SecretKey,
    SignedHead, SignedRoot, Trust, TrustRoot, TrustedRoot, layout, verify_head, verify_head_under,
};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

const DAY: i64 = 86_400;
const EPOCH: Epoch = Epoch::from_bytes([5; 16]);

/// Keys by seed, derived once: deriving a key pair is the slow part of a debug build's test.
fn keys() -> &'static [(SecretKey, String)] {
    static KEYS: std::sync::OnceLock<Vec<(SecretKey, String)>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        (0..=u8::MAX)
            .map(|seed| {
                let key = SecretKey::from_seed([seed; 32]);
                let id = key.public().id();
                (key, id)
            })
            .collect()
    })
}

fn key(seed: u8) -> &'static SecretKey {
    &keys()[usize::from(seed)].0
}

fn id(seed: u8) -> String {
    keys()[usize::from(seed)].1.clone()
}

/// Version 1: root keys `roots` with `threshold`, nothing delegated.
fn first(roots: &[u8], threshold: u32) -> TrustRoot {
    let keys: Vec<_> = roots.iter().map(|s| (key(*s).public(), None)).collect();
    TrustRoot::first(&keys, threshold, at(0), at(365 * DAY))
}

fn sign(root: &TrustRoot, signers: &[u8]) -> SignedRoot {
    let keys: Vec<&SecretKey> = signers.iter().map(|s| key(*s)).collect();
    SignedRoot::sign(root, &keys)
}

fn delegate(root: &mut TrustRoot, name: &str, channels: &[&str], keys: &[u8], threshold: u32) {
    let mut ids: Vec<String> = keys.iter().map(|s| id(*s)).collect();
    ids.sort();
    for s in keys {
        let entry = KeyEntry {
            public: key(*s).public(),
            label: None,
        };
        root.keys.insert(id(*s), entry);
    }
    root.delegations.push(Delegation {
        name: name.to_owned(),
        channels: channels.iter().map(|c| c.parse().unwrap()).collect(),
        keys: ids,
        threshold,
        scope: None,
    });
}

fn next(current: &SignedRoot, edit: impl FnOnce(&mut TrustRoot)) -> TrustRoot {
    let v = current.root.version as i64;
    let mut root = current
        .root
        .successor(current.digest(), at(v * 10), at(365 * DAY));
    edit(&mut root);
    root.prune_keys();
    root
}

/// A chain of the platform in the issue: root keys 1, 2, 3 (2 of 3); v2 delegates prod to keys
/// 10, 11, 12 (2 of 3) and `team-a-*` to key 20, `team-b-*` to key 30.
fn platform() -> (SignedRoot, SignedRoot) {
    let v1 = sign(&first(&[1, 2, 3], 2), &[1, 2]);
    let v2 = next(&v1, |r| {
        delegate(r, "prod", &["prod"], &[10, 11, 12], 2);
        delegate(r, "team-a", &["team-a-*"], &[20], 1);
        delegate(r, "team-b", &["team-b-*"], &[30], 1);
    });
    (v1, sign(&v2, &[1, 3]))
}

fn trusted(v1: &SignedRoot) -> TrustedRoot {
    TrustedRoot::anchor(&v1.encode(), Some(&v1.digest())).unwrap()
}

fn head(channel: &str, generation: u64, signers: &[u8]) -> Vec<u8> {
    head_until(channel, generation, signers, at(100 + DAY))
}

fn head_until(
    channel: &str,
    generation: u64,
    signers: &[u8],
    expires_at: DateTime<Utc>,
) -> Vec<u8> {
    let keys: Vec<&SecretKey> = signers.iter().map(|s| key(*s)).collect();
    SignedHead::sign(
        &Head::new(
            channel,
            EPOCH,
            generation,
            Digest::of(b"s"),
            at(100),
            expires_at,
        ),
        &keys,
    )
}

fn check<'a>(root: &'a TrustedRoot, channel: &'a str) -> HeadCheck<'a> {
    HeadCheck {
        root,
        channel,
        applied_generation: None,
        lineage: Lineage::default(),
        now: at(200),
    }
}

#[test]
fn the_platform_chain_is_walked_and_decides_per_channel() {
    let (v1, v2) = platform();
    let root = trusted(&v1).advance(&v2.encode()).unwrap();
    assert_eq!(root.version(), 2);
    let verified = verify_head_under(&head("prod", 1, &[12, 10]), &check(&root, "prod")).unwrap();
    assert_eq!(verified.delegation, "prod");
    assert_eq!(verified.signers, vec![id(12), id(10)]);
    verify_head_under(&head("team-a-web", 1, &[20]), &check(&root, "team-a-web")).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Attacks on the chain.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_root_signed_by_fewer_old_root_keys_than_the_threshold_is_refused() {
    let v1 = sign(&first(&[1, 2, 3], 2), &[1, 2]);
    let v2 = next(&v1, |r| delegate(r, "all", &["*"], &[9], 1));
    // One of the two root signatures v1 asks for, plus the attacker's own key 9.
    let refusal = trusted(&v1)
        .advance(&sign(&v2, &[1, 9]).encode())
        .unwrap_err();
    assert_eq!(
        refusal,
        RootRefusal::BelowThreshold {
            version: 2,
            by: "version 1's root keys".into(),
            threshold: 2,
            valid: vec![id(1)],
            invalid: vec![],
        }
    );
    // The same key signing twice counts once.
    let mut twice = sign(&v2, &[1]);
    twice.signatures.push(twice.signatures[0].clone());
    assert!(matches!(
        trusted(&v1).advance(&twice.encode()),
        Err(RootRefusal::BelowThreshold { .. })
    ));
}

#[test]
fn a_rotation_needs_the_new_root_keys_too() {
    let v1 = sign(&first(&[1], 1), &[1]);
    // Root key 1 hands the root to keys 4 and 5 (2 of 2).
    let v2 = next(&v1, |r| {
        for s in [4, 5] {
            let entry = KeyEntry {
                public: key(s).public(),
                label: None,
            };
            r.keys.insert(id(s), entry);
        }
        let mut ids = vec![id(4), id(5)];
        ids.sort();
        r.root.keys = ids;
        r.root.threshold = 2;
    });
    let refusal = trusted(&v1)
        .advance(&sign(&v2, &[1, 4]).encode())
        .unwrap_err();
    assert!(
        matches!(&refusal, RootRefusal::BelowThreshold { by, threshold: 2, .. } if by == "its own root keys"),
        "{refusal}"
    );
    let v2 = sign(&v2, &[1, 4, 5]);
    let root = trusted(&v1).advance(&v2.encode()).unwrap();
    // Key 1 alone can no longer move the root.
    let v3 = next(&v2, |_| {});
    assert!(matches!(
        root.advance(&sign(&v3, &[1]).encode()),
        Err(RootRefusal::BelowThreshold { .. })
    ));
    root.advance(&sign(&v3, &[4, 5]).encode()).unwrap();
}

#[test]
fn a_skipped_or_replayed_version_is_refused_with_both_versions() {
    let (v1, v2) = platform();
    let v3 = sign(&next(&v2, |_| {}), &[1, 2]);
    let root = trusted(&v1);
    assert_eq!(
        root.advance(&v3.encode()),
        Err(RootRefusal::NotNext {
            expected: 2,
            found: 3
        })
    );
    let root = root.advance(&v2.encode()).unwrap();
    for old in [&v1, &v2] {
        assert!(matches!(
            root.advance(&old.encode()),
            Err(RootRefusal::NotNext { expected: 3, .. })
        ));
    }
    // A walk stops at the gap and keeps what it reached.
    let walked = trusted(&v1).walk([v2.encode().as_slice(), v1.encode().as_slice()]);
    assert_eq!(walked.root.version(), 2);
    assert!(matches!(walked.refused, Some(RootRefusal::NotNext { .. })));
}

#[test]
fn an_expired_root_freezes_heads_but_a_newer_version_thaws_them() {
    let (v1, v2) = platform();
    let root = trusted(&v1).advance(&v2.encode()).unwrap();
    let late = HeadCheck {
        now: at(365 * DAY),
        ..check(&root, "prod")
    };
    assert_eq!(
        verify_head_under(&head_until("prod", 1, &[10, 11], at(800 * DAY)), &late),
        Err(Refusal::RootExpired {
            root_version: 2,
            expires_at: at(365 * DAY)
        })
    );
    assert!(matches!(
        root.check_fresh(at(365 * DAY)),
        Err(RootRefusal::Expired { version: 2, .. })
    ));
    // Only the newest version's expiry counts: an expired version 2 still leads to version 3.
    let mut v3 = v2.root.successor(v2.digest(), at(300 * DAY), at(700 * DAY));
    v3.published_at = at(400 * DAY);
    let root = root.advance(&sign(&v3, &[2, 3]).encode()).unwrap();
    verify_head_under(&head_until("prod", 1, &[10, 11], at(800 * DAY)), &late).unwrap_err();
    let thawed = HeadCheck {
        root: &root,
        ..late
    };
    verify_head_under(&head_until("prod", 1, &[10, 11], at(800 * DAY)), &thawed).unwrap();
}

#[test]
fn roots_of_two_stores_do_not_mix() {
    // Two stores, the same root keys, each with its own chain.
    let (a1, a2) = platform();
    let b1 = sign(
        &TrustRoot::first(&[(key(1).public(), None)], 1, at(5), at(DAY)),
        &[1],
    );
    let b2 = sign(&next(&b1, |r| delegate(r, "all", &["*"], &[9], 1)), &[1]);
    let refusal = trusted(&a1).advance(&b2.encode()).unwrap_err();
    assert!(
        matches!(refusal, RootRefusal::WrongLineage { version: 2, trusted: 1, expected, found } if expected == a1.digest() && found == Some(b1.digest())),
        "{refusal}"
    );
    // An agent pinned to store A's first version refuses store B's.
    assert!(matches!(
        TrustedRoot::anchor(&b1.encode(), Some(&a1.digest())),
        Err(RootRefusal::NotPinned { .. })
    ));
    trusted(&a1).advance(&a2.encode()).unwrap();
}

#[test]
fn altered_or_foreign_bytes_are_refused_before_anything_is_trusted() {
    let (v1, v2) = platform();
    let root = trusted(&v1);
    let text = String::from_utf8(v2.encode()).unwrap();
    let widened = text.replace("\"team-a-*\"", "\"team-*\"");
    assert!(matches!(
        root.advance(widened.as_bytes()),
        Err(RootRefusal::BelowThreshold { ref invalid, .. }) if invalid.len() == 2
    ));
    let newer = text.replace("\"format\":1", "\"format\":3");
    assert_eq!(
        root.advance(newer.as_bytes()),
        Err(RootRefusal::UnsupportedFormat {
            found: 3,
            supported: 2
        })
    );
    let extra = text.replace("\"format\":1", "\"format\":1,\"mirrors\":[]");
    assert!(
        matches!(root.advance(extra.as_bytes()), Err(RootRefusal::Malformed(m)) if m.contains("mirrors"))
    );
    let loose = text.replace("\"version\":2", "\"version\": 2");
    assert!(
        root.advance(loose.as_bytes()).is_ok(),
        "whitespace is not part of the document"
    );
    // The same instant written another way is another byte form of the document: refused, so
    // that one document has one digest.
    let z = serde_json::to_string(&v2.root.published_at).unwrap();
    let offset = format!("\"{}\"", v2.root.published_at.to_rfc3339());
    assert_ne!(z, offset);
    let non_canonical = text.replace(&z, &offset);
    assert!(
        matches!(root.advance(non_canonical.as_bytes()), Err(RootRefusal::Malformed(m)) if m.contains("canonical"))
    );
    let big = vec![b' '; cairn_state_format::MAX_ROOT_BYTES + 1];
    assert!(
        matches!(root.advance(&big), Err(RootRefusal::Malformed(m)) if m.contains("over the limit"))
    );
}

#[test]
fn structural_rules_name_the_field() {
    let (_, v2) = platform();
    type Edit = Box<dyn Fn(&mut TrustRoot)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("root.threshold", Box::new(|r| r.root.threshold = 4)),
        ("root.threshold", Box::new(|r| r.root.threshold = 0)),
        (
            "delegations[1].name",
            Box::new(|r| r.delegations[1].name = "prod".into()),
        ),
        (
            "delegations[0].channels",
            Box::new(|r| r.delegations[0].channels.clear()),
        ),
        (
            "delegations[2].keys",
            Box::new(|r| r.delegations[2].keys.push("ffff".into())),
        ),
        (
            "keys.",
            Box::new(|r| {
                r.delegations.remove(2);
            }),
        ),
        ("previous", Box::new(|r| r.previous = None)),
        ("expires_at", Box::new(|r| r.expires_at = r.published_at)),
    ];
    for (field, edit) in cases {
        let mut root = v2.root.clone();
        edit(&mut root);
        let message = root.validate().unwrap_err().to_string();
        assert!(message.starts_with(field), "{field}: {message}");
        let bytes = sign(&root, &[1, 2]).encode();
        let err = SignedRoot::decode(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("trust root version 2") && err.contains(field),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Attacks on heads under a root.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_head_signed_by_a_revoked_key_is_refused_from_the_next_root_on() {
    let (v1, v2) = platform();
    let v3 = next(&v2, |r| {
        let team_a = r
            .delegations
            .iter_mut()
            .find(|d| d.name == "team-a")
            .unwrap();
        team_a.keys.clear();
    });
    let v3 = sign(&v3, &[2, 3]);
    let before = trusted(&v1).advance(&v2.encode()).unwrap();
    let after = before.advance(&v3.encode()).unwrap();
    let stolen = head("team-a-web", 5, &[20]);
    verify_head_under(&stolen, &check(&before, "team-a-web")).unwrap();
    assert_eq!(
        verify_head_under(&stolen, &check(&after, "team-a-web")),
        Err(Refusal::UnknownKey {
            keys: vec![id(20)],
            delegation: "team-a".into()
        })
    );
}

#[test]
fn a_key_delegated_another_channel_cannot_sign_this_one() {
    let (v1, v2) = platform();
    let root = trusted(&v1).advance(&v2.encode()).unwrap();
    // Team A's key signs team B's channel and prod.
    for channel in ["team-b-web", "prod"] {
        let refusal =
            verify_head_under(&head(channel, 1, &[20]), &check(&root, channel)).unwrap_err();
        assert!(
            matches!(&refusal, Refusal::UnknownKey { keys, .. } if keys == &vec![id(20)]),
            "{refusal}"
        );
    }
    // Nor may a root key sign heads: the root only signs roots.
    assert!(matches!(
        verify_head_under(&head("prod", 1, &[1, 2]), &check(&root, "prod")),
        Err(Refusal::UnknownKey { .. })
    ));
    assert_eq!(
        verify_head_under(&head("staging", 1, &[20]), &check(&root, "staging")),
        Err(Refusal::NotDelegated {
            channel: "staging".into(),
            root_version: 2
        })
    );
}

#[test]
fn prod_needs_two_of_three_distinct_valid_signatures() {
    let (v1, v2) = platform();
    let root = trusted(&v1).advance(&v2.encode()).unwrap();
    let prod = |bytes: &[u8]| verify_head_under(bytes, &check(&root, "prod"));
    assert_eq!(
        prod(&head("prod", 1, &[10])),
        Err(Refusal::BelowThreshold {
            delegation: "prod".into(),
            threshold: 2,
            signers: vec![id(10)]
        })
    );
    assert!(matches!(
        prod(&head("prod", 1, &[10, 10])),
        Err(Refusal::BelowThreshold { .. })
    ));
    assert!(matches!(
        prod(&head("prod", 1, &[10, 20])),
        Err(Refusal::BelowThreshold { .. })
    ));
    prod(&head("prod", 1, &[11, 20, 12])).unwrap();
    // A signature collected later (`cairn sign`) completes a head.
    let mut proposed = SignedHead::decode(&head("prod", 1, &[10])).unwrap();
    proposed.add_signatures(&[key(12)]);
    assert_eq!(
        prod(&proposed.encode()).unwrap().signers,
        vec![id(10), id(12)]
    );
    // A garbage signature next to two good ones does not spoil them; alone it means "altered".
    let mut noisy = SignedHead::decode(&proposed.encode()).unwrap();
    noisy.signatures.push(cairn_state_format::HeadSignature {
        key: id(11),
        signature: noisy.signatures[0].signature.clone(),
    });
    prod(&noisy.encode()).unwrap();
    let mut forged = SignedHead::decode(&head("prod", 1, &[10])).unwrap();
    forged.signatures[0].key = id(11);
    assert_eq!(
        prod(&forged.encode()),
        Err(Refusal::BadSignature { key: id(11) })
    );
}

#[test]
fn the_first_matching_delegation_decides() {
    let v1 = sign(&first(&[1], 1), &[1]);
    let v2 = next(&v1, |r| {
        delegate(r, "prod", &["prod"], &[10, 11], 2);
        delegate(r, "platform", &["*"], &[40], 1);
    });
    let root = trusted(&v1).advance(&sign(&v2, &[1]).encode()).unwrap();
    // The platform key signs everything but prod, which the earlier delegation decides.
    verify_head_under(&head("anything", 1, &[40]), &check(&root, "anything")).unwrap();
    assert!(matches!(
        verify_head_under(&head("prod", 1, &[40]), &check(&root, "prod")),
        Err(Refusal::UnknownKey { ref delegation, .. }) if delegation == "prod"
    ));
}

#[test]
fn the_flat_key_list_is_a_root_that_delegates_everything() {
    let keys = [key(1).public(), key(2).public()];
    let root = TrustedRoot::simple(&keys);
    for (bytes, channel) in [
        (head("prod", 3, &[2]), "prod"),
        (head("prod", 3, &[7]), "prod"),
        (head("x", 3, &[1]), "prod"),
        (head("prod", 3, &[]), "prod"),
    ] {
        let trust = Trust {
            keys: &keys,
            channel,
            applied_generation: Some(1),
            lineage: Lineage::default(),
            now: at(200),
        };
        let flat = verify_head(&bytes, &trust).map(|(h, k)| (h, vec![k]));
        let check = HeadCheck {
            applied_generation: Some(1),
            ..check(&root, channel)
        };
        let under = verify_head_under(&bytes, &check).map(|v| (v.head, v.signers));
        assert_eq!(flat, under);
    }
    // A simple root is version 0 and no stored version can follow it.
    let stored = sign(&first(&[1], 1), &[1]);
    assert!(root.advance(&stored.encode()).is_err());
}

#[test]
fn layout_keeps_versions_in_lexical_order() {
    assert!(layout::root_key(99) < layout::root_key(100));
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

/// An edit of the root a `cairn trust` command makes.
#[derive(Clone, Debug)]
enum Edit {
    Delegate {
        team: u8,
        threshold: u32,
        keys: Vec<u8>,
    },
    Undelegate {
        team: u8,
    },
    AddRootKey(u8),
    RemoveRootKey(u8),
    Renew,
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u8..4, 1u32..3, prop::collection::vec(10u8..20, 0..3)).prop_map(
            |(team, threshold, keys)| Edit::Delegate {
                team,
                threshold,
                keys
            }
        ),
        (0u8..4).prop_map(|team| Edit::Undelegate { team }),
        (1u8..6).prop_map(Edit::AddRootKey),
        (1u8..6).prop_map(Edit::RemoveRootKey),
        Just(Edit::Renew),
    ]
}

/// Applies `edit` when it leaves a valid root; returns whether it did.
fn apply(root: &mut TrustRoot, edit: &Edit) -> bool {
    let mut new = root.clone();
    match edit {
        Edit::Delegate {
            team,
            threshold,
            keys,
        } => {
            let name = format!("team-{team}");
            new.delegations.retain(|d| d.name != name);
            let mut keys = keys.clone();
            keys.sort();
            keys.dedup();
            delegate(
                &mut new,
                &name,
                &[format!("{name}-*").as_str()],
                &keys,
                *threshold,
            );
        }
        Edit::Undelegate { team } => new.delegations.retain(|d| d.name != format!("team-{team}")),
        Edit::AddRootKey(s) => {
            new.keys.insert(
                id(*s),
                KeyEntry {
                    public: key(*s).public(),
                    label: None,
                },
            );
            new.root.keys.push(id(*s));
            new.root.keys.sort();
            new.root.keys.dedup();
        }
        Edit::RemoveRootKey(s) => new.root.keys.retain(|k| *k != id(*s)),
        Edit::Renew => {}
    }
    new.prune_keys();
    new.delegations.sort_by(|a, b| a.name.cmp(&b.name));
    let ok = new.validate().is_ok();
    if ok {
        *root = new;
    }
    ok
}

/// Signs with every root key of both versions (what `cairn trust` does with all keys at hand).
fn sign_rotation(old: &TrustRoot, new: &TrustRoot) -> Vec<u8> {
    let seeds: Vec<u8> = (1u8..6)
        .filter(|s| old.root.keys.contains(&id(*s)) || new.root.keys.contains(&id(*s)))
        .collect();
    sign(new, &seeds).encode()
}

fn chain(edits: &[Edit]) -> Vec<Vec<u8>> {
    let v1 = sign(&first(&[1, 2], 1), &[1, 2]);
    let mut out = vec![v1.encode()];
    let mut current = v1;
    for edit in edits {
        let mut root = current.root.successor(current.digest(), at(0), at(DAY));
        if !apply(&mut root, edit) {
            continue;
        }
        let bytes = sign_rotation(&current.root, &root);
        current = SignedRoot::decode(&bytes).unwrap();
        out.push(bytes);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every chain the commands write walks to its end, and decodes to the bytes it was.
    #[test]
    fn written_chains_walk_to_the_end(edits in prop::collection::vec(edit_strategy(), 0..8)) {
        let chain = chain(&edits);
        let anchor = TrustedRoot::anchor(&chain[0], None).unwrap();
        let walked = anchor.walk(chain[1..].iter().map(Vec::as_slice));
        prop_assert_eq!(walked.refused, None);
        prop_assert_eq!(walked.root.version() as usize, chain.len());
        for bytes in &chain {
            prop_assert_eq!(&SignedRoot::decode(bytes).unwrap().encode(), bytes);
        }
    }

    /// Offered the versions out of order, with one dropped or repeated, a walk never goes back
    /// and never passes the damage: it ends on a prefix of the chain.
    #[test]
    fn damaged_chains_stop_at_the_damage(
        edits in prop::collection::vec(edit_strategy(), 2..8),
        drop in any::<prop::sample::Index>(),
        repeat in any::<prop::sample::Index>(),
    ) {
        let chain = chain(&edits);
        prop_assume!(chain.len() >= 3);
        let anchor = TrustedRoot::anchor(&chain[0], None).unwrap();
        let mut offered: Vec<&[u8]> = chain[1..].iter().map(Vec::as_slice).collect();
        let dropped = drop.index(offered.len());
        offered.remove(dropped);
        let walked = anchor.walk(offered.iter().copied());
        prop_assert_eq!(walked.root.version() as usize, dropped + 1);
        prop_assert!(walked.refused.is_some() || dropped == offered.len());

        let mut replayed: Vec<&[u8]> = chain[1..].iter().map(Vec::as_slice).collect();
        let again = repeat.index(replayed.len());
        replayed.insert(again + 1, chain[again].as_slice());
        let walked = anchor.walk(replayed.iter().copied());
        prop_assert_eq!(walked.root.version() as usize, again + 2);
        let not_next = matches!(walked.refused, Some(RootRefusal::NotNext { .. }));
        prop_assert!(not_next);
    }

    /// A head is accepted exactly when a threshold of the first matching delegation's keys
    /// signed it (checked against a direct reading of the rule).
    #[test]
    fn heads_are_accepted_exactly_by_the_rule(
        edits in prop::collection::vec(edit_strategy(), 0..8),
        team in 0u8..4,
        signers in prop::collection::btree_set(10u8..20, 0..4),
    ) {
        let chain = chain(&edits);
        let anchor = TrustedRoot::anchor(&chain[0], None).unwrap();
        let root = anchor.walk(chain[1..].iter().map(Vec::as_slice)).root;
        let channel = format!("team-{team}-app");
        let seeds: Vec<u8> = signers.iter().copied().collect();
        let verdict = verify_head_under(&head(&channel, 1, &seeds), &check(&root, &channel));
        let expected = root.root().delegations.iter().find(|d| d.matches(&channel)).is_some_and(|d| {
            let valid = seeds.iter().filter(|s| d.keys.contains(&id(**s))).count();
            valid >= d.threshold as usize && !seeds.is_empty()
        });
        prop_assert_eq!(verdict.is_ok(), expected, "{:?}", verdict);
    }
}

#[test]
fn labels_survive_and_are_bounded() {
    let mut root = first(&[1], 1);
    root.keys.get_mut(&id(1)).unwrap().label = Some("alice".into());
    let signed = sign(&root, &[1]);
    let decoded = SignedRoot::decode(&signed.encode()).unwrap();
    assert_eq!(decoded.root.keys[&id(1)].label.as_deref(), Some("alice"));
    root.keys.get_mut(&id(1)).unwrap().label = Some("x".repeat(65));
    assert!(root.validate().unwrap_err().to_string().contains("label"));
}

/// `--trust` with scopes from the agent's configuration: a scoped channel's heads verify and
/// carry their scope; a channel no entry names is not delegated at all.
#[test]
fn simple_roots_with_scopes_refuse_channels_they_do_not_name() {
    let scope: cairn_state_format::Scope = serde_json::from_str(
        r#"{"cluster_scoped":false,"deny_kinds":[],"kinds":["*.*"],"namespaces":["$channel"]}"#,
    )
    .unwrap();
    let root = TrustedRoot::simple_scoped(
        &[key(1).public()],
        &[(vec!["team-a-*".parse().unwrap()], scope.clone())],
    );
    assert_eq!(root.root().format, 2);
    let check = |channel| HeadCheck {
        root: &root,
        channel,
        applied_generation: None,
        lineage: Lineage::default(),
        now: at(30),
    };
    let head = |channel: &str| {
        let head = Head::new(
            channel,
            Epoch::from_bytes([1; 16]),
            1,
            Digest::of(b"s"),
            at(20),
            at(3_600),
        );
        SignedHead::sign(&head, &[key(1)])
    };
    let verified = verify_head_under(&head("team-a-web"), &check("team-a-web")).unwrap();
    assert_eq!(verified.scope, Some(scope));
    assert!(matches!(
        verify_head_under(&head("prod"), &check("prod")),
        Err(Refusal::NotDelegated { .. })
    ));
    let open = TrustedRoot::simple(&[key(1).public()]);
    let open_check = HeadCheck {
        root: &open,
        ..check("prod")
    };
    assert_eq!(
        verify_head_under(&head("prod"), &open_check).unwrap().scope,
        None
    );
}
