//! Saving and loading applied state: round trips, the journal, crashes, damage, and the bytes
//! earlier agents wrote.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use cairn_state_format::{EntrySet, diff_entries, parse_documents};

use super::*;
use crate::fetch::Shared;

fn entries(names: &[&str], value: &str) -> EntrySet {
    let yaml: String = names
        .iter()
        .map(|n| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, namespace: x}}\ndata: {{v: '{value}'}}\n"
            )
        })
        .collect();
    parse_documents("a.yaml", &yaml)
        .unwrap()
        .iter()
        .map(|r| (r.id.clone(), r.entry()))
        .collect()
}

fn applied(generation: u64, entries: EntrySet) -> Applied {
    Applied::new(
        generation,
        Bytes::from(format!("{{\"head\":{generation}}}")),
        Some("\"e\"".into()),
        entries,
    )
}

/// Saves `next` as the step after `previous`.
async fn step(state: &StateDir, previous: &Applied, next: &Applied) {
    let changes = diff_entries(previous.entries(), next.entries());
    let step = Step::From {
        from: &previous.head.snapshot,
        changes: &changes,
    };
    state.save("prod", next, step).await.unwrap();
}

#[tokio::test]
async fn round_trips_and_detects_damage() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    assert_eq!(state.load("prod").await.unwrap(), None);
    let first = applied(3, entries(&["a"], "1"));
    state.save("prod", &first, Step::Full).await.unwrap();
    assert_eq!(state.load("prod").await.unwrap(), Some(first.clone()));
    assert_eq!(state.channels().await, ["prod"]);

    let path = dir.path().join("channels/prod/state.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"generation\":3", "\"generation\":3,\"x\":1");
    std::fs::write(&path, text).unwrap();
    let err = state.load("prod").await.unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
    state.remove("prod").await.unwrap();
    assert!(state.channels().await.is_empty());
}

#[tokio::test]
async fn changes_are_journaled_and_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let names = ["a", "b", "c", "d"];
    let g1 = applied(1, entries(&names, "1"));
    state.save("prod", &g1, Step::Full).await.unwrap();
    let base = std::fs::read(dir.path().join("channels/prod/state.json")).unwrap();
    let mut g2_entries = entries(&names, "1");
    g2_entries.extend(entries(&["b"], "2"));
    g2_entries.remove(&entries(&["d"], "1").into_keys().next().unwrap());
    let g2 = applied(2, g2_entries);
    step(&state, &g1, &g2).await;
    // The base is untouched; the change went to the journal.
    assert_eq!(
        std::fs::read(dir.path().join("channels/prod/state.json")).unwrap(),
        base
    );
    let journal = dir.path().join("channels/prod/state.json.journal");
    assert!(journal.is_file());
    // A restart (a fresh StateDir: nothing shared in memory) resumes at generation 2.
    let loaded = StateDir::new(dir.path())
        .load("prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded, g2);
    assert_eq!(loaded.entries(), g2.entries());
}

#[tokio::test]
async fn a_save_cut_short_leaves_the_state_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let g1 = applied(1, entries(&["a", "b"], "1"));
    state.save("prod", &g1, Step::Full).await.unwrap();
    let g2 = applied(2, entries(&["a", "b"], "2"));
    step(&state, &g1, &g2).await;
    let journal = dir.path().join("channels/prod/state.json.journal");
    let full = std::fs::read(&journal).unwrap();
    // A crash half-way through appending generation 2's line.
    std::fs::write(&journal, &full[..full.len() / 2]).unwrap();
    let loaded = StateDir::new(dir.path())
        .load("prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded, g1);
    // The torn line was cut off: the next save appends cleanly.
    step(&state, &g1, &g2).await;
    assert_eq!(
        StateDir::new(dir.path()).load("prod").await.unwrap(),
        Some(g2.clone())
    );

    // A crash while rewriting the base leaves only a temporary file: the old base holds.
    let tmp = crate::fsutil::tmp_path(&dir.path().join("channels/prod/state.json"));
    std::fs::write(&tmp, b"{\"format\":1,\"chan").unwrap();
    assert_eq!(
        StateDir::new(dir.path()).load("prod").await.unwrap(),
        Some(g2)
    );
}

#[tokio::test]
async fn a_damaged_journal_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let g1 = applied(1, entries(&["a", "b"], "1"));
    state.save("prod", &g1, Step::Full).await.unwrap();
    let g2 = applied(2, entries(&["a", "b"], "2"));
    step(&state, &g1, &g2).await;
    let journal = dir.path().join("channels/prod/state.json.journal");
    // A changed blob digest: the entries no longer rebuild to the recorded snapshot.
    let text = std::fs::read_to_string(&journal).unwrap();
    let blob = g2.entries().values().next().unwrap().blob.to_string();
    let other = g1.entries().values().next().unwrap().blob.to_string();
    std::fs::write(&journal, text.replacen(&blob, &other, 1)).unwrap();
    let err = StateDir::new(dir.path()).load("prod").await.unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    // A line that does not decode.
    std::fs::write(&journal, "{\"generation\":2}\n").unwrap();
    let err = StateDir::new(dir.path()).load("prod").await.unwrap_err();
    assert!(err.to_string().contains("journal line 1"), "{err}");
}

#[tokio::test]
async fn the_journal_is_folded_into_the_base_once_it_outgrows_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::new(dir.path());
    let names: Vec<String> = (0..40).map(|i| format!("cm-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut previous = applied(1, entries(&names, "0"));
    state.save("prod", &previous, Step::Full).await.unwrap();
    let journal = dir.path().join("channels/prod/state.json.journal");
    let mut compacted = false;
    for generation in 2..40 {
        let next = applied(generation, entries(&names, &generation.to_string()));
        step(&state, &previous, &next).await;
        compacted |= !journal.exists();
        previous = next;
    }
    assert!(compacted, "the journal was never folded into the base");
    assert_eq!(
        StateDir::new(dir.path()).load("prod").await.unwrap(),
        Some(previous)
    );
}

impl StateDir {
    /// The state directory at `root` (created on first write).
    pub(crate) fn new(root: &Path) -> StateDir {
        StateDir::with_backend(root, None, Arc::new(Shared::new()))
    }
}

/// A state directory as this format's first agents wrote it (generation 1 in the base file,
/// generations 2 and 3 in the journal, the head record at 3; heads signed with an epoch). Agents
/// upgrade in place: these bytes must keep loading.
const FORMAT_1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-format-1");

#[tokio::test]
async fn state_written_by_earlier_agents_loads() {
    let dir = tempfile::tempdir().unwrap();
    let channel = dir.path().join("channels/prod");
    std::fs::create_dir_all(&channel).unwrap();
    for file in ["state.json", "state.json.journal", "head.json"] {
        let from = Path::new(FORMAT_1).join("channels/prod").join(file);
        std::fs::copy(from, channel.join(file)).unwrap();
    }
    let state = StateDir::new(dir.path());
    let snapshot: cairn_state_format::Digest =
        "sha256:c150a5ef8adc7b6cd10591ebf825287b8b765174c9fae29a77bf66bea80eeec0"
            .parse()
            .unwrap();
    let epoch = "0123456789abcdef0123456789abcdef".parse().ok();

    let head = state.load_head("prod").await.unwrap();
    assert_eq!((head.generation, head.snapshot), (3, snapshot));
    assert_eq!(head.etag.as_deref(), Some("\"etag-3\""));
    assert_eq!(head.signed.epoch(), epoch);

    let loaded = state.load("prod").await.unwrap().unwrap();
    assert_eq!(loaded.head, head);
    assert_eq!(loaded.entries().len(), 3);

    // The base file alone (as a backend keeps it) is generation 1, and encodes back to the
    // very bytes it was read from.
    let base = std::fs::read(channel.join("state.json")).unwrap();
    let first = state.decode_recorded("prod", &base).unwrap();
    assert_eq!(first.head.generation, 1);
    assert_eq!(first.head.signed.epoch(), epoch);
    assert_eq!(super::file::encode("prod", &first).unwrap(), base);
    let record = std::fs::read(channel.join("head.json")).unwrap();
    assert_eq!(super::file::encode_head("prod", &head).unwrap(), record);
}
