//! The changes between two stored snapshots as people read them: each entry added, changed or
//! removed, with a unified diff of a changed object's YAML. Only the index paths that differ are
//! fetched, and the blobs of changed objects.

use cairn_state_format::{Change, Digest};
use cairn_store::Store;
use serde::Serialize;
use similar::TextDiff;

use super::fetch_blobs;
use super::nodes::RemoteNodes;
use crate::error::Result;

/// One changed entry between two snapshots.
#[derive(Serialize, Debug, Clone)]
pub struct Row {
    /// `added`, `changed` or `removed`.
    pub change: &'static str,
    /// The object's identity.
    pub object: String,
    /// A unified diff of its YAML, for a changed object (unless only a summary was asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// The entries that differ from snapshot `a` to snapshot `b` (each with the label its diff
/// header shows), fetching only the index paths that differ and, unless `summary`, the blobs
/// of changed objects.
pub async fn compare(
    store: &Store,
    (a, from): (&Digest, &str),
    (b, to): (&Digest, &str),
    summary: bool,
) -> Result<Vec<Row>> {
    let mut nodes = RemoteNodes::new(store);
    let (ra, rb) = (
        nodes.snapshot(a).await?.index,
        nodes.snapshot(b).await?.index,
    );
    let changes = nodes.diff(&ra, &rb).await?;
    let blobs = if summary {
        Default::default()
    } else {
        // Collected before the await: a borrowing closure held across it would keep the
        // future from being Send (the web view runs this on a spawned task).
        let wanted: Vec<Digest> = changes
            .iter()
            .flat_map(|c| match c {
                Change::Changed { old, new } => vec![old.blob, new.blob],
                _ => Vec::new(),
            })
            .collect();
        fetch_blobs(store, wanted).await?
    };
    let rows: Vec<Row> = changes
        .iter()
        .map(|c| match c {
            Change::Added(e) => Row {
                change: "added",
                object: e.id.to_string(),
                diff: None,
            },
            Change::Removed(e) => Row {
                change: "removed",
                object: e.id.to_string(),
                diff: None,
            },
            Change::Changed { old, new } => Row {
                change: "changed",
                object: new.id.to_string(),
                diff: (!summary).then(|| {
                    let (x, y) = (yaml(&blobs[&old.blob]), yaml(&blobs[&new.blob]));
                    TextDiff::from_lines(&x, &y)
                        .unified_diff()
                        .header(&format!("{from}/{}", old.id), &format!("{to}/{}", new.id))
                        .to_string()
                }),
            },
        })
        .collect();
    Ok(rows)
}

/// A blob as YAML, the form people read manifests in.
fn yaml(canonical: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(canonical)
        .ok()
        .and_then(|v| serde_yaml_ng::to_string(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(canonical).into_owned())
}
