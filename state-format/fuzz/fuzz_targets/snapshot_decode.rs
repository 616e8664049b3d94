//! Snapshot roots, named by the digest of the input so that decoding gets past the digest check.
//! A decoded snapshot re-encodes to bytes that decode to itself.
#![no_main]

use cairn_state_format::{Digest, Snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = Snapshot::decode(data, &Digest::of(data)) else {
        return;
    };
    let again = Snapshot::decode(&snapshot.encode(), &snapshot.digest())
        .expect("a decoded snapshot re-encodes");
    assert_eq!(again, snapshot);
});
