//! Tenancy at the hub, through the real `cairn` binary: a delegation's scope keeps a team's
//! channels to their namespaces. Every escape of issue 23 is refused with exit 7 before
//! anything is written, each offender named by file, document and rule; a legitimate team
//! publish goes through; a promote of a snapshot the target channel's scope forbids is refused.

use std::path::Path;

use cairn_tests::{cairn, cairn_unchecked};

/// Every file under `dir`, counted: the store must not grow when a publish is refused.
fn files_in(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const ESCAPES: &[(&str, &str)] = &[
    (
        "other-team.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: steal, namespace: team-b-web}\n",
    ),
    (
        "rbac.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: admin-me}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n\
         subjects: [{kind: ServiceAccount, name: default, namespace: team-a-web}]\n",
    ),
    (
        "webhook.yaml",
        "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: intercept}\nwebhooks: []\n",
    ),
    (
        "node.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: root, namespace: kube-system}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: busybox, securityContext: {privileged: true}}]\n",
    ),
    (
        "unplaced.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wherever}\n",
    ),
];

fn setup(dir: &Path) -> String {
    for key in ["root", "team-a", "platform"] {
        cairn(dir, &["keygen", "--out", &format!("{key}.key")]);
    }
    let store = dir.join("store").display().to_string();
    cairn(
        dir,
        &["trust", "init", "--key", "root.key", "--store", &store],
    );
    store
}

#[test]
fn a_team_scope_refuses_every_escape_and_admits_its_own_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = setup(dir);
    let s = ["--store", store.as_str()];
    let unscoped = cairn_unchecked(
        dir,
        &[
            &["trust", "delegate", "team-a", "--channel", "team-a-*"][..],
            &["--signer", "team-a.key.pub", "--key", "root.key"],
            &s,
        ]
        .concat(),
    );
    assert_eq!(unscoped.status.code(), Some(2));
    let message = String::from_utf8_lossy(&unscoped.stderr);
    assert!(
        message.contains("--namespace") && message.contains("--unrestricted"),
        "{message}"
    );
    let show = String::from_utf8_lossy(&cairn(dir, &[&["trust", "show"][..], &s].concat()).stdout)
        .into_owned();
    assert!(show.contains("format 1"), "{show}");
    cairn(
        dir,
        &[
            &[
                "trust",
                "delegate",
                "team-a",
                "--channel",
                "team-a-*",
                "--signer",
                "team-a.key.pub",
            ][..],
            &[
                "--namespace",
                "$channel",
                "--deny-kind",
                "*.rbac.authorization.k8s.io",
                "--key",
                "root.key",
            ],
            &s,
        ]
        .concat(),
    );
    let show = String::from_utf8_lossy(
        &cairn(
            dir,
            &[&["trust", "show", "--channel", "team-a-web"][..], &s].concat(),
        )
        .stdout,
    )
    .into_owned();
    assert!(show.contains("format 2"), "{show}");
    assert!(
        show.contains("namespaces $channel; kinds *.*; deny *.rbac.authorization.k8s.io"),
        "{show}"
    );

    for (file, text) in ESCAPES {
        write(dir, &format!("escape/{file}"), text);
    }
    let before = files_in(&dir.join("store"));
    let refused = cairn_unchecked(
        dir,
        &[
            &[
                "publish",
                "--channel",
                "team-a-web",
                "--key",
                "team-a.key",
                "escape",
            ][..],
            &s,
        ]
        .concat(),
    );
    assert_eq!(
        refused.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let message = String::from_utf8_lossy(&refused.stderr);
    for expected in [
        "other-team.yaml, document 1: ConfigMap team-b-web/steal: namespace team-b-web is outside",
        "rbac.yaml, document 1: ClusterRoleBinding.rbac.authorization.k8s.io admin-me: kind ClusterRoleBinding.rbac.authorization.k8s.io is denied",
        "webhook.yaml, document 1: MutatingWebhookConfiguration.admissionregistration.k8s.io intercept:",
        "node.yaml, document 1: DaemonSet.apps kube-system/root: namespace kube-system is outside",
        "unplaced.yaml, document 1: ConfigMap wherever: names no namespace",
        "delegation \"team-a\"",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from:\n{message}"
        );
    }
    assert_eq!(
        files_in(&dir.join("store")),
        before,
        "a refused publish wrote to the store"
    );

    write(
        dir,
        "ok/web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: team-a-web}\n",
    );
    cairn(
        dir,
        &[
            &[
                "publish",
                "--channel",
                "team-a-web",
                "--key",
                "team-a.key",
                "ok",
            ][..],
            &s,
        ]
        .concat(),
    );
}

#[test]
fn promoting_content_a_scope_forbids_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = setup(dir);
    let s = ["--store", store.as_str()];
    cairn(
        dir,
        &[
            &[
                "trust",
                "delegate",
                "platform",
                "--channel",
                "platform-*",
                "--signer",
                "platform.key.pub",
            ][..],
            &[
                "--cluster-scoped",
                "--namespace",
                "kube-system",
                "--key",
                "root.key",
            ],
            &s,
        ]
        .concat(),
    );
    cairn(
        dir,
        &[
            &[
                "trust",
                "delegate",
                "team-a",
                "--channel",
                "team-a-*",
                "--signer",
                "team-a.key.pub",
            ][..],
            &["--namespace", "$channel", "--key", "root.key"],
            &s,
        ]
        .concat(),
    );
    write(dir, "platform/rbac.yaml", ESCAPES[1].1);
    cairn(
        dir,
        &[
            &[
                "publish",
                "--channel",
                "platform-rbac",
                "--key",
                "platform.key",
                "platform",
            ][..],
            &s,
        ]
        .concat(),
    );
    let before = files_in(&dir.join("store"));
    let refused = cairn_unchecked(
        dir,
        &[
            &[
                "promote",
                "--from",
                "platform-rbac",
                "--to",
                "team-a-web",
                "--key",
                "team-a.key",
            ][..],
            &s,
        ]
        .concat(),
    );
    assert_eq!(
        refused.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("ClusterRoleBinding.rbac.authorization.k8s.io admin-me: cluster-scoped"),
        "{message}"
    );
    assert_eq!(
        files_in(&dir.join("store")),
        before,
        "a refused promote wrote to the store"
    );
}
