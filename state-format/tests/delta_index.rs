//! `apply_delta_to_index` against `apply_delta`: for random base and target sets, applying the
//! pack to the base's index nodes gives exactly the target snapshot (root, counts, new nodes)
//! and the entry diff, and a pack that leads anywhere else is refused the same way.

use std::collections::BTreeMap;

use cairn_state_format::{
    Change, Digest, Entry, EntrySet, Error, Index, NodeSource, ResourceId, Snapshot, apply_delta,
    apply_delta_to_index, diff_entries, encode_delta,
};
use proptest::prelude::*;

fn entry(n: u16, v: u8) -> (Entry, Vec<u8>) {
    let blob = format!(r#"{{"kind":"ConfigMap","n":{n},"v":{v}}}"#).into_bytes();
    let entry = Entry {
        id: ResourceId {
            group: String::new(),
            kind: "ConfigMap".to_owned(),
            namespace: format!("ns-{}", n % 7),
            name: format!("r-{n}"),
        },
        blob: Digest::of(&blob),
        size: blob.len() as u64,
        selector: None,
        wave: (v == 2).then_some(i32::from(n % 3)),
    };
    (entry, blob)
}

fn set(versions: &BTreeMap<u16, u8>) -> EntrySet {
    versions
        .iter()
        .map(|(&n, &v)| entry(n, v).0)
        .map(|e| (e.id.clone(), e))
        .collect()
}

fn pack(a: &EntrySet, b: &EntrySet, to: &Digest, versions: &BTreeMap<u16, u8>) -> Vec<u8> {
    let blobs: BTreeMap<Digest, Vec<u8>> = versions
        .iter()
        .map(|(&n, &v)| entry(n, v))
        .map(|(e, blob)| (e.blob, blob))
        .collect();
    let from = Snapshot::build(a).0.digest();
    encode_delta(&from, to, &diff_entries(a, b), |d| blobs.get(d).cloned()).unwrap()
}

fn check(a: &BTreeMap<u16, u8>, b: &BTreeMap<u16, u8>) {
    let (set_a, set_b) = (set(a), set(b));
    let (snap_a, index_a) = Snapshot::build(&set_a);
    let (snap_b, index_b) = Snapshot::build(&set_b);
    let bytes = pack(&set_a, &set_b, &snap_b.digest(), b);
    let done = apply_delta_to_index(&index_a, &snap_a, &snap_a.digest(), bytes.as_slice()).unwrap();
    assert_eq!(done.snapshot, snap_b);
    assert_eq!(done.updated.root, index_b.root());
    assert_eq!(done.updated.changes, diff_entries(&set_a, &set_b));
    // Every node the new index has and the old one lacks is returned, with its canonical bytes.
    for digest in index_b.digests() {
        if index_a.get_node(digest).is_none() {
            let (node, canonical) = index_b.node(digest).unwrap();
            let found = done.updated.nodes.iter().find(|(d, ..)| d == digest);
            let (_, n, c) = found.expect("a new node is returned");
            assert_eq!((n, c.as_slice()), (node, canonical));
        }
    }
    let full = apply_delta(&set_a, &snap_a.digest(), bytes.as_slice()).unwrap();
    assert_eq!(done.blobs, full.blobs);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn applying_to_the_index_gives_the_full_rebuild(
        a in prop::collection::btree_map(0u16..3000, 0u8..3, 0..400),
        edits in prop::collection::btree_map(0u16..3000, 0u8..4, 0..80),
    ) {
        let mut b = a.clone();
        for (n, v) in edits {
            if v == 3 { b.remove(&n); } else { b.insert(n, v); }
        }
        check(&a, &b);
    }
}

#[test]
fn a_pack_to_another_snapshot_or_removing_the_absent_is_refused() {
    let a: BTreeMap<u16, u8> = (0..300).map(|n| (n, 0)).collect();
    let mut b = a.clone();
    b.insert(7, 1);
    let (set_a, set_b) = (set(&a), set(&b));
    let (snap_a, index_a) = Snapshot::build(&set_a);
    let wrong = Digest::of(b"another snapshot");
    let bytes = pack(&set_a, &set_b, &wrong, &b);
    let err =
        apply_delta_to_index(&index_a, &snap_a, &snap_a.digest(), bytes.as_slice()).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");

    // A pack that removes an identity the base lacks.
    let mut c = set_a.clone();
    let absent = entry(9999, 0).0;
    c.remove(&entry(1, 0).0.id);
    let mut changes = diff_entries(&set_a, &c);
    changes.push(Change::Removed(absent));
    let to = Snapshot::build(&c).0.digest();
    let bytes = encode_delta(&snap_a.digest(), &to, &changes, |_| None).unwrap();
    let err =
        apply_delta_to_index(&index_a, &snap_a, &snap_a.digest(), bytes.as_slice()).unwrap_err();
    assert!(err.to_string().contains("does not have"), "{err}");

    // A pack for another base.
    let other = Index::build(&EntrySet::new());
    let bytes = pack(&set_a, &set_b, &Snapshot::build(&set_b).0.digest(), &b);
    let empty = Snapshot::build(&EntrySet::new()).0;
    let err = apply_delta_to_index(&other, &empty, &empty.digest(), bytes.as_slice()).unwrap_err();
    assert!(err.to_string().contains("applies to"), "{err}");
}
