//! A hostile store (issue 15): whoever can write the bucket, without the signing key, serves
//! oversized, endless or trickling objects, ignores ranges, or swaps a pack for one of another
//! length. Every read is refused at its bound, the agent keeps serving what it applied, and the
//! real `cairn-agent` binary's peak RSS stays under 64 MiB at 1,000 objects whatever is served.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_agent::error::HttpProblem;
use cairn_agent::{Bound, Error, HttpSource, Source};
use cairn_env_vars::EnvVars;
use cairn_state_format::{
    MAX_BLOB_BYTES, MAX_HEAD_BYTES, MAX_SNAPSHOT_BYTES, MAX_STORED_NODE_BYTES, Packs, layout,
};
use cairn_store::Refused;

use crate::support::http::{Attack, Server};
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cairn-agent");
const OBJECTS: usize = 1_000;
const MIB: u64 = 1024 * 1024;
/// The peak RSS the issue allows an agent at 1,000 objects, whatever the store serves.
const RSS_LIMIT_KIB: u64 = 64 * 1024;

struct Setup {
    bucket: tempfile::TempDir,
    hub: Publisher,
    server: Server,
}

/// A channel of `OBJECTS` ConfigMaps (generation 1), served over HTTP.
async fn setup() -> Setup {
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    let store = cairn_store::Store::open(&url, &Default::default()).unwrap();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&objects("1")).await;
    let server = Server::start(bucket.path(), None).await;
    Setup {
        bucket,
        hub,
        server,
    }
}

fn objects(value: &str) -> String {
    (0..OBJECTS)
        .map(|i| cm(&format!("cm-{i:04}"), value))
        .collect()
}

fn refusal(err: &Error) -> Option<Refused> {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        if let Some(Error::Http {
            problem: HttpProblem::Refused(r),
            ..
        }) = e.downcast_ref::<Error>()
        {
            return Some(*r);
        }
        source = e.source();
    }
    None
}

/// Every kind of object, oversized or endless, is cut off at its kind's limit: the client
/// takes a bounded number of bytes, never the whole body.
#[tokio::test]
async fn oversized_and_endless_objects_are_cut_off_at_their_kind_limit() {
    let s = setup().await;
    let source = HttpSource::new(&s.server.url(), Duration::from_secs(5)).unwrap();
    let d = s.hub.snapshot();
    let kinds = [
        (layout::head_key("prod"), MAX_HEAD_BYTES),
        (layout::log_key("prod", 1), MAX_HEAD_BYTES),
        (layout::index_key(&d), MAX_STORED_NODE_BYTES),
        (layout::blob_key(&d), MAX_BLOB_BYTES),
        (layout::snapshot_key(&d), MAX_SNAPSHOT_BYTES),
    ];
    for (key, limit) in kinds {
        for attack in [Attack::Oversize(300 * MIB), Attack::Endless] {
            s.server.clear_attacks();
            s.server.attack(&key, attack.clone());
            let before = s.server.bytes();
            let bound = Bound::AtMost(layout::read_limit(&key));
            let err = source.get(&key, bound).await.unwrap_err();
            assert_eq!(
                refusal(&err).map(|r| matches!(r, Refused::TooLarge { .. })),
                Some(true),
                "{key} {attack:?}: {err}"
            );
            assert!(
                err.to_string().contains(&format!("limit of {limit} bytes")),
                "{err}"
            );
            assert!(err.to_string().contains(&key), "the key is named: {err}");
            // What the client pulled is the limit plus what sits in buffers, not the body.
            let taken = s.server.bytes() - before;
            assert!(
                taken < limit as u64 + 16 * MIB,
                "{key} {attack:?}: took {taken} bytes"
            );
        }
    }
}

/// A pack is read with the exact length the signed head gives: asked for with a range, cut off
/// when the server ignores the range and sends more, refused when shorter.
#[tokio::test]
async fn a_pack_of_another_length_than_declared_is_refused_with_or_without_ranges() {
    let s = setup().await;
    let source = HttpSource::new(&s.server.url(), Duration::from_secs(5)).unwrap();
    let shard = s.hub.snapshot_pack.as_ref().unwrap().shards[0];
    let key = layout::pack_key(&shard.digest);
    let exact = Bound::Exactly(shard.bytes);
    let whole = source.get(&key, exact).await.unwrap().unwrap();
    assert_eq!(whole.len() as u64, shard.bytes);
    assert!(
        s.server.ranged() >= 1,
        "a read of known length asks for a range"
    );

    let longer = Bytes::from(vec![b'x'; (shard.bytes + MIB) as usize]);
    let shorter = Bytes::from(vec![b'x'; (shard.bytes / 2) as usize]);
    for ignore_ranges in [false, true] {
        s.server.ignore_ranges(ignore_ranges);
        s.server.attack(&key, Attack::Replace(longer.clone()));
        let err = source.get(&key, exact).await.unwrap_err();
        assert!(
            matches!(refusal(&err), Some(Refused::Longer { declared, .. }) if declared == shard.bytes),
            "ignore ranges {ignore_ranges}: {err}"
        );
        s.server.attack(&key, Attack::Replace(shorter.clone()));
        let err = source.get(&key, exact).await.unwrap_err();
        assert!(
            matches!(refusal(&err), Some(Refused::Shorter { .. })),
            "ignore ranges {ignore_ranges}: {err}"
        );
        s.server.clear_attacks();
    }
    s.server.attack(&key, Attack::Endless);
    let err = source.get(&key, exact).await.unwrap_err();
    assert!(
        matches!(refusal(&err), Some(Refused::Longer { .. })),
        "{err}"
    );
}

/// A server that trickles (a byte now and then, often enough that no single read times out) is
/// abandoned at the whole request's deadline, which is a transient failure (a slow network looks
/// the same), not a verdict on the object.
#[tokio::test]
async fn a_trickling_server_meets_the_whole_request_deadline() {
    let s = setup().await;
    let timeout = Duration::from_millis(300);
    let source = HttpSource::new(&s.server.url(), timeout).unwrap();
    let key = layout::head_key("prod");
    s.server
        .attack(&key, Attack::Trickle(Duration::from_millis(100)));
    let bound = Bound::AtMost(layout::read_limit(&key));
    let started = Instant::now();
    let err = source.get(&key, bound).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(refusal(&err), Some(Refused::Deadline { .. })),
        "{err}"
    );
    assert!(err.is_transient(), "{err}");
    // The deadline is the bound's: counted in requests it is one, cut off, not retried here.
    assert_eq!(s.server.requests(), 1);
    let deadline = bound.deadline(timeout);
    assert!(
        took >= deadline && took < deadline * 3,
        "abandoned after {took:?}"
    );
}

/// The real binary, under `/usr/bin/time`: `--once` against the server, returning its exit
/// code and peak RSS in KiB.
fn run_agent(s: &Setup, dirs: &Dirs) -> (Option<i32>, u64, String) {
    let status_store = format!("file://{}", dirs.state.with_file_name("status").display());
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kib=%M", BIN, "run", "--once"])
        .env(EnvVars::CAIRN_STORE, s.server.url())
        .env(EnvVars::CAIRN_STATUS_STORE, status_store)
        .env(EnvVars::CAIRN_CHANNEL, "prod")
        .env(EnvVars::CAIRN_TRUST, key().public().to_string())
        .env(EnvVars::CAIRN_CLUSTER_ID, "cluster-1")
        .env(EnvVars::CAIRN_TARGET, format!("dir:{}", dirs.out.display()))
        .env(EnvVars::CAIRN_STATE_DIR, &dirs.state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/time runs the agent (GNU time measures its peak RSS)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {stderr}"));
    // GNU time reports the child's exit code as its own.
    (out.status.code(), rss, stderr)
}

/// The measurements, as a test: a 300 MB head, a 500 MB file in place of a delta pack
/// and an endless head cost the real agent no more memory than a normal update; each is
/// refused, and the applied state stays. A new agent's cold start is counted through the front.
// The server runs on the test's runtime while the binary is waited for on a blocking call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_agent_stays_small_and_keeps_its_state_against_a_hostile_store() {
    let mut s = setup().await;
    let dirs = dirs();
    let (code, rss, stderr) = run_agent(&s, &dirs);
    assert_eq!(code, Some(0), "{stderr}");
    eprintln!(
        "cold start: peak RSS {rss} KiB, {} requests, {} bytes",
        s.server.requests(),
        s.server.bytes()
    );
    assert!(rss < RSS_LIMIT_KIB, "cold start peak RSS {rss} KiB");
    // Cold start: the head and the one shard of the snapshot pack, nothing else.
    let pack = s.hub.snapshot_pack.clone().unwrap();
    assert_eq!(s.server.requests(), 1 + pack.shards.len() as u64);
    let head_bytes = std::fs::metadata(s.bucket.path().join(layout::head_key("prod")))
        .unwrap()
        .len();
    assert_eq!(s.server.bytes(), head_bytes + pack.bytes());
    let applied = read(&cm_path(&dirs, "cm-0000")).unwrap();

    s.hub.publish(&objects("2")).await;
    let packs: Packs = s.hub.last_packs.clone().unwrap();
    let delta = packs.delta_from(&s.hub.previous()).unwrap();
    let attacks = [
        (layout::head_key("prod"), Attack::Oversize(300 * MIB)),
        (layout::head_key("prod"), Attack::Endless),
        (layout::pack_key(&delta.digest), Attack::Oversize(500 * MIB)),
    ];
    for (key, attack) in attacks {
        s.server.clear_attacks();
        s.server.attack(&key, attack.clone());
        // The pack: the agent falls back to walking the index, so the index and blobs are
        // made hostile too; the walk's reads are bounded the same way.
        if key.starts_with("packs/") {
            s.server.attack("index/", Attack::Endless);
        }
        let (code, rss, stderr) = run_agent(&s, &dirs);
        eprintln!("{key} {attack:?}: exit {code:?}, peak RSS {rss} KiB");
        assert_ne!(code, Some(0), "{key} {attack:?}: refused\n{stderr}");
        assert!(rss < RSS_LIMIT_KIB, "{key} {attack:?}: peak RSS {rss} KiB");
        assert_eq!(
            read(&cm_path(&dirs, "cm-0000")).unwrap(),
            applied,
            "{key} {attack:?}"
        );
        assert!(
            stderr.contains(&key),
            "{key} {attack:?}: the key is named\n{stderr}"
        );
    }
    s.server.clear_attacks();
    let (code, rss, stderr) = run_agent(&s, &dirs);
    assert_eq!(code, Some(0), "{stderr}");
    eprintln!("update after the attacks: peak RSS {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "update peak RSS {rss} KiB");
    assert!(read(&cm_path(&dirs, "cm-0000")).unwrap().contains("v: '2'"));
}
