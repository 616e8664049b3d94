//! Index nodes: the input is tried both as stored bytes (zstd) and as canonical JSON, each named
//! by the digest of its JSON so that decoding gets past the digest check. A decoded node
//! re-encodes to a node that decodes to itself.
#![no_main]

use cairn_state_format::{Digest, MAX_NODE_BYTES, Node};
use libfuzzer_sys::fuzz_target;

fn check(stored: &[u8], digest: &Digest) {
    let Ok(node) = Node::decode(stored, digest) else {
        return;
    };
    let canonical = node.canonical();
    let again = Node::decode(&compress(&canonical), &Digest::of(&canonical))
        .expect("a decoded node re-encodes");
    assert_eq!(again, node);
}

fn compress(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 1).expect("in-memory compression")
}

fuzz_target!(|data: &[u8]| {
    // As stored: a zstd frame.
    let digest = match zstd::bulk::decompress(data, MAX_NODE_BYTES) {
        Ok(canonical) => Digest::of(&canonical),
        Err(_) => Digest::of(data),
    };
    check(data, &digest);
    // As canonical JSON.
    check(&compress(data), &Digest::of(data));
});
