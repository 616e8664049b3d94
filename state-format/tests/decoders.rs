//! Decoder robustness: every decoder refuses damaged, foreign, newer and oversize input with the
//! error variant that says why, and a message that names the object.
//!
//! Delta packs are built here by hand (canonical lines, then zstd) so that each test can damage
//! exactly one thing: a cut, a flipped byte, a wrong blob, trailing data, a newer header.

use std::collections::BTreeMap;

use cairn_state_format::{
    Change, Digest, Entry, EntrySet, Epoch, Error, HEAD_FORMAT, Head, Index, Lineage,
    MAX_BLOB_BYTES, MAX_ENTRIES, MAX_HEAD_BYTES, MAX_NODE_BYTES, MAX_SNAPSHOT_BYTES,
    MAX_STATUS_BYTES, Node, ResourceId, STATUS_FORMAT, SecretKey, SignedHead, Snapshot,
    StatusRecord, Trust, apply_delta, diff_entries, encode_delta, verify_head,
};
use chrono::{DateTime, TimeZone, Utc};

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

fn head(generation: u64) -> Head {
    let epoch = Epoch::from_bytes([3; 16]);
    Head::new("prod", epoch, generation, Digest::of(b"s"), at(0), at(100))
}

/// A ConfigMap entry and its blob.
fn resource(name: &str, value: &str) -> (Entry, Vec<u8>) {
    let blob = format!(
        r#"{{"apiVersion":"v1","data":{{"v":"{value}"}},"kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"shop"}}}}"#
    )
    .into_bytes();
    let entry = Entry {
        id: ResourceId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "shop".into(),
            name: name.into(),
        },
        blob: Digest::of(&blob),
        size: blob.len() as u64,
        selector: None,
        wave: None,
    };
    (entry, blob)
}

/// Base and target sets of a pack with two puts (one add, one change) and one remove, the base's
/// digest, and the pack.
struct Fixture {
    base: EntrySet,
    base_digest: Digest,
    target: EntrySet,
    pack: Vec<u8>,
}

fn fixture() -> Fixture {
    let mut blobs = BTreeMap::new();
    let mut set = |items: &[(&str, &str)]| -> EntrySet {
        items
            .iter()
            .map(|(name, value)| {
                let (entry, blob) = resource(name, value);
                blobs.insert(entry.blob, blob);
                (entry.id.clone(), entry)
            })
            .collect()
    };
    let base = set(&[("a", "1"), ("b", "1"), ("c", "1")]);
    let target = set(&[("a", "2"), ("b", "1"), ("d", "1")]);
    let (from, to) = (
        Snapshot::build(&base).0.digest(),
        Snapshot::build(&target).0.digest(),
    );
    let changes = diff_entries(&base, &target);
    let pack = encode_delta(&from, &to, &changes, |d| blobs.get(d).cloned()).unwrap();
    Fixture {
        base,
        base_digest: from,
        target,
        pack,
    }
}

fn decompress(pack: &[u8]) -> Vec<u8> {
    zstd::decode_all(pack).unwrap()
}

fn compress(lines: &[u8]) -> Vec<u8> {
    zstd::encode_all(lines, 1).unwrap()
}

/// Applies `lines` (re-compressed) to the fixture's base.
fn apply_lines(f: &Fixture, lines: &[u8]) -> Result<cairn_state_format::Applied, Error> {
    apply_delta(&f.base, &f.base_digest, compress(lines).as_slice())
}

fn text(lines: &[u8]) -> String {
    String::from_utf8(lines.to_vec()).unwrap()
}

#[test]
fn the_fixture_pack_applies() {
    let f = fixture();
    let applied = apply_delta(&f.base, &f.base_digest, f.pack.as_slice()).unwrap();
    assert_eq!(applied.entries, f.target);
    assert_eq!(applied.blobs.len(), 2);
}

/// Regression: a zstd frame cut short was reported as malformed, not truncated.
#[test]
fn a_pack_cut_anywhere_in_its_compressed_bytes_is_refused() {
    let f = fixture();
    for cut in 0..f.pack.len() {
        let err = apply_delta(&f.base, &f.base_digest, &f.pack[..cut]).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(
            err.to_string().contains("delta pack"),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn a_pack_cut_anywhere_in_its_lines_is_truncated() {
    let f = fixture();
    let lines = decompress(&f.pack);
    for cut in 0..lines.len() {
        let err = apply_lines(&f, &lines[..cut]).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { .. }),
            "cut at {cut}: {err}"
        );
        assert!(
            err.to_string().contains("delta pack"),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn a_flipped_byte_anywhere_in_the_compressed_pack_never_yields_another_state() {
    let f = fixture();
    for i in 0..f.pack.len() {
        for bit in [0x01, 0x80] {
            let mut corrupt = f.pack.clone();
            corrupt[i] ^= bit;
            // A flip in the frame header may only change, say, the window size: then the lines
            // are intact and the pack still gives exactly the target. Anything else is refused.
            match apply_delta(&f.base, &f.base_digest, corrupt.as_slice()) {
                Ok(applied) => assert_eq!(applied.entries, f.target, "byte {i} ^ {bit:#x}"),
                Err(err) => assert!(
                    err.to_string().contains("delta pack"),
                    "byte {i} ^ {bit:#x}: {err}"
                ),
            }
        }
    }
}

#[test]
fn a_flipped_byte_anywhere_in_the_lines_is_refused() {
    let f = fixture();
    let lines = decompress(&f.pack);
    for i in 0..lines.len() {
        let mut corrupt = lines.clone();
        corrupt[i] ^= 0x01;
        let err = apply_lines(&f, &corrupt).expect_err(&format!("byte {i} was accepted"));
        let message = err.to_string();
        // A flip in a blob is caught by its digest, one in a digest by the snapshot digest; either
        // way the message says which pack (or which blob of which pack) is bad.
        assert!(
            message.contains("delta pack") || message.contains("blob of"),
            "byte {i}: {message}"
        );
    }
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let f = fixture();
    let lines = text(&decompress(&f.pack));
    let tampered = lines.replacen(r#""data":{"v":"2"}"#, r#""data":{"v":"3"}"#, 1);
    assert_ne!(tampered, lines);
    let err = apply_lines(&f, tampered.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("blob of ConfigMap shop/a in delta pack sha256:"),
        "{message}"
    );
}

#[test]
fn a_blob_whose_size_differs_from_its_entry_is_refused() {
    let f = fixture();
    let lines = text(&decompress(&f.pack));
    let (entry, _) = resource("a", "2");
    let tampered = lines.replacen(
        &format!(r#""size":{}"#, entry.size),
        &format!(r#""size":{}"#, entry.size + 1),
        1,
    );
    let err = apply_lines(&f, tampered.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("declares size"), "{err}");
}

/// Regression: a trailer without a line break was reported as truncated, a long one as too large.
#[test]
fn data_after_the_end_record_is_refused() {
    let f = fixture();
    let lines = decompress(&f.pack);
    let long = "x".repeat(100_000);
    for trailer in ["\n", "x", "x\n", "{}\n", long.as_str()] {
        let mut extended = lines.clone();
        extended.extend_from_slice(trailer.as_bytes());
        let err = apply_lines(&f, &extended).unwrap_err();
        assert!(
            matches!(err, Error::Malformed { .. }),
            "{trailer:.8?}: {err}"
        );
        assert!(
            err.to_string().contains("data after the end record"),
            "{trailer:.8?}: {err}"
        );
    }
    // Bytes after the zstd frame are data after the end too.
    let mut extended = f.pack.clone();
    extended.extend_from_slice(b"garbage");
    let err = apply_delta(&f.base, &f.base_digest, extended.as_slice()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("delta pack"), "{err}");
}

#[test]
fn a_pack_for_another_base_is_refused() {
    let f = fixture();
    let err = apply_delta(&f.base, &Digest::of(b"other"), f.pack.as_slice()).unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("it applies to"), "{err}");
}

#[test]
fn a_pack_that_produces_another_snapshot_is_refused() {
    let f = fixture();
    let lines = text(&decompress(&f.pack));
    let to = Snapshot::build(&f.target).0.digest().to_string();
    let tampered = lines.replace(&to, &Digest::of(b"elsewhere").to_string());
    let err = apply_lines(&f, tampered.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("snapshot produced by delta pack"),
        "{err}"
    );
}

#[test]
fn counts_that_disagree_with_the_header_are_refused() {
    let f = fixture();
    let lines = text(&decompress(&f.pack));
    let header_end = lines.find('\n').unwrap();
    for (from, to) in [
        (r#""puts":2"#, r#""puts":3"#),
        (r#""removes":1"#, r#""removes":0"#),
    ] {
        let tampered = format!(
            "{}{}",
            lines[..header_end].replace(from, to),
            &lines[header_end..]
        );
        let err = apply_lines(&f, tampered.as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { .. } | Error::Malformed { .. }),
            "{to}: {err}"
        );
        assert!(err.to_string().contains("delta pack"), "{to}: {err}");
    }
}

/// A newer object is reported as "upgrade cairn", for each wire type, even when it also carries
/// fields this build does not know.
mod newer_formats {
    use super::*;

    /// Refused as one format newer than the newest this build reads of the type.
    fn assert_unsupported(err: &Error, names: &str) {
        assert!(
            matches!(err, Error::UnsupportedFormat { found, supported, .. } if *found == u64::from(*supported) + 1),
            "{err}"
        );
        let message = err.to_string();
        assert!(message.contains(names), "{message}");
        assert!(message.contains("upgrade cairn"), "{message}");
    }

    #[test]
    fn index_node() {
        for canonical in [
            r#"{"entries":[],"format":2}"#,
            r#"{"format":2,"leaves":{"new":"shape"}}"#,
        ] {
            let digest = Digest::of(canonical.as_bytes());
            let err = Node::decode(&Node::encode(canonical.as_bytes()), &digest).unwrap_err();
            assert_unsupported(&err, &format!("index node {digest}"));
        }
    }

    #[test]
    fn snapshot() {
        let index = Digest::of(b"i");
        for bytes in [
            format!(r#"{{"bytes":0,"entries":0,"format":2,"index":"{index}"}}"#),
            format!(r#"{{"format":2,"index":"{index}","labels":{{}}}}"#),
        ] {
            let digest = Digest::of(bytes.as_bytes());
            let err = Snapshot::decode(bytes.as_bytes(), &digest).unwrap_err();
            assert_unsupported(&err, &format!("snapshot {digest}"));
        }
    }

    #[test]
    fn signed_head() {
        let key = SecretKey::from_seed([1; 32]);
        let v2 = text(&SignedHead::sign(&head(3), &[&key]));
        let newer = HEAD_FORMAT + 1;
        let v3 = v2.replace(r#""format":2"#, &format!(r#""format":{newer}"#));
        let v3_with_new_fields = v3
            .replace(r#""channel":"#, r#""cohorts":[],"channel":"#)
            .replace(r#""signatures":"#, r#""attestations":[],"signatures":"#);
        for bytes in [&v3, &v3_with_new_fields] {
            let err = SignedHead::decode(bytes.as_bytes()).unwrap_err();
            assert_unsupported(&err, "channel head");
            let keys = [key.public()];
            let trust = Trust {
                keys: &keys,
                channel: "prod",
                applied_generation: None,
                lineage: Lineage::default(),
                now: at(10),
            };
            // An agent refuses it, saying to upgrade.
            let refusal = verify_head(bytes.as_bytes(), &trust)
                .unwrap_err()
                .to_string();
            assert!(refusal.contains(&format!("format {newer}")), "{refusal}");
            assert!(refusal.contains("upgrade"), "{refusal}");
        }
    }

    #[test]
    fn status_record() {
        // Status records have formats of their own: this build reads 1 and 2.
        let v1 = text(&StatusRecord::new("c1", "prod", "cairn-agent 0.1.0", at(0)).encode());
        let newer = STATUS_FORMAT + 1;
        let v3 = v1.replace(r#""format":1"#, &format!(r#""format":{newer}"#));
        let v3_with_new_fields = v3.replace(r#""phase":"#, r#""budget":{},"phase":"#);
        for bytes in [&v3, &v3_with_new_fields] {
            let err = StatusRecord::decode(bytes.as_bytes(), "status/prod/c1").unwrap_err();
            assert!(
                matches!(&err, Error::UnsupportedFormat { found, supported, .. }
                    if *found == u64::from(newer) && *supported == STATUS_FORMAT),
                "{err}"
            );
            let message = err.to_string();
            assert!(
                message.contains("status/prod/c1") && message.contains("upgrade cairn"),
                "{message}"
            );
        }
    }

    #[test]
    fn delta_pack() {
        let f = fixture();
        let lines = text(&decompress(&f.pack));
        let v2 = lines.replacen(r#""format":1"#, r#""format":2"#, 1);
        let v2_with_new_fields = v2.replacen(r#""from":"#, r#""compression":"x","from":"#, 1);
        for lines in [&v2, &v2_with_new_fields] {
            let err = apply_lines(&f, lines.as_bytes()).unwrap_err();
            assert_unsupported(&err, "delta pack");
        }
    }

    #[test]
    fn a_missing_or_non_numeric_format_is_malformed() {
        for bytes in [r#"{"entries":[]}"#, r#"{"entries":[],"format":"1"}"#] {
            let digest = Digest::of(bytes.as_bytes());
            let err = Node::decode(&Node::encode(bytes.as_bytes()), &digest).unwrap_err();
            assert!(matches!(err, Error::Malformed { .. }), "{err}");
            assert!(err.to_string().contains("`format`"), "{err}");
        }
    }
}

/// Fields this format version does not define are refused, at every level of every type.
mod unknown_fields {
    use super::*;

    fn assert_refused(err: &Error, names: &str, field: &str) {
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(names), "{message}");
        assert!(
            message.contains(&format!("unknown field `{field}`")),
            "{message}"
        );
    }

    #[test]
    fn index_node() {
        let (entry, _) = resource("a", "1");
        let leaf = Node::Leaf(vec![entry]).canonical();
        let leaf = text(&leaf);
        for (bytes, field) in [
            (
                leaf.replace(r#""format":1"#, r#""format":1,"extra":0"#),
                "extra",
            ),
            (leaf.replace(r#""blob":"#, r#""hint":0,"blob":"#), "hint"),
            (leaf.replace(r#""group":"#, r#""uid":"u","group":"#), "uid"),
        ] {
            let digest = Digest::of(bytes.as_bytes());
            let err = Node::decode(&Node::encode(bytes.as_bytes()), &digest).unwrap_err();
            assert_refused(&err, &format!("index node {digest}"), field);
        }
        let mut big = EntrySet::new();
        for i in 0..40 {
            let (entry, _) = resource(&format!("cm-{i}"), "1");
            big.insert(entry.id.clone(), entry);
        }
        let index = Index::build(&big);
        let (_, branch) = index.node(&index.root()).unwrap();
        let branch = text(branch).replacen(r#""entries":"#, r#""pinned":true,"entries":"#, 1);
        let digest = Digest::of(branch.as_bytes());
        let err = Node::decode(&Node::encode(branch.as_bytes()), &digest).unwrap_err();
        assert_refused(&err, &format!("index node {digest}"), "pinned");
    }

    #[test]
    fn snapshot() {
        let (snapshot, _) = Snapshot::build(&EntrySet::new());
        let bytes = text(&snapshot.encode()).replace(r#""format":1"#, r#""format":1,"note":"x""#);
        let digest = Digest::of(bytes.as_bytes());
        let err = Snapshot::decode(bytes.as_bytes(), &digest).unwrap_err();
        assert_refused(&err, &format!("snapshot {digest}"), "note");
    }

    #[test]
    fn signed_head() {
        let key = SecretKey::from_seed([1; 32]);
        let v1 = text(&SignedHead::sign(&head(3), &[&key]));
        for (bytes, field) in [
            (
                v1.replace(r#""channel":"#, r#""cohorts":[],"channel":"#),
                "cohorts",
            ),
            (
                v1.replace(r#""signatures":"#, r#""extra":[],"signatures":"#),
                "extra",
            ),
            (v1.replace(r#""key":"#, r#""alg":"ed25519","key":"#), "alg"),
        ] {
            let err = SignedHead::decode(bytes.as_bytes()).unwrap_err();
            assert_refused(&err, "channel head", field);
        }
    }

    #[test]
    fn status_record() {
        let mut record = StatusRecord::new("c1", "prod", "cairn-agent 0.1.0", at(0));
        record.push_error(cairn_state_format::StatusError {
            at: at(1),
            class: "apply".into(),
            message: "boom".into(),
            object: None,
        });
        let v1 = text(&record.encode());
        for (bytes, field) in [
            (v1.replace(r#""phase":"#, r#""drift":{},"phase":"#), "drift"),
            (v1.replace(r#""class":"#, r#""code":7,"class":"#), "code"),
            (
                v1.replace(r#""applied":0"#, r#""applied":0,"skipped":0"#),
                "skipped",
            ),
        ] {
            let err = StatusRecord::decode(bytes.as_bytes(), "status/prod/c1").unwrap_err();
            assert_refused(&err, "status/prod/c1", field);
        }
    }

    #[test]
    fn delta_pack() {
        let f = fixture();
        let lines = text(&decompress(&f.pack));
        for (bytes, field) in [
            (
                lines.replacen(r#""from":"#, r#""compression":"x","from":"#, 1),
                "compression",
            ),
            (
                lines.replacen(r#"{"put":{"#, r#"{"put":{"mode":0,"#, 1),
                "mode",
            ),
            (
                lines.replacen(r#""removes":1}}"#, r#""removes":1,"sig":""}}"#, 1),
                "sig",
            ),
        ] {
            assert_ne!(bytes, lines, "{field}");
            let err = apply_lines(&f, bytes.as_bytes()).unwrap_err();
            assert_refused(&err, "delta pack", field);
        }
        let bytes = lines.replacen(r#"{"remove":"#, r#"{"rename":"#, 1);
        let err = apply_lines(&f, bytes.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert!(
            err.to_string().contains("unknown variant `rename`"),
            "{err}"
        );
    }
}

/// Inputs over the format's limits are refused before they are parsed.
mod oversize {
    use super::*;

    fn assert_too_large(err: &Error, names: &str, limit: usize) {
        match err {
            Error::TooLarge { limit: l, .. } => assert_eq!(*l, limit as u64, "{err}"),
            other => panic!("expected TooLarge, got {other}"),
        }
        assert!(err.to_string().contains(names), "{err}");
    }

    #[test]
    fn snapshot() {
        let bytes = vec![b' '; MAX_SNAPSHOT_BYTES + 1];
        let err = Snapshot::decode(&bytes, &Digest::of(&bytes)).unwrap_err();
        assert_too_large(&err, "snapshot sha256:", MAX_SNAPSHOT_BYTES);
    }

    #[test]
    fn signed_head() {
        let bytes = vec![b' '; MAX_HEAD_BYTES + 1];
        let err = SignedHead::decode(&bytes).unwrap_err();
        assert_too_large(&err, "channel head", MAX_HEAD_BYTES);
    }

    #[test]
    fn status_record() {
        let bytes = vec![b' '; MAX_STATUS_BYTES + 1];
        let err = StatusRecord::decode(&bytes, "status/prod/c1").unwrap_err();
        assert_too_large(&err, "status/prod/c1", MAX_STATUS_BYTES);
    }

    #[test]
    fn index_node() {
        let canonical = format!(
            r#"{{"entries":[],"format":1,"pad":"{}"}}"#,
            "a".repeat(MAX_NODE_BYTES)
        );
        let digest = Digest::of(canonical.as_bytes());
        let stored = zstd::bulk::compress(canonical.as_bytes(), 1).unwrap();
        let err = Node::decode(&stored, &digest).unwrap_err();
        // zstd refuses to inflate past the limit; the node is never parsed.
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("index node {digest}")),
            "{message}"
        );
        assert!(
            message.contains(&format!("at most {MAX_NODE_BYTES} bytes")),
            "{message}"
        );
    }

    #[test]
    fn delta_pack_lines() {
        let f = fixture();
        let lines = text(&decompress(&f.pack));
        let header_end = lines.find('\n').unwrap();
        let second_end = header_end + 1 + lines[header_end + 1..].find('\n').unwrap();

        let long_header = format!(
            "{}{}",
            lines[..header_end].replacen('{', &format!(r#"{{"pad":"{}","#, "a".repeat(70_000)), 1),
            &lines[header_end..]
        );
        let err = apply_lines(&f, long_header.as_bytes()).unwrap_err();
        assert_too_large(&err, "a line of delta pack", 64 * 1024);

        let long_record = format!(
            "{}{}",
            &lines[..second_end].replacen(
                r#""name":"a""#,
                &format!(r#""name":"{}""#, "a".repeat(70_000)),
                1
            ),
            &lines[second_end..]
        );
        let err = apply_lines(&f, long_record.as_bytes()).unwrap_err();
        assert_too_large(&err, "a line of delta pack sha256:", 64 * 1024);

        let huge_blob = format!(
            "{}\n{}\n",
            &lines[..second_end],
            "b".repeat(MAX_BLOB_BYTES + 1)
        );
        let err = apply_lines(&f, huge_blob.as_bytes()).unwrap_err();
        assert_too_large(&err, "a line of delta pack sha256:", MAX_BLOB_BYTES);
    }

    /// Regression: `puts + removes` once overflowed (a panic in debug builds, a wrap in release).
    #[test]
    fn delta_pack_counts() {
        let f = fixture();
        let lines = text(&decompress(&f.pack));
        for (puts, removes) in [
            (MAX_ENTRIES, 1),
            (u64::MAX, 1),
            (1, u64::MAX),
            (u64::MAX, u64::MAX),
        ] {
            let tampered = lines
                .replacen(r#""puts":2"#, &format!(r#""puts":{puts}"#), 1)
                .replacen(r#""removes":1"#, &format!(r#""removes":{removes}"#), 1);
            let err = apply_lines(&f, tampered.as_bytes()).unwrap_err();
            match err {
                Error::TooLarge { limit, .. } => assert_eq!(limit, MAX_ENTRIES),
                other => panic!("{puts} + {removes}: expected TooLarge, got {other}"),
            }
        }
    }
}

#[test]
fn node_decode_names_the_node_in_every_error() {
    let digest = Digest::of(b"whatever");
    for stored in [&b""[..], b"not zstd", &compress(b"{")] {
        let err = Node::decode(stored, &digest).unwrap_err();
        assert!(
            err.to_string().contains(&format!("index node {digest}")),
            "{err}"
        );
    }
}

#[test]
fn changes_the_fixture_relies_on() {
    // Guards the fixture: one add, one change, one remove.
    let f = fixture();
    let changes = diff_entries(&f.base, &f.target);
    assert!(matches!(changes[0], Change::Changed { .. }));
    assert!(matches!(changes[1], Change::Removed(_)));
    assert!(matches!(changes[2], Change::Added(_)));
}
