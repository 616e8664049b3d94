//! Signed heads: `SignedHead::decode` and `verify_head` agree on what they refuse, and a decoded
//! head, re-signed by a trusted key, decodes to itself and verifies (or is refused only for being
//! expired). The trusted keys are the golden fixtures' (seeds 1 and 2), so the committed
//! `tests/golden/v1/head.json` is a valid seed.
#![no_main]

use cairn_state_format::{Refusal, SecretKey, SignedHead, Trust, verify_head};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signers = [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])];
    let keys = [signers[0].public(), signers[1].public()];
    let trust = Trust {
        keys: &keys,
        channel: "prod",
        applied_generation: Some(6),
        now: Utc.timestamp_opt(1_800_000_060, 0).unwrap(),
    };
    let verified = verify_head(data, &trust);
    let signed = match SignedHead::decode(data) {
        Ok(signed) => signed,
        Err(err) => {
            // What the decoder refuses, the verifier refuses, as malformed or as newer.
            let refusal = verified.expect_err("verify_head accepted what decode refused");
            assert!(
                refusal == Refusal::Malformed(err.to_string())
                    || refusal.to_string().contains("upgrade"),
                "decode: {err}; verify: {refusal}"
            );
            return;
        }
    };
    assert!(
        !matches!(verified, Err(Refusal::Malformed(_))),
        "{verified:?}"
    );
    if let Ok((head, key)) = &verified {
        assert_eq!(*head, signed.head);
        assert!(keys.iter().any(|k| k.id() == *key));
        assert_eq!(head.channel, "prod");
        assert!(head.generation > 6 && trust.now < head.expires_at);
    }

    let bytes = SignedHead::sign(&signed.head, &[&signers[0]]);
    let again = SignedHead::decode(&bytes).expect("a decoded head re-signs");
    assert_eq!(again.head, signed.head);
    let own = Trust {
        keys: &keys,
        channel: &signed.head.channel,
        applied_generation: None,
        now: signed.head.published_at,
    };
    match verify_head(&bytes, &own) {
        Ok((head, key)) => {
            assert_eq!(head, signed.head);
            assert_eq!(key, keys[0].id());
        }
        Err(Refusal::Expired { expires_at }) => assert!(own.now >= expires_at),
        Err(other) => panic!("a re-signed head is refused: {other}"),
    }
});
