//! `cairn ui` in a real browser: headless Chromium loads the pages of a store with a few hundred
//! simulated clusters mid-rollout, the test checks what is on them (counts, a problem cluster, a
//! generation bar) and saves screenshots under the test's output (`target/tmp/cairn-ui/`) for a
//! person to look at.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_tests::browser::Browser;
use cairn_tests::simulated::{Expected, write_mid_rollout};
use cairn_tests::{binary, cairn, free_port, wait_until};

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
    fn start(dir: &Path, store: &str) -> Ui {
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
            ui.get("/channels/prod").0 == 200
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
    let out = cairn(
        dir,
        &[
            "history",
            "--store",
            store,
            "--channel",
            "prod",
            "--output",
            "json",
        ],
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history JSON");
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
    let ui = Ui::start(dir, &store);
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

    assert_eq!(ui.request("POST", "/channels/prod").0, 405, "read-only");
    assert_eq!(ui.get("/channels/nope").0, 404);
    eprintln!("screenshots in {}", shots.display());
}
