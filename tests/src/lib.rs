//! Support for end-to-end tests: find the real binaries, run them, scrape their metrics.
//!
//! The tests live in `tests/`; they start `cairn` and `cairn-agent` as processes against a local
//! store and, when the test command has started it, an S3 server on loopback.

pub mod browser;
pub mod simulated;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub use cairn_test_support::{binary, publish_args, wait_until};
use cairn_test_support::{cairn_command, succeeded};

/// Runs `cairn` with `args` in `dir`; panics with its stderr if it fails.
pub fn cairn(dir: &Path, args: &[&str]) -> Output {
    succeeded(cairn_command(&binary("cairn"), dir).args(args))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `cairn-agent run` process, stopped with SIGTERM when dropped.
pub struct Agent {
    child: Child,
    /// Where its metrics are served.
    pub metrics: SocketAddr,
    /// Its `dir` target.
    pub target: PathBuf,
}

impl Agent {
    /// Starts an agent following `channel` on `store`, trusting `public_key`, polling every
    /// `interval`, with its target and state under `dir`.
    pub fn start(
        dir: &Path,
        store: &str,
        channel: &str,
        public_key: &Path,
        cluster: &str,
        interval: &str,
    ) -> Agent {
        let key = public_key.display().to_string();
        Agent::start_trusting(dir, store, channel, &["--trust", &key], cluster, interval)
    }

    /// [`Agent::start`] with other trust flags (`--trust-root root.json`, …).
    pub fn start_trusting(
        dir: &Path,
        store: &str,
        channel: &str,
        trust: &[&str],
        cluster: &str,
        interval: &str,
    ) -> Agent {
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("an address");
        let target = dir.join(format!("target-{cluster}"));
        let log =
            std::fs::File::create(dir.join(format!("agent-{cluster}.log"))).expect("a log file");
        let child = Command::new(binary("cairn-agent"))
            .args([
                "run",
                "--store",
                store,
                "--channel",
                channel,
                "--cluster-id",
                cluster,
                "--interval",
                interval,
            ])
            .args([
                "--jitter",
                "20%",
                "--heartbeat",
                "5s",
                "--metrics-addr",
                &metrics.to_string(),
            ])
            .args(trust)
            .arg("--target")
            .arg(format!("dir:{}", target.display()))
            .arg("--state-dir")
            .arg(dir.join(format!("state-{cluster}")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cairn-agent starts");
        Agent {
            child,
            metrics,
            target,
        }
    }

    /// The agent's metrics, as `name{labels}` → value.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let mut stream = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(2))
            .expect("metrics endpoint");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a timeout");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request sent");
        let mut body = String::new();
        stream.read_to_string(&mut body).expect("response read");
        body.lines()
            .filter(|l| !l.starts_with('#') && l.starts_with("cairn_agent_"))
            .filter_map(|l| {
                l.rsplit_once(' ')
                    .and_then(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            })
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Runs `cairn args… --output json` in `dir` (it must succeed) and parses what it prints.
pub fn cairn_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    let out = cairn(dir, &args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("cairn {args:?}: not JSON: {e}"))
}

/// `cairn status` of one channel, as JSON.
pub fn status_json(dir: &Path, store: &str, channel: &str) -> serde_json::Value {
    cairn_json(dir, &["status", "--store", store, "--channel", channel])
}

/// How many clusters report `generation` as applied on `channel`, per `cairn status`.
pub fn clusters_on(dir: &Path, store: &str, channel: &str, generation: u64) -> u64 {
    status_json(dir, store, channel)[0]["by_generation"][generation.to_string()]
        .as_u64()
        .unwrap_or(0)
}

/// Sum of a metric over all its label sets.
pub fn total(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    metrics
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(name))
        .map(|(_, v)| v)
        .sum()
}

/// Value of a metric with exactly this `name{labels}` key (0 if absent).
pub fn value(metrics: &BTreeMap<String, f64>, key: &str) -> f64 {
    metrics.get(key).copied().unwrap_or(0.0)
}

/// Runs `cairn-agent run --once` for one cluster, trusting `hub.key.pub`; returns its exit code.
pub fn agent_once(dir: &Path, store: &str, channel: &str, cluster: &str) -> i32 {
    let key = dir.join("hub.key.pub").display().to_string();
    agent_once_trusting(dir, store, channel, cluster, &["--trust", &key])
}

/// [`agent_once`] with other trust flags (`--trust-root-digest sha256:…`, …).
pub fn agent_once_trusting(
    dir: &Path,
    store: &str,
    channel: &str,
    cluster: &str,
    trust: &[&str],
) -> i32 {
    let out = Command::new(binary("cairn-agent"))
        .args([
            "run",
            "--once",
            "--store",
            store,
            "--channel",
            channel,
            "--cluster-id",
            cluster,
        ])
        .args(trust)
        .arg("--target")
        .arg(format!(
            "dir:{}",
            dir.join(format!("target-{cluster}")).display()
        ))
        .arg("--state-dir")
        .arg(dir.join(format!("state-{cluster}")))
        .output()
        .expect("cairn-agent runs");
    out.status.code().unwrap_or(-1)
}

/// A delegation on `store`'s trust root: `cairn trust delegate NAME --channel CHANNEL --signer
/// S… --threshold N`, the new version signed by `root_keys` (comma-separated key files).
pub struct Delegate<'a> {
    /// The delegation's name.
    pub name: &'a str,
    /// The channel name or pattern it covers.
    pub channel: &'a str,
    /// Public key files of the keys that may sign.
    pub signers: &'a [&'a str],
    /// How many of them must.
    pub threshold: u32,
}

impl Delegate<'_> {
    /// Writes the delegation (the command must succeed).
    pub fn write(&self, dir: &Path, store: &str, root_keys: &str) {
        let threshold = self.threshold.to_string();
        let mut args = vec![
            "trust",
            "delegate",
            self.name,
            "--channel",
            self.channel,
            "--threshold",
            &threshold,
            "--key",
            root_keys,
            "--store",
            store,
        ];
        for signer in self.signers {
            args.extend(["--signer", signer]);
        }
        cairn(dir, &args);
    }
}

/// Runs `cairn` and returns its output whatever its exit code.
pub fn cairn_unchecked(dir: &Path, args: &[&str]) -> Output {
    cairn_command(&binary("cairn"), dir)
        .args(args)
        .output()
        .expect("cairn runs")
}

/// The newest generation's snapshot digest of a channel.
pub fn snapshot_of(dir: &Path, store: &str, channel: &str) -> String {
    let rows = cairn_json(
        dir,
        &[
            "history",
            "--store",
            store,
            "--channel",
            channel,
            "--limit",
            "1",
        ],
    );
    rows[0]["snapshot"].as_str().expect("a snapshot").to_owned()
}

/// Per-cluster applied snapshot, from `cairn status`-readable records via the agents' state: the
/// applied generation each cluster reports.
pub fn applied_generations(dir: &Path, store: &str, channel: &str) -> BTreeMap<String, u64> {
    let status = status_json(dir, store, channel);
    status[0]["by_generation"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `cairn publish` of the manifests in `dir/m` to `channel`, signed with `dir/hub.key`.
pub fn publish(dir: &Path, store: &str, channel: &str, extra: &[&str]) -> Output {
    let mut rest = vec!["m"];
    rest.extend_from_slice(extra);
    cairn(dir, &publish_args(store, channel, "hub.key", &rest))
}
