//! Status reads at fleet scale, counted: 100,000 simulated status records in a local store, and
//! 2,000 in moto (counted on the wire, so every listing page counts; moto answers about 80 GETs a
//! second and lists in time proportional to the bucket, so 100,000 there would take most of an
//! hour: BENCHMARKS.md has 100,000 on Garage). The first `cairn status` reads every record, the
//! second only lists, and one after 1 % of the clusters reported fetches just those.
//!
//! Every look also reads the channel's newest generation: a GET of the head and, the channel
//! having none here, a listing of its log.

use cairn_benches::status_scale::{Scale, Target, measure};
use cairn_env_vars::EnvVars;

fn check(what: &str, s: &Scale, listing: u64, head: u64) {
    let n = s.clusters as u64;
    let (clusters, changed) = (s.clusters, s.changed);
    assert_eq!(
        s.first.clusters, clusters,
        "{what}: every cluster summarized"
    );
    assert_eq!(
        s.first.gets,
        n + 1,
        "{what}: the first look reads every record"
    );
    assert_eq!(s.first.requests, listing + n + head, "{what}: first look");
    assert_eq!(
        s.unchanged.gets, 1,
        "{what}: nothing changed, nothing fetched"
    );
    assert_eq!(s.unchanged.requests, listing + head, "{what}: second look");
    assert_eq!(
        s.after_change.fetched, changed,
        "{what}: the changed records"
    );
    assert_eq!(
        s.after_change.requests,
        listing + changed as u64 + head,
        "{what}: a look after 1 % reported"
    );
    assert_eq!(s.after_change.clusters, clusters);
    eprintln!(
        "{what}: {} / {} / {} requests (first / unchanged / after 1 %)",
        s.first.requests, s.unchanged.requests, s.after_change.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_costs_a_listing_plus_what_changed_in_a_local_store() {
    let tmp = tempfile::tempdir().unwrap();
    let target = Target::dir(&tmp.path().join("store")).unwrap();
    let s = measure(&target, (100_000, 1_000), &tmp.path().join("cache"), false)
        .await
        .unwrap();
    // A directory is listed in one call however long; the head GET and the log listing.
    check("local directory", &s, 1, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_costs_a_listing_plus_what_changed_in_moto() {
    let Ok(url) = std::env::var(EnvVars::CAIRN_TEST_S3_MOTO) else {
        eprintln!("skipped moto: CAIRN_TEST_S3_MOTO is not set (run the suite with scripts/test)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let prefixed = format!(
        "{}/t{:016x}?{query}",
        base.trim_end_matches('/'),
        rand::random::<u64>()
    );
    let target = Target::s3(&prefixed).await.unwrap();
    let s = measure(&target, (2_000, 20), &tmp.path().join("cache"), false)
        .await
        .unwrap();
    // S3 lists 1,000 keys a page: 2 pages; then the head GET and one page of the log listing.
    check("moto", &s, 2, 2);
}
