//! `cairn ui` in a real browser: headless Chromium loads the pages of a store with a few hundred
//! simulated clusters mid-rollout, the test checks what is on them (counts, a problem cluster, a
//! generation bar) and saves screenshots under the test's output (`target/tmp/cairn-ui/`) for a
//! person to look at.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_state_format::{StatusError, StatusRecord};
use cairn_tests::browser::Browser;
use cairn_tests::simulated::{Expected, write_mid_rollout, write_record};
use cairn_tests::{binary, cairn, cairn_json, free_port, wait_until};

const CLUSTERS: usize = 300;

/// A running `cairn ui`, stopped when dropped.
struct Ui {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ui {
    /// Starts a view of `store` and waits until it has looked at `channel`.
    fn start(dir: &Path, store: &str, channel: &str) -> Ui {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let child = Command::new(binary("cairn"))
            .args(["ui", "--store", store, "--refresh", "1s"])
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--cache-dir")
            .arg(dir.join(".cairn-cache"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("ui.log")).expect("a log"))
            .spawn()
            .expect("cairn ui starts");
        let ui = Ui { child, addr };
        wait_until(Duration::from_secs(30), "the first look", || {
            ui.get(&format!("/channels/{channel}")).0 == 200
        });
        ui
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One request: (status, body).
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) else {
            return (0, String::new());
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        let head = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        stream.write_all(head.as_bytes()).expect("request sent");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        (status, body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path)
    }
}

fn generations(dir: &Path, store: &str) -> Vec<(u64, cairn_state_format::Digest)> {
    let rows = cairn_json(dir, &["history", "--store", store, "--channel", "prod"]);
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let generation = r["generation"].as_u64().expect("a generation");
            let snapshot = r["snapshot"]
                .as_str()
                .expect("a snapshot")
                .parse()
                .expect("a digest");
            (generation, snapshot)
        })
        .collect()
}

/// A store with two generations of `prod` (the second rolling out in three steps) and
/// `CLUSTERS` simulated agents reporting, some of them failing.
fn mid_rollout(dir: &Path) -> (String, Expected) {
    let store = dir.join("store").to_str().expect("a UTF-8 path").to_owned();
    cairn(dir, &["keygen", "--out", "hub.key"]);
    std::fs::create_dir_all(dir.join("m")).expect("manifests folder");
    for color in ["blue", "green"] {
        let yaml = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec: {{replicas: 3, template: {{metadata: {{labels: {{color: {color}}}}}}}}}\n"
        );
        std::fs::write(dir.join("m/web.yaml"), yaml).expect("manifest written");
        let mut args = vec![
            "publish",
            "--store",
            &store,
            "--channel",
            "prod",
            "--key",
            "hub.key",
            "m",
        ];
        if color == "green" {
            args.extend(["--rollout", "10%:0s,50%:1h,100%:2h"]);
        }
        cairn(dir, &args);
    }
    // Flags on a channel of their own: a publish of m/ would replace prod's flag document.
    let staging = [
        "publish",
        "--store",
        &store,
        "--channel",
        "staging",
        "--key",
        "hub.key",
        "m",
    ];
    cairn(dir, &staging);
    let flag = [
        "flag",
        "set",
        "new-checkout=false",
        "--store",
        &store,
        "--channel",
        "staging",
    ];
    let owner = [
        "--owner",
        "team-shop",
        "--expires",
        "2027-03-31",
        "--key",
        "hub.key",
    ];
    cairn(dir, &[&flag[..], &owner[..]].concat());
    let generations = generations(dir, &store);
    // Newest first: 2 is green rolling out, 1 is blue.
    let (new, old) = (generations[0], generations[1]);
    let expected = write_mid_rollout(&dir.join("store"), "prod", CLUSTERS, 10, (old, new));
    (store, expected)
}

#[test]
fn the_fleet_view_shows_a_mid_rollout_fleet_in_a_browser() {
    let Some(browser) = Browser::find() else {
        eprintln!("skipped: no chromium (scripts/test installs it; or set CAIRN_TEST_CHROMIUM)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (store, expected) = mid_rollout(dir);
    let ui = Ui::start(dir, &store, "prod");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cairn-ui");
    std::fs::create_dir_all(&shots).unwrap();

    let channel = browser.dom(&ui.url("/channels/prod"));
    let newest = expected.by_generation[&2];
    assert!(channel.contains("generation 2 (newest)"), "{channel}");
    assert!(
        channel.contains(&format!("<b>{CLUSTERS}</b>clusters reporting")),
        "the tile counts every cluster: {channel}"
    );
    assert!(
        channel.contains(&format!("<b>{newest}</b>on the newest")),
        "{channel}"
    );
    assert!(
        channel.contains(&format!("<span class=\"num\">{newest}</span>")),
        "the newest generation's bar is labelled with its count"
    );
    assert!(
        channel.contains("class=\"bar newest\""),
        "a bar for the newest generation"
    );
    let problems = expected.problems.len();
    assert!(
        channel.contains(&format!("Problems ({problems})")),
        "{channel}"
    );
    let (first_problem, its_error) = expected.problems.iter().next().unwrap();
    assert!(channel.contains(first_problem.as_str()) && channel.contains(its_error.as_str()));
    assert!(channel.contains(&format!("Stale clusters ({})", expected.stale.len())));
    assert!(
        channel.contains("10%") && channel.contains("closed"),
        "rollout steps"
    );
    browser.screenshot(&ui.url("/channels/prod"), &shots.join("channel.png"), 1700);

    let (status, raw) = ui.get("/channels/prod/clusters?show=problems");
    assert_eq!(status, 200);
    assert!(
        raw.contains("&lt;script&gt;") && !raw.contains("<script>"),
        "a forged record's markup is shown as text"
    );
    let clusters = browser.dom(&ui.url("/channels/prod/clusters?show=problems"));
    assert!(
        clusters.contains(&format!("{problems} of {CLUSTERS} clusters match")),
        "{clusters}"
    );
    browser.screenshot(
        &ui.url("/channels/prod/clusters?show=problems"),
        &shots.join("problems.png"),
        1400,
    );

    let eu = browser.dom(&ui.url("/channels/prod/clusters?q=region%3Deu"));
    assert!(
        eu.contains(&format!("{} of {CLUSTERS} clusters match", expected.in_eu)),
        "{eu}"
    );
    let page_two = browser.dom(&ui.url("/channels/prod/clusters?page=2"));
    assert!(
        page_two.contains("cluster-0050") && !page_two.contains("cluster-0049<"),
        "page 2 starts at the 51st"
    );

    let overview = browser.dom(&ui.url("/"));
    assert!(overview.contains("href=\"/channels/prod\""), "{overview}");
    browser.screenshot(&ui.url("/"), &shots.join("overview.png"), 700);

    let diff = browser.dom(&ui.url("/channels/prod/diff?from=1&to=2"));
    assert!(
        diff.contains("blue") && diff.contains("green"),
        "a diff between generations: {diff}"
    );
    let flags = browser.dom(&ui.url("/channels/staging/flags"));
    assert!(
        flags.contains("new-checkout") && flags.contains("team-shop"),
        "{flags}"
    );
    let history = browser.dom(&ui.url("/channels/prod/history"));
    assert!(history.contains("2 generations"), "{history}");

    let (status, trust) = ui.get("/trust");
    assert_eq!(status, 200);
    assert!(
        trust.contains("No trust root: agents trust keys given to them (--trust)"),
        "{trust}"
    );
    assert_eq!(ui.request("POST", "/channels/prod").0, 405, "read-only");
    assert_eq!(ui.get("/channels/nope").0, 404);
    eprintln!("screenshots in {}", shots.display());
}

/// A status record of `cluster` on `channel` whose newest error is `error`.
fn record_with(cluster: &str, channel: &str, error: StatusError) -> StatusRecord {
    let now = chrono::Utc::now();
    let mut record = StatusRecord::new(cluster, channel, "cairn-agent 0.1.0", now);
    record.push_error(error);
    record
}

#[test]
fn the_trust_page_shows_scopes_and_heads_refused_for_scope() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = dir.join("store").to_str().expect("a UTF-8 path").to_owned();
    let s = ["--store", store.as_str()];
    for key in ["root", "team-a"] {
        cairn(dir, &["keygen", "--out", &format!("{key}.key")]);
    }
    cairn(
        dir,
        &[&["trust", "init", "--key", "root.key"][..], &s].concat(),
    );
    let delegate = [
        "trust",
        "delegate",
        "team-a",
        "--channel",
        "team-a-*",
        "--signer",
        "team-a.key.pub",
        "--namespace",
        "$channel",
        "--deny-kind",
        "*.rbac.authorization.k8s.io",
        "--key",
        "root.key",
    ];
    cairn(dir, &[&delegate[..], &s].concat());
    std::fs::create_dir_all(dir.join("m")).expect("manifests folder");
    std::fs::write(
        dir.join("m/web.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: team-a-web}\n",
    )
    .expect("manifest written");
    let publish = [
        "publish",
        "--channel",
        "team-a-web",
        "--key",
        "team-a.key",
        "m",
    ];
    cairn(dir, &[&publish[..], &s].concat());
    let show = String::from_utf8_lossy(&cairn(dir, &[&["trust", "show"][..], &s].concat()).stdout)
        .into_owned();
    let scope = show
        .lines()
        .find_map(|l| l.trim().strip_prefix("scope: "))
        .unwrap_or_else(|| panic!("trust show prints the scope: {show}"))
        .to_owned();

    // A scope refusal (a verify error naming the object) and a verify error that is not one.
    let at = chrono::Utc::now();
    let refused = "ClusterRoleBinding.rbac.authorization.k8s.io take-over";
    let rule = "generation 2: kind ClusterRoleBinding.rbac.authorization.k8s.io is denied";
    let refusal = StatusError {
        at,
        class: "verify".to_owned(),
        message: rule.to_owned(),
        object: Some(refused.to_owned()),
    };
    let unsigned = StatusError {
        at,
        class: "verify".to_owned(),
        message: "generation 3: signed by an unknown key".to_owned(),
        object: None,
    };
    let store_dir = dir.join("store");
    write_record(&store_dir, &record_with("edge-1", "team-a-web", refusal));
    write_record(&store_dir, &record_with("edge-2", "team-a-web", unsigned));

    let ui = Ui::start(dir, &store, "team-a-web");
    let (status, trust) = ui.get("/trust");
    assert_eq!(status, 200);
    assert!(
        trust.contains("format 2"),
        "a scoped root is format 2: {trust}"
    );
    assert!(
        trust.contains("team-a") && trust.contains("team-a-*"),
        "{trust}"
    );
    assert!(
        trust.contains(&format!("<code>{scope}</code>")),
        "the scope as trust show prints it ({scope}): {trust}"
    );
    assert!(trust.contains("Heads refused for scope (1)"), "{trust}");
    assert!(
        trust.contains("edge-1") && trust.contains(refused) && trust.contains(rule),
        "{trust}"
    );
    assert!(!trust.contains("edge-2"), "not a scope refusal: {trust}");

    let (_, channel) = ui.get("/channels/team-a-web");
    assert!(
        channel.contains("<b><a href=\"/trust\">1</a></b>refused a head for scope"),
        "{channel}"
    );
    let (_, clusters) = ui.get("/channels/team-a-web/clusters");
    assert_eq!(
        clusters.matches("refused for scope").count(),
        1,
        "edge-1 is marked, edge-2 is not: {clusters}"
    );
    for path in [
        "/",
        "/trust",
        "/channels/team-a-web",
        "/channels/team-a-web/clusters",
        "/channels/team-a-web/history",
        "/channels/team-a-web/flags",
    ] {
        assert_eq!(ui.get(path).0, 200, "{path}");
        assert!(
            ui.get(path).1.contains("href=\"/trust\""),
            "the nav links the trust page: {path}"
        );
    }
}
