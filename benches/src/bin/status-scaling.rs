//! `status-scaling`: what `cairn status` costs at fleet scale, with and without the status cache,
//! on a local directory and (with `--s3 URL`) an S3 server. See `cairn_benches::status_scale`.

use std::time::Duration;

use cairn_benches::status_scale::{Scale, Target, measure};
use clap::Parser;

/// Measures `cairn status` at the given fleet sizes.
#[derive(Parser, Debug)]
struct Args {
    /// Fleet sizes (status records).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    clusters: Vec<usize>,
    /// Share of the clusters that report between the last two looks, in percent.
    #[arg(long, default_value_t = 1.0)]
    changed_percent: f64,
    /// Also measure this S3 store (e.g. moto from scripts/test-servers.sh); a fresh prefix is used.
    #[arg(long)]
    s3: Option<String>,
    /// Where the store directories go (a tmpfs keeps the disk out of the figures).
    #[arg(long, default_value = "/dev/shm/cairn-status-scaling")]
    work: std::path::PathBuf,
    /// Write the figures as JSON here too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut results = Vec::new();
    for &clusters in &args.clusters {
        let changed = ((clusters as f64) * args.changed_percent / 100.0).round() as usize;
        let run = args.work.join(format!("n{clusters}"));
        let _ = std::fs::remove_dir_all(&run);
        let target = Target::dir(&run.join("store"))?;
        let scale = measure(&target, (clusters, changed), &run.join("cache"), true).await?;
        print("local directory", &scale);
        results.push(("dir", scale));
        if let Some(url) = &args.s3 {
            let (base, query) = url.split_once('?').unwrap_or((url, ""));
            let prefixed = format!(
                "{}/status-{clusters}-{:08x}?{query}",
                base.trim_end_matches('/'),
                rand::random::<u32>()
            );
            let target = Target::s3(&prefixed).await?;
            let scale = measure(&target, (clusters, changed), &run.join("cache-s3"), true).await?;
            print("S3", &scale);
            results.push(("s3", scale));
        }
    }
    if let Some(path) = &args.json {
        let rows: Vec<_> = results
            .iter()
            .map(|(store, s)| serde_json::json!({"store": store, "scale": s}))
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&rows)?)?;
    }
    Ok(())
}

fn print(store: &str, s: &Scale) {
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{store}, {} clusters, {} changed before the last look:",
        s.clusters, s.changed
    );
    let looks = [
        ("no cache (before)", s.uncached),
        ("first, empty cache", Some(s.first)),
        ("second, unchanged", Some(s.unchanged)),
        ("after the change", Some(s.after_change)),
    ];
    for (name, look) in looks.iter().filter_map(|(n, l)| Some((n, (*l)?))) {
        println!(
            "  {name:<20} {:>7} requests ({:>7} GETs), {:>10} bytes answered, {:>7} fetched, {:>7} clusters, {}",
            look.requests,
            look.gets,
            look.bytes_out,
            look.fetched,
            look.clusters,
            ms(look.wall)
        );
    }
    println!(
        "  cache file: {:.1} MiB; one record: {} bytes",
        s.cache_bytes as f64 / 1048576.0,
        s.record_bytes
    );
}
