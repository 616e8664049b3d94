//! The real `cairn` and `cairn-agent` binaries end to end, on a local store and (when the test
//! command started it) on an S3 server on loopback: agents converge, a 1-object change travels
//! as one delta pack, a removal is pruned, an idle poll is one request answered 304.

use cairn_env_vars::EnvVars;
use std::path::Path;
use std::time::Duration;

use cairn_tests::{Agent, cairn, clusters_on, publish, total, value, wait_until};

const AGENTS: usize = 3;
const LIMIT: Duration = Duration::from_secs(60);

fn configmaps(dir: &Path, names: &[&str], color: &str) {
    let _ = std::fs::remove_dir_all(dir.join("m"));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    for name in names {
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: app}}\ndata: {{color: {color}}}\n"
        );
        std::fs::write(dir.join(format!("m/{name}.yaml")), yaml).unwrap();
    }
}

fn fleet(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let publish_commit = |source: &str| publish(dir, store, "prod", &["--source", source]);
    cairn(dir, &["keygen", "--out", "hub.key"]);
    let names = ["alpha", "beta", "gamma", "delta"];
    configmaps(dir, &names, "blue");
    publish_commit("commit=1");

    let agents: Vec<Agent> = (0..AGENTS)
        .map(|i| {
            Agent::start(
                dir,
                store,
                "prod",
                &dir.join("hub.key.pub"),
                &format!("c{i}"),
                "1s",
            )
        })
        .collect();
    wait_until(LIMIT, "every agent on generation 1", || {
        clusters_on(dir, store, "prod", 1) == AGENTS as u64
    });
    for agent in &agents {
        assert!(agent.target.join("app/ConfigMap/gamma.yaml").exists());
    }

    // A 1-object change: one head and one delta pack, nothing else.
    let before = agents[0].metrics();
    configmaps(dir, &names, "blue");
    std::fs::write(dir.join("m/beta.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: beta, namespace: app}\ndata: {color: red}\n").unwrap();
    publish_commit("commit=2");
    wait_until(LIMIT, "every agent on generation 2", || {
        clusters_on(dir, store, "prod", 2) == AGENTS as u64
    });
    let after = agents[0].metrics();
    let delta = |key: &str| value(&after, key) - value(&before, key);
    assert_eq!(
        delta("cairn_agent_requests_total{kind=\"delta\"}"),
        1.0,
        "one delta pack"
    );
    for kind in ["snapshot", "node", "blob"] {
        assert_eq!(
            delta(&format!("cairn_agent_requests_total{{kind=\"{kind}\"}}")),
            0.0,
            "no {kind} fetched"
        );
    }
    let fetched = total(&after, "cairn_agent_fetched_bytes_total")
        - total(&before, "cairn_agent_fetched_bytes_total");
    assert!(
        fetched > 0.0 && fetched < 4096.0,
        "{fetched} bytes fetched for a 1-object change"
    );
    for agent in &agents {
        let beta = std::fs::read_to_string(agent.target.join("app/ConfigMap/beta.yaml")).unwrap();
        assert!(beta.contains("red"), "{beta}");
    }

    // A removal is pruned everywhere.
    configmaps(dir, &["alpha", "beta", "delta"], "blue");
    std::fs::write(dir.join("m/beta.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: beta, namespace: app}\ndata: {color: red}\n").unwrap();
    publish_commit("commit=3");
    wait_until(LIMIT, "every agent on generation 3", || {
        clusters_on(dir, store, "prod", 3) == AGENTS as u64
    });
    for agent in &agents {
        assert!(
            !agent.target.join("app/ConfigMap/gamma.yaml").exists(),
            "gamma was pruned"
        );
        assert!(agent.target.join("app/ConfigMap/alpha.yaml").exists());
    }

    // Idle: each poll is one head request, answered 304, and nothing else is fetched.
    let idle_start = agents[1].metrics();
    wait_until(LIMIT, "three idle polls", || {
        total(&agents[1].metrics(), "cairn_agent_polls_total")
            >= total(&idle_start, "cairn_agent_polls_total") + 3.0
    });
    let idle_end = agents[1].metrics();
    let grew = |name: &str| total(&idle_end, name) - total(&idle_start, name);
    let polls = grew("cairn_agent_polls_total");
    assert_eq!(
        grew("cairn_agent_not_modified_total"),
        polls,
        "every idle poll answered 304"
    );
    let head_requests = value(&idle_end, "cairn_agent_requests_total{kind=\"head\"}")
        - value(&idle_start, "cairn_agent_requests_total{kind=\"head\"}");
    assert_eq!(head_requests, polls, "one request per poll");
    for kind in ["delta", "snapshot", "node", "blob"] {
        let key = format!("cairn_agent_requests_total{{kind=\"{kind}\"}}");
        assert_eq!(
            value(&idle_end, &key),
            value(&idle_start, &key),
            "no {kind} fetched while idle"
        );
    }
}

#[test]
fn fleet_on_a_local_store() {
    let dir = tempfile::tempdir().unwrap();
    fleet(dir.path().join("store").to_str().unwrap());
}

#[test]
fn fleet_on_s3() {
    let Ok(url) = std::env::var(EnvVars::CAIRN_TEST_S3_MOTO) else {
        eprintln!("skipped: CAIRN_TEST_S3_MOTO is not set (run the suite with scripts/test)");
        return;
    };
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let prefix = format!("fleet-{}", std::process::id());
    fleet(&format!("{}/{prefix}?{query}", base.trim_end_matches('/')));
}
