//! The README's compromise drill with the real binaries, while agents run: a leaked team key is
//! revoked with one `cairn trust` command and every agent refuses the thief's head from the
//! first poll that sees it; the replacement key publishes and agents follow; a leaked root key is
//! rotated out by the remaining threshold and a version it signs alone is refused. Agents are
//! installed once (a root file, or version 1's digest) and never reconfigured; how fast they
//! follow is counted in polls, not timed.

use std::path::Path;
use std::time::Duration;

use cairn_state_format::{
    Delegation, Head, KeyEntry, SecretKey, SignedHead, SignedRoot, TrustRoot, layout,
};
use cairn_tests::{Agent, Delegate, cairn, cairn_json, total, value, wait_until};

const CHANNEL: &str = "team-a-web";
/// What the agents follow: prod is delegated while they run.
const CHANNELS: &str = "team-a-web,prod";

fn secret(dir: &Path, name: &str) -> SecretKey {
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn manifest(dir: &Path, value: &str) {
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("m/web.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web, namespace: default}}\ndata: {{v: '{value}'}}\n"
        ),
    )
    .unwrap();
}

fn publish(dir: &Path, store: &str, channel: &str, keys: &str, manifests: &str) {
    let args = [
        "publish",
        "--store",
        store,
        "--channel",
        channel,
        "--key",
        keys,
        manifests,
    ];
    cairn(dir, &args);
}

/// Writes the bucket directly, as a thief who can: the current head, one generation on,
/// signed by `key`.
fn forge_head(store: &Path, key: &SecretKey) {
    let path = store.join(layout::head_key(CHANNEL));
    let signed = SignedHead::decode(&std::fs::read(&path).unwrap()).unwrap();
    let head = Head {
        generation: signed.head.generation + 1,
        ..signed.head
    };
    std::fs::write(&path, SignedHead::sign(&head, &[key])).unwrap();
}

/// Writes the next version of the store's trust root, giving every channel to `thief`, signed
/// by `signer` alone (a leaked root key that was rotated out).
fn forge_root(store: &Path, signer: &SecretKey, thief: &SecretKey) {
    let newest = (1..)
        .take_while(|v| store.join(layout::root_key(*v)).exists())
        .last()
        .unwrap();
    let bytes = std::fs::read(store.join(layout::root_key(newest))).unwrap();
    let current = SignedRoot::decode(&bytes).unwrap();
    let now = chrono::Utc::now();
    let mut next = current
        .root
        .successor(current.digest(), now, now + chrono::Duration::days(1));
    next.keys.insert(
        thief.public().id(),
        KeyEntry {
            public: thief.public(),
            label: None,
        },
    );
    next.delegations = vec![Delegation {
        name: "everything".into(),
        channels: vec!["*".parse().unwrap()],
        keys: vec![thief.public().id()],
        threshold: 1,
        scope: None,
    }];
    next.prune_keys();
    let forged: TrustRoot = next;
    std::fs::write(
        store.join(layout::root_key(newest + 1)),
        SignedRoot::sign(&forged, &[signer]).encode(),
    )
    .unwrap();
}

fn metric(agent: &Agent, key: &str) -> f64 {
    value(&agent.metrics(), key)
}

/// Each agent's polls of the team's channel so far.
fn polls(agents: &[Agent]) -> Vec<f64> {
    let key = format!("cairn_agent_polls_total{{channel=\"{CHANNEL}\"}}");
    agents.iter().map(|a| metric(a, &key)).collect()
}

fn frozen(agent: &Agent) -> bool {
    metric(
        agent,
        &format!("cairn_agent_phase{{channel=\"{CHANNEL}\",phase=\"frozen\"}}"),
    ) == 1.0
}

fn applied(agent: &Agent) -> f64 {
    metric(
        agent,
        &format!("cairn_agent_applied_generation{{channel=\"{CHANNEL}\"}}"),
    )
}

fn web(agent: &Agent) -> String {
    std::fs::read_to_string(agent.target.join("default/ConfigMap/web.yaml")).unwrap_or_default()
}

/// Waits until every agent satisfies `check`, then asserts each needed at most two polls since
/// `before` (the first poll after the change; one more may have been in flight).
fn within_one_poll(agents: &[Agent], before: &[f64], what: &str, check: impl Fn(&Agent) -> bool) {
    wait_until(Duration::from_secs(60), what, || agents.iter().all(&check));
    for (after, before) in polls(agents).into_iter().zip(before) {
        assert!(after - before <= 2.0, "{what}: {} polls", after - before);
    }
}

#[test]
fn the_compromise_drill_while_agents_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store_dir = dir.join("store");
    let store = store_dir.to_str().unwrap();
    for key in [
        "root1", "root2", "root3", "root4", "team-a", "team-a-2", "p1", "p2",
    ] {
        cairn(dir, &["keygen", "--out", &format!("{key}.key")]);
    }
    let s = ["--store", store];
    let signing = ["--key", "root1.key,root2.key"];
    let init = cairn_json(
        dir,
        &[
            &[
                "trust",
                "init",
                "--root-key",
                "root3.key.pub",
                "--threshold",
                "2",
            ][..],
            &signing,
            &s,
        ]
        .concat(),
    );
    let first_digest = init["first_digest"].as_str().unwrap().to_owned();
    let team_a = Delegate {
        name: "team-a",
        channel: "team-a-*",
        signers: &["team-a.key.pub"],
        threshold: 1,
    };
    team_a.write(dir, store, "root1.key,root2.key");
    let raw = cairn(dir, &[&["trust", "show", "1", "--raw"][..], &s].concat()).stdout;
    let root_file = dir.join("root.json");
    std::fs::write(&root_file, raw).unwrap();
    let root_file = root_file.to_str().unwrap();
    manifest(dir, "1");
    publish(dir, store, CHANNEL, "team-a.key", "m");

    // Installed once: one from a root file, one from version 1's digest alone.
    let agents = [
        Agent::start_trusting(
            dir,
            store,
            CHANNELS,
            &["--trust-root", root_file],
            "c0",
            "1s",
        ),
        Agent::start_trusting(
            dir,
            store,
            CHANNELS,
            &["--trust-root-digest", &first_digest],
            "c1",
            "1s",
        ),
    ];
    wait_until(Duration::from_secs(60), "generation 1 everywhere", || {
        agents.iter().all(|a| web(a).contains("v: '1'"))
    });
    for agent in &agents {
        assert_eq!(metric(agent, "cairn_agent_trust_root_version"), 2.0);
    }

    // A team key leaked: one command revokes it and hands the channels to a new key.
    cairn(
        dir,
        &[
            &[
                "trust",
                "remove-key",
                "team-a.key.pub",
                "--replace",
                "team-a-2.key.pub",
            ][..],
            &signing,
            &s,
        ]
        .concat(),
    );
    let before = polls(&agents);
    forge_head(&store_dir, &secret(dir, "team-a.key"));
    within_one_poll(&agents, &before, "the thief's head refused", |a| {
        metric(a, "cairn_agent_trust_root_version") == 3.0 && frozen(a)
    });
    for agent in &agents {
        assert_eq!(applied(agent), 1.0, "nothing the thief signed was applied");
        assert!(web(agent).contains("v: '1'"));
    }

    // The new key publishes; agents follow with no configuration change.
    manifest(dir, "2");
    publish(dir, store, CHANNEL, "team-a-2.key", "m");
    wait_until(
        Duration::from_secs(60),
        "the new key's head applied",
        || agents.iter().all(|a| web(a).contains("v: '2'")),
    );

    // A new channel is delegated while the agents run, to two keys that must both sign.
    std::fs::create_dir_all(dir.join("m-prod")).unwrap();
    std::fs::write(
        dir.join("m-prod/checkout.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: checkout, namespace: default}\ndata: {v: 'p'}\n",
    )
    .unwrap();
    let prod = Delegate {
        name: "prod",
        channel: "prod",
        signers: &["p1.key.pub", "p2.key.pub"],
        threshold: 2,
    };
    prod.write(dir, store, "root1.key,root2.key");
    publish(dir, store, "prod", "p1.key,p2.key", "m-prod");
    wait_until(
        Duration::from_secs(60),
        "prod applied under version 4",
        || {
            agents.iter().all(|a| {
                std::fs::read_to_string(a.target.join("default/ConfigMap/checkout.yaml"))
                    .is_ok_and(|t| t.contains("v: p"))
                    && metric(a, "cairn_agent_trust_root_version") == 4.0
            })
        },
    );

    // A root key leaked: the remaining threshold rotates it out.
    cairn(
        dir,
        &[
            &[
                "trust",
                "rotate",
                "--root-key",
                "root2.key.pub",
                "--root-key",
                "root3.key.pub",
                "--root-key",
                "root4.key.pub",
                "--threshold",
                "2",
                "--key",
                "root2.key,root3.key,root4.key",
            ][..],
            &s,
        ]
        .concat(),
    );
    // The thief signs a version with the old root key, and a head with their own key.
    let thief = SecretKey::from_seed([0x7f; 32]);
    let before = polls(&agents);
    forge_root(&store_dir, &secret(dir, "root1.key"), &thief);
    forge_head(&store_dir, &thief);
    within_one_poll(&agents, &before, "the forged root refused", |a| {
        metric(a, "cairn_agent_trust_root_version") == 5.0
            && total(&a.metrics(), "cairn_agent_trust_root_refusals_total") >= 1.0
            && frozen(a)
    });
    for agent in &agents {
        assert!(web(agent).contains("v: '2'"), "{}", web(agent));
    }
}
