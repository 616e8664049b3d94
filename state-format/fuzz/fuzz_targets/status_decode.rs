//! Status records: a decoded record re-encodes to bytes that decode to itself, and recording one
//! more (overlong) error keeps it within the limits the decoder checks.
#![no_main]

use cairn_state_format::{StatusError, StatusRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = StatusRecord::decode(data, "status/fuzz/c1") else {
        return;
    };
    let again =
        StatusRecord::decode(&record.encode(), "re-encoded").expect("a decoded record re-encodes");
    assert_eq!(again, record);

    let mut pushed = record;
    pushed.push_error(StatusError {
        at: pushed.updated_at,
        class: "fuzz".to_owned(),
        message: "é".repeat(3_000),
        object: None,
    });
    StatusRecord::decode(&pushed.encode(), "pushed").expect("push_error keeps a record valid");
});
