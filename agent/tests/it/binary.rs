//! The real `cairn-agent` binary: flags and environment, exit codes, SIGTERM.

use cairn_env_vars::EnvVars;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cairn-agent");

async fn published() -> (tempfile::TempDir, String) {
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    let store = cairn_store::Store::open(&url, &Default::default()).unwrap();
    Publisher::new(&store, "prod").publish(&cm("a", "1")).await;
    (bucket, url)
}

fn agent(url: &str, dirs: &Dirs) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("run")
        .env(EnvVars::CAIRN_STORE, url)
        .env(EnvVars::CAIRN_CHANNEL, "prod")
        .env(EnvVars::CAIRN_TRUST, key().public().to_string())
        .env(EnvVars::CAIRN_CLUSTER_ID, "cluster-1")
        .env(EnvVars::CAIRN_TARGET, format!("dir:{}", dirs.out.display()))
        .env(EnvVars::CAIRN_STATE_DIR, &dirs.state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn once_exits_with_the_outcome() {
    let (_bucket, url) = published().await;
    let dirs = dirs();
    let out = agent(&url, &dirs).arg("--once").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cm_path(&dirs, "a").exists());

    let key_file = dirs.state.with_file_name("key.pub");
    std::fs::write(&key_file, crate::support::key().public().to_string()).unwrap();
    let out = agent(&url, &dirs)
        .arg("--once")
        .env(EnvVars::CAIRN_TRUST, &key_file)
        .env(EnvVars::CAIRN_CHANNEL, "staging")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "no head yet: waiting");
}

#[tokio::test]
async fn bad_configuration_exits_2_with_one_line() {
    let (_bucket, url) = published().await;
    let dirs = dirs();
    let out = agent(&url, &dirs)
        .arg("--once")
        .env(EnvVars::CAIRN_TARGET, "kube")
        .env(EnvVars::CAIRN_KUBECONFIG, "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--kubeconfig"), "{stderr}");
    let out = agent(&url, &dirs)
        .arg("--once")
        .env(EnvVars::CAIRN_TRUST, "cairn-ed25519-public nonsense")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn sigterm_stops_the_agent() {
    let (_bucket, url) = published().await;
    let dirs = dirs();
    let mut child = agent(&url, &dirs)
        .args(["--interval", "50ms", "--drain", "2s"])
        .spawn()
        .unwrap();
    for _ in 0..1000 {
        if cm_path(&dirs, "a").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        cm_path(&dirs, "a").exists(),
        "the agent applied the channel"
    );
    let killed = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -TERM {}", child.id()))
        .status()
        .unwrap();
    assert!(killed.success());
    for _ in 0..1000 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    panic!("the agent did not stop after SIGTERM");
}
