//! Keeps the publish scaling benchmark from rotting: its core runs at a tiny size against the
//! debug `cairn` binary, and the test checks what was counted, never how long anything took.

use std::collections::BTreeSet;

use cairn_test_support::binary;

use cairn_benches::manifests::{manifest, spread};
use cairn_benches::scaling::{Config, run, table};

#[test]
fn publish_scaling_counts_what_cairn_and_git_write() {
    let (m, changes) = (50, 2);
    let report = run(&Config {
        cairn: binary("cairn"),
        sizes: vec![m],
        changes,
        repeat: 1,
        ..Config::default()
    })
    .unwrap();

    let size = &report.sizes[0];
    assert_eq!(size.objects, m);
    assert_eq!(size.samples.len(), 1);
    let sample = &size.samples[0];
    let published = &sample.published;
    assert_eq!(published.entries, m as u64);
    assert_eq!(published.changes, changes as u64);
    assert!(
        published.incremental,
        "the publish cache described the head: {published:?}"
    );
    assert_eq!(
        published.blobs_uploaded, changes as u64,
        "only the changed blobs"
    );
    assert_eq!(
        published.deltas_uploaded, 1,
        "one delta pack, from generation 1"
    );
    // 50 entries: a root branch over leaves, so each change rewrites its leaf and the root.
    assert!(
        (2..=1 + changes as u64).contains(&published.nodes_uploaded),
        "{published:?}"
    );
    assert!(published.source_map_bytes > 0, "a source map was written");
    assert_eq!(
        sample.cairn_objects,
        published.blobs_uploaded + published.nodes_uploaded + published.deltas_uploaded + 4,
        "blobs + nodes + delta + snapshot + log + head + source map"
    );
    // In the store every object is a new file except the head, which is rewritten in place.
    assert_eq!(sample.cairn_written.created, sample.cairn_objects - 1);
    assert_eq!(sample.cairn_written.rewritten, 1);
    assert!(sample.cairn_written.bytes > published.bytes_uploaded);

    // Git committed the same files: their blobs, the trees above them and one commit.
    assert_eq!(sample.git_files, changes as u64);
    let dirs: BTreeSet<String> = spread(m, changes)
        .into_iter()
        .map(|i| manifest(i, 1).path.rsplit_once('/').unwrap().0.to_owned())
        .collect();
    assert_eq!(
        sample.git_written.created,
        changes as u64 + dirs.len() as u64 + 1 + 1,
        "blobs + directory trees + root tree + commit"
    );

    // From fresh checkouts: the same change again, with the cache restored and with nothing.
    let fresh = &sample.fresh;
    for published in [&fresh.restored_published, &fresh.nothing_published] {
        assert_eq!(published.changes, changes as u64);
        // One object per file: every file found one way, only the changed ones parsed (the
        // others by Git's index, or by their bytes when the clone left them racily clean).
        let files = &published.files;
        assert_eq!(files.parsed, changes as u64, "{files:?}");
        assert_eq!(
            files.unchanged_by_stamp
                + files.unchanged_by_git_index
                + files.unchanged_by_content
                + files.parsed,
            m as u64,
            "{files:?}"
        );
        assert!(
            published.incremental,
            "the cache or the source map described the head: {published:?}"
        );
    }
    assert!(size.full_source_map_bytes > 0);
    assert_eq!(
        size.source_maps_stored.created, 4,
        "one map per generation: the first and three measured"
    );

    assert_eq!(size.median.cairn_objects, sample.cairn_objects);
    let markdown = table::markdown(&report);
    assert!(markdown.contains("\n| 50 |"), "{markdown}");
}
