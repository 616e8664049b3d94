//! The agent's container image as `scripts/image` builds it, run as a cluster runs it: loaded
//! into podman, started as the image's own non-root user, configured through `CAIRN_*`
//! variables as the DaemonSet configures it. `--version` names the crate's version, and one
//! `run --once` pass against a store directory mounted into the container applies a published
//! channel to a `dir` target and reports to the store. The image is the one deploy/ names.
//!
//! Runs when `CAIRN_TEST_IMAGE_ARCHIVE` names the archive (`scripts/test` builds it and sets it),
//! and then fails if podman is missing or the image does not work:
//!
//! ```sh
//! CAIRN_TEST_IMAGE_ARCHIVE=$(scripts/image) cargo test -p cairn-tests --test it image
//! ```

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_env_vars::EnvVars;
use cairn_tests::{cairn, clusters_on, publish};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A podman whose images, containers and locks live under a temporary directory: a run neither
/// sees nor leaves anything in the machine's storage. `scripts/image-podman.conf` holds the settings
/// some hosts need (see there).
struct Podman {
    storage: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        let found = Command::new("podman").arg("--version").output();
        assert!(
            found.is_ok_and(|out| out.status.success()),
            "{} is set but podman does not run (scripts/test installs it)",
            EnvVars::CAIRN_TEST_IMAGE_ARCHIVE
        );
        Podman {
            storage: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .env(
                "CONTAINERS_CONF",
                workspace().join("scripts/image-podman.conf"),
            )
            .arg("--root")
            .arg(self.storage.path().join("root"))
            .arg("--runroot")
            .arg(self.storage.path().join("run"))
            .arg("--tmpdir")
            .arg(self.storage.path().join("tmp"));
        command
    }

    /// `podman ARGS`; its stdout, or a panic with everything it said.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("podman runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `podman run` of `image` with `options` and the agent's `args`: no network (stores are
    /// mounted directories), nothing pulled.
    fn run_image(&self, image: &str, options: &[String], args: &[&str]) -> String {
        let mut all = vec!["run", "--rm", "--network", "none", "--pull", "never"];
        all.extend(options.iter().map(String::as_str));
        all.push(image);
        all.extend(args);
        self.run(&all)
    }

    /// Loads `archive`; the name the image is loaded as.
    fn load(&self, archive: &Path) -> String {
        let out = self.run(&["load", "--quiet", "--input", &archive.display().to_string()]);
        out.lines()
            .find_map(|l| l.strip_prefix("Loaded image: "))
            .unwrap_or_else(|| panic!("podman load named no image: {out}"))
            .trim()
            .to_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Rootless podman's layers belong to sub-UIDs the test cannot remove; podman can.
        let _ = self.command().args(["rmi", "--all", "--force"]).output();
    }
}

/// The image the DaemonSet of deploy/manifests runs (the chart renders the same, checked by the
/// agent's deploy test).
fn deployed_image() -> String {
    let path = workspace().join("deploy/manifests/40-daemonset.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let daemonset: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    daemonset["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_else(|| panic!("{} names no image", path.display()))
        .to_owned()
}

/// Lets the container's user, whoever the host maps it to, create files under `dir`.
fn writable_by_anyone(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            writable_by_anyone(&entry.path());
        }
    }
}

/// A store under `dir` with one ConfigMap published to `prod`, and empty target and state
/// directories, all of which the agent in the container may write (its status records go to
/// the store).
fn published(dir: &Path) {
    cairn(dir, &["keygen", "--out", "hub.key"]);
    std::fs::create_dir(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("m/web.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: app}\ndata: {color: blue}\n",
    )
    .unwrap();
    publish(dir, "store", "prod", &[]);
    for sub in ["store", "out", "state"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        writable_by_anyone(&dir.join(sub));
    }
}

/// `podman run` options for one pass over [`published`]: the directories mounted, the agent
/// configured through its variables as the DaemonSet configures it.
fn agent_options(dir: &Path) -> Vec<String> {
    let mounts = [
        ("store", "/store"),
        ("hub.key.pub", "/etc/cairn/hub.key.pub:ro"),
        ("out", "/out"),
        ("state", "/state"),
    ]
    .map(|(host, inside)| format!("--volume={}:{inside}", dir.join(host).display()));
    let variables = [
        (EnvVars::CAIRN_STORE, "/store"),
        (EnvVars::CAIRN_CHANNEL, "prod"),
        (EnvVars::CAIRN_TRUST, "/etc/cairn/hub.key.pub"),
        (EnvVars::CAIRN_CLUSTER_ID, "in-a-container"),
        (EnvVars::CAIRN_TARGET, "dir:/out"),
        (EnvVars::CAIRN_STATE_DIR, "/state"),
    ]
    .map(|(name, value)| format!("--env={name}={value}"));
    mounts.into_iter().chain(variables).collect()
}

#[test]
fn the_image_runs_the_agent_as_a_non_root_user() {
    let Some(archive) = std::env::var_os(EnvVars::CAIRN_TEST_IMAGE_ARCHIVE) else {
        eprintln!(
            "skipped: set CAIRN_TEST_IMAGE_ARCHIVE to the archive scripts/image writes (scripts/test does)"
        );
        return;
    };
    let archive = PathBuf::from(archive);
    assert!(
        archive.is_file(),
        "{} names {}, which does not exist",
        EnvVars::CAIRN_TEST_IMAGE_ARCHIVE,
        archive.display()
    );
    let podman = Podman::new();
    let image = podman.load(&archive);
    assert_eq!(
        image,
        deployed_image(),
        "the image deploy/ runs is not the one scripts/image builds"
    );

    let version = podman.run_image(&image, &[], &["--version"]);
    let expected = format!("cairn-agent {}", env!("CARGO_PKG_VERSION"));
    assert!(
        version.contains(&expected),
        "--version said {version:?}, not {expected:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    published(dir);
    podman.run_image(&image, &agent_options(dir), &["run", "--once"]);
    let applied = dir.join("out/app/ConfigMap/web.yaml");
    let text = std::fs::read_to_string(&applied).expect("the agent wrote the ConfigMap");
    assert!(text.contains("color: blue"), "{text}");
    let (writer, test) = (
        std::fs::metadata(&applied).unwrap().uid(),
        std::fs::metadata(dir).unwrap().uid(),
    );
    assert_ne!(
        writer, test,
        "the agent wrote as the test's own user: the image runs as root"
    );
    assert_eq!(
        clusters_on(dir, "store", "prod", 1),
        1,
        "the agent's status record"
    );
}
