//! `apply_delta` against a small fixed base: the golden fixtures' base snapshot (the entries of
//! `tests/golden/v1/node-leaf.json`), so the committed `delta.zst` and `delta.lines` are valid
//! seeds. The input is tried as a stored pack, as the pack's lines, and as lines after a header
//! that names the base and the snapshot its remove records would produce, so that mutations reach
//! the end of the pack. Whatever applies yields exactly the snapshot the header names.
#![no_main]

use cairn_state_format::{Digest, EntrySet, Node, ResourceId, Snapshot, apply_delta};
use libfuzzer_sys::fuzz_target;

const BASE_LEAF: &[u8] = include_bytes!("../../tests/golden/v1/node-leaf.json");

fn base() -> EntrySet {
    let stored = zstd::bulk::compress(BASE_LEAF, 1).expect("in-memory compression");
    match Node::decode(&stored, &Digest::of(BASE_LEAF)).expect("the golden leaf decodes") {
        Node::Leaf(entries) => entries.into_iter().map(|e| (e.id.clone(), e)).collect(),
        Node::Branch(_) => unreachable!("the golden leaf is a leaf"),
    }
}

fn apply(base: &EntrySet, pack: &[u8]) {
    let base_digest = Snapshot::build(base).0.digest();
    let Ok(applied) = apply_delta(base, &base_digest, pack) else {
        return;
    };
    let (snapshot, _) = Snapshot::build(&applied.entries);
    assert_eq!(snapshot, applied.snapshot);
    for (digest, blob) in &applied.blobs {
        assert_eq!(Digest::of(blob), *digest);
    }
}

/// A header for `body` that names the base and the snapshot its remove records would produce.
fn with_header(base: &EntrySet, body: &[u8]) -> Vec<u8> {
    let mut target = base.clone();
    let (mut puts, mut removes) = (0u64, 0u64);
    for line in body.split(|&b| b == b'\n') {
        if line.starts_with(br#"{"put""#) {
            puts += 1;
        } else if line.starts_with(br#"{"remove""#) {
            removes += 1;
            #[derive(serde::Deserialize)]
            struct Remove {
                remove: ResourceId,
            }
            if let Ok(Remove { remove }) = serde_json::from_slice(line) {
                target.remove(&remove);
            }
        }
    }
    let header = serde_json::json!({
        "format": 1,
        "from": Snapshot::build(base).0.digest(),
        "to": Snapshot::build(&target).0.digest(),
        "puts": puts,
        "removes": removes,
    });
    let mut lines = serde_json::to_vec(&header).expect("a header serializes");
    lines.push(b'\n');
    lines.extend_from_slice(body);
    lines
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 1).expect("in-memory compression")
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    apply(&base, data);
    apply(&base, &compress(data));
    apply(&base, &compress(&with_header(&base, data)));
});
