//! `cairn diff`.

use cairn_env_vars::EnvVars;

use super::args::{Output, StoreArgs};
use super::common::{open_store, print_json, resolve};
use crate::error::Result;
use crate::objects::compare::compare;

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
