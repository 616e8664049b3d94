//! `fleet-sizing`: the sizing model of `cairn_benches::sizing` as a Markdown table, at 1,000,
//! 100,000 and 1,000,000 clusters and poll intervals of 30 s and 5 min (or what the flags say).

use cairn_benches::sizing::{Inputs, model};
use clap::Parser;

/// Prints the sizing model.
#[derive(Parser, Debug)]
struct Args {
    /// Fleet sizes.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    clusters: Vec<f64>,
    /// Poll intervals, seconds.
    #[arg(long, value_delimiter = ',', default_value = "30,300")]
    intervals: Vec<f64>,
    /// The model's inputs.
    #[command(flatten)]
    inputs: Inputs,
}

fn main() {
    let args = Args::parse();
    println!(
        "| clusters | T | head GET/s | status PUT/s | pack GET/s | hub reads/s | origin req/s, no CDN / CDN | GB/month out, bucket / CDN | $/month, no CDN / CDN | first limit |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for &clusters in &args.clusters {
        for &interval in &args.intervals {
            let r = model(&args.inputs, clusters, interval);
            println!(
                "| {} | {} s | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} / {:.0} | {:.1} / {:.1} | {:.0} / {:.0} | {} |",
                r.clusters,
                r.interval_s,
                r.head_gets,
                r.status_puts,
                r.pack_gets,
                r.hub_reads,
                r.origin_no_cdn,
                r.origin_cdn,
                r.gb_no_cdn,
                r.gb_cdn,
                r.bill_no_cdn,
                r.bill_cdn,
                r.first_limit
            );
        }
    }
}
