//! Reading input as `kubectl` does, end to end with the real `cairn` and `cairn-agent`: typed
//! lists, `--namespace` for install manifests with CRDs and their custom resources, inputs
//! reached twice, and names the API server would refuse, refused before anything is stored.
//! Fixtures: `tests/fixtures/input/`.

use cairn_env_vars::EnvVars;
use std::path::{Path, PathBuf};

use cairn_tests::{agent_once, cairn, cairn_unchecked, publish_args};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/input")
}

/// A temporary directory with a key and a copy of the install fixtures in `m/`.
fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    cairn(tmp.path(), &["keygen", "--out", "hub.key"]);
    copy_dir(&fixtures().join("install"), &tmp.path().join("m"));
    tmp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &to.join(item.file_name()));
        } else {
            std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
        }
    }
}

/// Paths of every file under `root`, relative to it.
fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn an_install_manifest_with_crds_lists_and_namespace_lands_where_kubectl_would_put_it() {
    let tmp = setup();
    let dir = tmp.path();
    // The CRD directory first, then the directory holding it: a common way to order CRDs.
    let out = cairn(
        dir,
        &publish_args(
            "store",
            "prod",
            "hub.key",
            &["--namespace", "shop", "m/crds", "m"],
        ),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("19 objects"), "{stdout}");
    let store = dir.join("store");
    assert_eq!(agent_once(dir, store.to_str().unwrap(), "prod", "c1"), 0);
    let applied = files_under(&dir.join("target-c1"));
    for expected in [
        // Namespace-less namespaced objects, built-in and custom, went to shop.
        "shop/ServiceAccount/operator.yaml",
        "shop/Role.rbac.authorization.k8s.io/operator.yaml",
        "shop/Deployment.apps/operator.yaml",
        "shop/Service/operator-metrics.yaml",
        "shop/Widget.example.com/default-widget.yaml",
        // From typed lists of several groups, and from a plain List.
        "shop/ConfigMap/settings.yaml",
        "shop/ConfigMap/limits.yaml",
        "shop/Role.rbac.authorization.k8s.io/reader.yaml",
        "shop/RoleBinding.rbac.authorization.k8s.io/reader.yaml",
        "shop/ConfigMap/from-plain-list.yaml",
        "shop/Widget.example.com/listed-widget.yaml",
        "shop/Widget.example.com/typed-widget.yaml",
        // An object naming another namespace keeps it.
        "kube-system/Role.rbac.authorization.k8s.io/operator:leader-election.yaml",
        // Cluster-scoped objects, built-in and custom, stay without one.
        "_cluster/ClusterRole.rbac.authorization.k8s.io/operator:widgets.yaml",
        // A built-in cluster-scoped object that named a namespace lost it, as on the API server.
        "_cluster/ClusterRoleBinding.rbac.authorization.k8s.io/operator:widgets.yaml",
        "_cluster/CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com.yaml",
        "_cluster/Gadget.example.com/cluster-gadget.yaml",
    ] {
        assert!(
            applied.iter().any(|f| f == expected),
            "{expected} not in {applied:#?}"
        );
    }
    let placed =
        std::fs::read_to_string(dir.join("target-c1/shop/Widget.example.com/default-widget.yaml"))
            .unwrap();
    assert!(placed.contains("namespace: shop"), "{placed}");

    // CAIRN_NAMESPACE says the same: the same snapshot, so nothing to publish.
    let out = std::process::Command::new(cairn_tests::binary("cairn"))
        .current_dir(dir)
        .args(publish_args("store", "prod", "hub.key", &["m"]))
        .env(EnvVars::CAIRN_NAMESPACE, "shop")
        .env(EnvVars::CAIRN_CACHE_DIR, dir.join(".cairn-cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("content unchanged"));
}

#[test]
fn without_namespace_objects_are_published_as_written_and_counted_once() {
    let tmp = setup();
    let dir = tmp.path();
    let out = cairn(dir, &publish_args("store", "prod", "hub.key", &["m"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 5 built-in namespaced objects in operator.yaml, 5 in lists.yaml, and 3 Widgets (their
    // CRD is in the snapshot), all without a namespace.
    assert_eq!(stderr.matches("name no namespace").count(), 1, "{stderr}");
    assert!(
        stderr.contains("13 objects of namespaced kinds"),
        "{stderr}"
    );
    assert!(stderr.contains("--namespace"), "{stderr}");
}

#[test]
fn a_custom_resource_whose_crd_is_missing_is_not_guessed() {
    let tmp = setup();
    let dir = tmp.path();
    std::fs::remove_dir_all(dir.join("m/crds")).unwrap();
    let out = cairn_unchecked(
        dir,
        &publish_args("store", "prod", "hub.key", &["--namespace", "shop", "m"]),
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "operator.yaml, document 9: Widget.example.com default-widget has no metadata.namespace"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("lists.yaml, document 5, item 1: Widget.example.com typed-widget"),
        "{stderr}"
    );
    assert!(stderr.contains("--namespace cannot place it"), "{stderr}");
    assert!(
        !dir.join("store").join("channels").exists(),
        "nothing was published"
    );
}

#[test]
fn a_file_reached_twice_is_read_once_and_a_real_duplicate_names_both_files() {
    let tmp = setup();
    let dir = tmp.path();
    std::os::unix::fs::symlink(dir.join("m/lists.yaml"), dir.join("m/lists-link.yaml")).unwrap();
    let out = cairn(
        dir,
        &publish_args(
            "store",
            "prod",
            "hub.key",
            &[
                "-n",
                "shop",
                "m",
                "m/crds",
                "m/lists.yaml",
                "m/crds/widgets.yaml",
            ],
        ),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("19 objects"));

    std::fs::copy(dir.join("m/lists.yaml"), dir.join("m/copy.yaml")).unwrap();
    let out = cairn_unchecked(
        dir,
        &publish_args("store", "prod", "hub.key", &["-n", "shop", "m"]),
    );
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ConfigMap shop/settings is declared twice: in m/copy.yaml, document 1, item 1 and in m/lists-link.yaml, document 1, item 1"),
        "{stderr}"
    );
}

#[test]
fn names_the_api_server_would_refuse_are_all_reported_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    cairn(dir, &["keygen", "--out", "hub.key"]);
    copy_dir(&fixtures().join("invalid"), &dir.join("bad"));
    let out = cairn_unchecked(dir, &publish_args("store", "prod", "hub.key", &["bad"]));
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "bad/crd.yaml, document 1: field metadata.name: \"things\" must be spec.names.plural + \".\" + spec.group",
        "bad/names.yaml, document 8: field metadata.name: is missing, and metadata.generateName",
        "bad/names.yaml, document 9: field metadata.labels.team/owner/x:",
        "bad/names.yaml, document 9: field metadata.labels.tier: value \"front end\"",
        "bad/names.yaml, document 9: field metadata.annotations.prometheus.io/port: must be a string",
        "bad/names.yaml, document 10, item 1: field metadata.name: is missing",
        "bad/names.yaml, document 1: field metadata.name: \"../../../../escape\" is not a valid ConfigMap name",
        "bad/names.yaml, document 2: field metadata.namespace: \"../..\" is not a valid namespace",
        "bad/names.yaml, document 3: field metadata.name: \"team.shop\" is not a valid Namespace name",
        "bad/names.yaml, document 4: field metadata.name: \"8-web\" is not a valid Service name",
        "bad/names.yaml, document 5: field metadata.name: \"reader/all\" is not a valid ClusterRole.rbac.authorization.k8s.io name",
        "bad/names.yaml, document 6: field metadata.name: \"Web\" is not a valid Ingress.networking.k8s.io name",
        "bad/names.yaml, document 7: field metadata.name: \"db.primary\" is not a valid StatefulSet.apps name",
        "13 problems; nothing was published",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(
        !dir.join("store").join("blobs").exists(),
        "nothing reached the store"
    );
}

#[test]
fn env_up_reads_the_same_way_and_flag_names_are_checked() {
    let tmp = setup();
    let dir = tmp.path();
    let out = cairn(
        dir,
        &[
            "env",
            "up",
            "pr-7",
            "--store",
            "store",
            "--key",
            "hub.key",
            "--namespace",
            "pr-7",
            "m",
        ],
    );
    assert!(out.status.success());
    let show = cairn(
        dir,
        &[
            "show",
            "--store",
            "store",
            "--channel",
            "pr-7",
            "--output",
            "json",
        ],
    );
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("\"namespace\": \"pr-7\""), "{text}");

    let bad_namespace = cairn_unchecked(
        dir,
        &publish_args("store", "prod", "hub.key", &["--namespace", "Shop", "m"]),
    );
    assert_eq!(bad_namespace.status.code(), Some(2));
    let flag = cairn_unchecked(
        dir,
        &[
            "flag",
            "set",
            "new-checkout=true",
            "--store",
            "store",
            "--channel",
            "pr-7",
            "--key",
            "hub.key",
            "--owner",
            "team",
            "--expires",
            "2099-01-01",
            "--namespace",
            "../..",
        ],
    );
    assert_eq!(
        flag.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&flag.stderr)
    );
    assert!(String::from_utf8_lossy(&flag.stderr).contains("field metadata.namespace"));
}
