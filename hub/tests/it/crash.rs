//! Crash safety with the real binary: a publisher killed at every step leaves the channel as it
//! was (agents see the same head), and the next publish works.

use crate::support;

use cairn_env_vars::EnvVars;
use std::path::Path;
use std::process::Output;

use cairn_store::Store;
use cairn_test_support::{cairn_command, publish_args};

fn cairn(dir: &Path, args: &[&str], failpoint: Option<&str>) -> Output {
    let mut command = cairn_command(Path::new(env!("CARGO_BIN_EXE_cairn")), dir);
    if let Some(point) = failpoint {
        command.env(EnvVars::CAIRN_FAILPOINT, point);
    }
    command.args(args).output().unwrap()
}

fn write_manifests(dir: &Path, variant: u32) {
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("m/app.yaml"), support::configmaps(40, 3, variant)).unwrap();
}

#[tokio::test]
async fn a_publisher_killed_at_any_step_changes_nothing_agents_see() {
    for point in [
        "after-blobs",
        "after-index",
        "after-snapshot",
        "after-deltas",
        "after-log",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let store_arg = store_dir.to_str().unwrap();
        assert!(
            cairn(dir.path(), &["keygen", "--out", "hub.key"], None)
                .status
                .success()
        );
        write_manifests(dir.path(), 1);
        let publish = publish_args(store_arg, "prod", "hub.key", &["m"]);
        assert!(cairn(dir.path(), &publish, None).status.success());
        let head_before = std::fs::read(store_dir.join("channels/prod/head")).unwrap();

        write_manifests(dir.path(), 2);
        let crashed = cairn(dir.path(), &publish, Some(point));
        assert!(
            !crashed.status.success(),
            "{point}: the publisher was killed"
        );
        assert!(
            String::from_utf8_lossy(&crashed.stderr).contains(point),
            "{point}"
        );
        let head_after = std::fs::read(store_dir.join("channels/prod/head")).unwrap();
        assert_eq!(
            head_before, head_after,
            "{point}: the head agents poll is unchanged"
        );

        let store = Store::open(store_arg, &Default::default()).unwrap();
        let logged = support::log(&store, "prod").await;
        if point == "after-log" {
            // The commit point was passed: generation 2 is logged, and the next publish moves the head to it.
            assert_eq!(logged.len(), 2, "{point}");
        } else {
            assert_eq!(logged.len(), 1, "{point}: nothing was committed");
        }

        let retried = cairn(dir.path(), &publish, None);
        assert!(
            retried.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&retried.stderr)
        );
        write_manifests(dir.path(), 3);
        assert!(
            cairn(dir.path(), &publish, None).status.success(),
            "{point}"
        );
        let logged = support::log(&store, "prod").await;
        let generations: Vec<u64> = logged.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            generations,
            (1..=generations.len() as u64).collect::<Vec<_>>(),
            "{point}: gap-free"
        );
        assert_eq!(
            generations.len(),
            3,
            "{point}: variants 1, 2 and 3, each once"
        );
        assert_eq!(
            support::head_generation(&store, "prod").await,
            Some(3),
            "{point}"
        );
        for (_, snapshot) in &logged {
            support::assert_readable(&store, snapshot).await;
        }
    }
}

#[test]
fn invalid_manifests_publish_nothing_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        cairn(dir.path(), &["keygen", "--out", "hub.key"], None)
            .status
            .success()
    );
    std::fs::create_dir_all(dir.path().join("m")).unwrap();
    std::fs::write(
        dir.path().join("m/a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("m/b.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n").unwrap();
    let out = cairn(dir.path(), &publish_to_local_store(), None);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("b.yaml, document 2: field apiVersion: is missing"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("store/channels").exists(),
        "nothing was published"
    );
}

/// `cairn publish` of `m/` to channel `prod` of the store `store/`, signed with `hub.key`.
fn publish_to_local_store() -> Vec<&'static str> {
    publish_args("store", "prod", "hub.key", &["m"])
}

#[test]
fn keys_readable_by_others_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    assert!(
        cairn(dir.path(), &["keygen", "--out", "hub.key"], None)
            .status
            .success()
    );
    let key = dir.path().join("hub.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_manifests(dir.path(), 1);
    let out = cairn(dir.path(), &publish_to_local_store(), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}
