//! `cairn diff`.

use serde::Serialize;
use similar::TextDiff;

use cairn_env_vars::EnvVars;
use cairn_state_format::{Change, Digest};

use super::common::{open_store, print_json, resolve};
use crate::cli::{Output, StoreArgs};
use crate::error::Result;
use crate::remote::{RemoteNodes, fetch_blobs};
use cairn_store::Store;

/// Flags of `cairn diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel (needed for generation numbers).
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: Option<String>,
    /// The older side: generation number or snapshot digest.
    pub from: String,
    /// The newer side: generation number or snapshot digest.
    pub to: String,
    /// List entries only, without the object diffs.
    #[arg(long)]
    pub summary: bool,
}

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

/// Compares two generations or snapshots.
pub async fn run(args: &DiffArgs) -> Result<()> {
    let (store_args, channel) = (&args.store, args.channel.as_deref());
    let (from, to, summary) = (args.from.as_str(), args.to.as_str(), args.summary);
    let store = open_store(store_args)?;
    let (a, _) = resolve(&store, channel, Some(from)).await?;
    let (b, _) = resolve(&store, channel, Some(to)).await?;
    let rows = compare(&store, (&a, from), (&b, to), summary).await?;
    if store_args.output == Output::Json {
        return print_json(&rows);
    }
    for row in &rows {
        let mark = match row.change {
            "added" => '+',
            "removed" => '-',
            _ => '~',
        };
        println!("{mark} {}", row.object);
    }
    for row in rows.iter().filter_map(|r| r.diff.as_ref()) {
        print!("\n{row}");
    }
    if rows.is_empty() {
        println!("no differences");
    }
    Ok(())
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
