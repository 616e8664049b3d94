//! Keeps the fleet load tester from rotting: 20 agents, 50 objects, T = 1 s, one 1-object change
//! (and the rest of the scenarios at that size) and the Git baseline with 3 clients, against the
//! debug binaries. It checks what was counted, never how long anything took.

use cairn_env_vars::EnvVars;

use cairn_test_support::binary;

use cairn_benches::fleet::{Config, TargetKind, markdown, run};

/// 20 agents, 50 objects, T = 1 s through the front, with 3 Git clients, under `work`.
fn small(work: &tempfile::TempDir) -> Config {
    let (cairn, cairn_agent) = (binary("cairn"), binary("cairn-agent"));
    Config {
        agents: 20,
        objects: 50,
        interval: 1.0,
        jitter: 0.2,
        idle_intervals: 3,
        cold_agents: 3,
        git_clients: 3,
        rss_objects: 20,
        work: work.path().join("fleet"),
        cairn,
        cairn_agent,
        quiet: true,
        target: TargetKind::Dir,
        store: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_and_the_git_baseline_count_correctly() {
    let work = tempfile::tempdir().unwrap();
    let config = small(&work);
    let report = run(&config).await.unwrap();
    let table = markdown(&report);
    assert_eq!(report.errors, 0, "{table}");
    // Idle: each poll is exactly one request, answered 304.
    let idle = &report.idle;
    assert!(idle.polls >= 20, "{table}");
    // (A poll in flight at either edge of the window may be counted on one side only.)
    assert!(idle.requests.abs_diff(idle.polls) <= 2, "{table}");
    assert_eq!(idle.not_modified, idle.requests, "{table}");
    // Head polls are never answered from the edge cache.
    assert_eq!(idle.origin_requests, idle.requests, "{table}");
    // Every change reached every agent.
    let labels: Vec<&str> = report.changes.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "1 object",
            "10 objects",
            "10 % (5 objects)",
            "flag create",
            "flag flip"
        ]
    );
    let mut generation = 1;
    for change in &report.changes {
        generation += 1;
        assert_eq!(change.generation, generation, "{table}");
        assert_eq!(change.agents, 20);
        assert_eq!(change.propagation.missed, 0, "{}: {table}", change.label);
        // At least a head and a delta pack per agent.
        assert!(change.requests_per_agent >= 2.0, "{table}");
        // The pack is immutable: the edge cache answers it for every agent but the first.
        let from_edge = (change.requests_per_agent - change.origin_requests_per_agent) * 20.0;
        assert!(from_edge.round() >= 19.0, "{}: {table}", change.label);
    }
    assert_eq!(report.changes[0].objects, 1);
    assert_eq!(report.changes[1].objects, 10);
    // At M = 50 the 5 objects of the 10 % step are not a superset of the previous 10, which go
    // back to revision 0: 10 objects change.
    assert_eq!(report.changes[2].objects, 10);
    let initial = &report.publishes[0];
    assert_eq!((initial.label.as_str(), initial.changes), ("initial", 50));
    let cold = report.cold.as_ref().unwrap();
    assert_eq!((cold.agents, cold.propagation.missed), (3, 0), "{table}");
    // The Git baseline: both servers, every client got the change, one request per daemon poll.
    let servers: Vec<&str> = report.git.iter().map(|g| g.server.as_str()).collect();
    assert_eq!(servers, ["daemon", "http"]);
    for git in &report.git {
        assert_eq!(git.errors, 0, "{table}");
        assert!(git.polls >= 3, "{table}");
        assert_eq!(git.change.propagation.missed, 0, "{table}");
    }
    assert_eq!(report.git[0].requests_per_poll, 1.0, "{table}");
    assert!(report.agent_rss_bytes.unwrap() > 0);
}

/// The same tool against a real S3 server (Garage, started by `scripts/test`): agents read it
/// with the S3 client through a counting proxy, and `cairn` publishes as the only publisher
/// (Garage has no conditional writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_on_an_s3_server_counts_correctly() {
    let Ok(garage) = std::env::var(EnvVars::CAIRN_TEST_S3_GARAGE) else {
        eprintln!("skipped: CAIRN_TEST_S3_GARAGE is not set (run the suite with scripts/test)");
        return;
    };
    let (base, query) = garage.split_once('?').unwrap();
    let prefix = format!("fleet-{}", std::process::id());
    let url = format!("{}/{prefix}?{query}", base.trim_end_matches('/'));
    let work = tempfile::tempdir().unwrap();
    let config = Config {
        agents: 8,
        objects: 30,
        cold_agents: 2,
        git_clients: 0,
        rss_objects: 0,
        target: TargetKind::Count,
        store: Some(url),
        ..small(&work)
    };
    let report = run(&config).await.unwrap();
    let table = markdown(&report);
    assert_eq!(report.errors, 0, "{table}");
    assert!(
        report.store.starts_with("s3://") && !report.store.contains(query),
        "credentials are masked: {table}"
    );
    let idle = &report.idle;
    assert!(idle.polls >= 8, "{table}");
    assert!(idle.requests.abs_diff(idle.polls) <= 2, "{table}");
    assert_eq!(idle.not_modified, idle.requests, "{table}");
    // Bytes on the wire through the proxy: at least a request line and a status line per poll.
    assert!(
        idle.bytes_in_per_poll > 50.0 && idle.bytes_out_per_poll > 20.0,
        "{table}"
    );
    assert_eq!(report.changes.len(), 5, "{table}");
    for change in &report.changes {
        assert_eq!(change.propagation.missed, 0, "{}: {table}", change.label);
        // No edge cache here: every request reaches the origin.
        assert_eq!(
            change.requests_per_agent, change.origin_requests_per_agent,
            "{table}"
        );
        assert!(change.requests_per_agent >= 2.0, "{table}");
    }
    assert_eq!(
        report.cold.as_ref().unwrap().propagation.missed,
        0,
        "{table}"
    );
}
