//! A sizing model of a cairn fleet on one S3 bucket, with and without a CDN in front: origin
//! requests per second, bytes per month and the monthly bill, from per-request figures measured
//! by the fleet and status benchmarks (BENCHMARKS.md) and public list prices, all given as
//! [`Inputs`] so a reader can substitute their own.

use serde::Serialize;

/// Seconds in a 30-day month.
const MONTH: f64 = 30.0 * 86_400.0;
const GB: f64 = 1e9;

/// What the model is built from. Defaults: the measured figures and prices BENCHMARKS.md names.
#[derive(Clone, Debug, Serialize, clap::Args)]
pub struct Inputs {
    /// Bytes the bucket answers an idle poll with (a 304 to a SigV4 GET; Garage run).
    #[arg(long, default_value_t = 133.0)]
    pub poll_bytes_out: f64,
    /// Requests per agent per published change (head 200, then the delta pack), at the origin
    /// without a CDN.
    #[arg(long, default_value_t = 2.2)]
    pub change_requests: f64,
    /// Bytes per agent for a one-object change (head and pack answers).
    #[arg(long, default_value_t = 1486.0)]
    pub change_bytes_out: f64,
    /// Publishes per day.
    #[arg(long, default_value_t = 20.0)]
    pub publishes_per_day: f64,
    /// Seconds between an agent's status writes when nothing changes (the agent's --heartbeat).
    #[arg(long, default_value_t = 300.0)]
    pub heartbeat_s: f64,
    /// Bytes of one status record.
    #[arg(long, default_value_t = 700.0)]
    pub record_bytes: f64,
    /// Seconds between looks of one `cairn ui` (or `status --watch`) left open all month.
    #[arg(long, default_value_t = 60.0)]
    pub look_every_s: f64,
    /// Bytes of listing answer per status record (S3 ListObjectsV2 XML, measured on Garage:
    /// 24.56 MB for 100,000 records).
    #[arg(long, default_value_t = 245.0)]
    pub list_bytes_per_key: f64,
    /// S3 Standard GET price, $ per 1,000 requests.
    #[arg(long, default_value_t = 0.0004)]
    pub s3_get: f64,
    /// S3 Standard PUT and LIST price, $ per 1,000 requests.
    #[arg(long, default_value_t = 0.005)]
    pub s3_put: f64,
    /// S3 data transfer out to the internet, $ per GB (first 10 TB).
    #[arg(long, default_value_t = 0.09)]
    pub s3_egress: f64,
    /// CDN (CloudFront) HTTPS requests, $ per 10,000.
    #[arg(long, default_value_t = 0.01)]
    pub cdn_request: f64,
    /// CDN (CloudFront) data transfer out, $ per GB (first 10 TB).
    #[arg(long, default_value_t = 0.085)]
    pub cdn_egress: f64,
    /// S3's documented GET rate per prefix (a single key cannot be split further).
    #[arg(long, default_value_t = 5500.0)]
    pub s3_get_limit: f64,
    /// S3's documented PUT rate per prefix (before S3 splits a busy prefix).
    #[arg(long, default_value_t = 3500.0)]
    pub s3_put_limit: f64,
}

/// One row of the model.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Clusters.
    pub clusters: f64,
    /// Poll interval, seconds.
    pub interval_s: f64,
    /// Head GETs per second (every one reaches the bucket: heads are `no-cache`).
    pub head_gets: f64,
    /// Status PUTs per second.
    pub status_puts: f64,
    /// Delta pack GETs per second, averaged (without a CDN).
    pub pack_gets: f64,
    /// The hub's status reads per second (one look every `look_every_s`): LIST pages and GETs.
    pub hub_reads: f64,
    /// Origin requests per second without a CDN.
    pub origin_no_cdn: f64,
    /// Origin requests per second with a CDN (packs served by the edge).
    pub origin_cdn: f64,
    /// GB a month out of the bucket without a CDN.
    pub gb_no_cdn: f64,
    /// GB a month out of the CDN (the bucket sends the hub's reads only).
    pub gb_cdn: f64,
    /// Dollars a month without a CDN.
    pub bill_no_cdn: f64,
    /// Dollars a month with a CDN.
    pub bill_cdn: f64,
    /// What reaches its limit first, and at what share of it.
    pub first_limit: String,
}

/// The model at `clusters` and poll interval `interval_s`.
pub fn model(i: &Inputs, clusters: f64, interval_s: f64) -> Row {
    let head_gets = clusters / interval_s;
    let status_puts = clusters / i.heartbeat_s;
    let changes_per_s = i.publishes_per_day / 86_400.0;
    // The head answer of a change replaces a 304, so a change adds its other requests only.
    let pack_gets = clusters * changes_per_s * (i.change_requests - 1.0);
    // A look lists every record (1,000 per page) and fetches those rewritten since the last
    // look: every record is rewritten at least once a heartbeat.
    let changed_share = (i.look_every_s / i.heartbeat_s).min(1.0);
    let hub_lists = (clusters / 1000.0).ceil() / i.look_every_s;
    let hub_gets = clusters * changed_share / i.look_every_s;
    let hub_reads = hub_lists + hub_gets;
    let origin_no_cdn = head_gets + status_puts + pack_gets + hub_reads;
    let origin_cdn = head_gets + status_puts + hub_reads;
    let agent_bytes =
        (head_gets * i.poll_bytes_out + clusters * changes_per_s * i.change_bytes_out) * MONTH;
    let hub_bytes = (hub_lists * 1000.0 * i.list_bytes_per_key + hub_gets * i.record_bytes) * MONTH;
    let per_month = |rate: f64| rate * MONTH / 1000.0;
    let hub_bill = per_month(hub_lists) * i.s3_put + per_month(hub_gets) * i.s3_get;
    let puts_bill = per_month(status_puts) * i.s3_put;
    let bill_no_cdn = per_month(head_gets + pack_gets) * i.s3_get
        + puts_bill
        + hub_bill
        + (agent_bytes + hub_bytes) / GB * i.s3_egress;
    let cdn_requests = (head_gets + pack_gets) * MONTH / 10_000.0 * i.cdn_request;
    let bill_cdn = cdn_requests
        + agent_bytes / GB * i.cdn_egress
        + per_month(head_gets) * i.s3_get
        + puts_bill
        + hub_bill
        + hub_bytes / GB * i.s3_egress;
    let head_share = head_gets / i.s3_get_limit;
    let put_share = status_puts / i.s3_put_limit;
    let first_limit = if head_share >= put_share {
        format!(
            "head GETs: {:.0} % of one key's {} GET/s",
            head_share * 100.0,
            i.s3_get_limit
        )
    } else {
        format!(
            "status PUTs: {:.0} % of one prefix's {} PUT/s",
            put_share * 100.0,
            i.s3_put_limit
        )
    };
    Row {
        clusters,
        interval_s,
        head_gets,
        status_puts,
        pack_gets,
        hub_reads,
        origin_no_cdn,
        origin_cdn,
        gb_no_cdn: (agent_bytes + hub_bytes) / GB,
        gb_cdn: agent_bytes / GB,
        bill_no_cdn,
        bill_cdn,
        first_limit,
    }
}
