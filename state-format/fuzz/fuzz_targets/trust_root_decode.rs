//! Trust roots: `SignedRoot::decode`, `TrustedRoot::anchor` and `TrustedRoot::advance` (after the
//! golden version 1, so the committed `tests/golden/v1/root-2.json` is a valid seed) agree on
//! what they refuse; whatever decodes re-encodes to itself, and whatever is accepted as the next
//! version is exactly version 2 of the golden chain's lineage.
#![no_main]

use cairn_state_format::{RootRefusal, SignedRoot, TrustedRoot};
use libfuzzer_sys::fuzz_target;

const ROOT_1: &[u8] = include_bytes!("../../tests/golden/v1/root-1.json");

fuzz_target!(|data: &[u8]| {
    let trusted = TrustedRoot::anchor(ROOT_1, None).expect("the golden version 1 is a root");
    let advanced = trusted.advance(data);
    let anchored = TrustedRoot::anchor(data, None);
    let signed = match SignedRoot::decode(data) {
        Ok(signed) => signed,
        Err(err) => {
            for refusal in [advanced.expect_err("advance"), anchored.expect_err("anchor")] {
                assert!(
                    matches!(refusal, RootRefusal::Malformed(_) | RootRefusal::UnsupportedFormat { .. }),
                    "decode: {err}; refusal: {refusal}"
                );
            }
            return;
        }
    };
    let again = SignedRoot::decode(&signed.encode()).expect("a decoded root re-encodes");
    assert_eq!(again, signed);
    if let Ok(next) = advanced {
        assert_eq!(next.version(), 2);
        assert_eq!(next.root().previous, Some(trusted.digest()));
        assert_eq!(next.digest(), signed.digest());
    }
    if let Ok(anchor) = anchored {
        assert_eq!(anchor.root(), &signed.root);
    }
});
