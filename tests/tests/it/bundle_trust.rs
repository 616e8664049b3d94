//! A bundle carries the store's trust root: agents at the far site installed with the same root
//! (version 1's digest) converge on what was imported; a target store with another root, or a
//! root under which agents there would refuse the newest head, refuses the file with nothing
//! written.

use std::path::Path;

use cairn_tests::{Delegate, agent_once_trusting, cairn, cairn_json, cairn_unchecked};

fn setup(dir: &Path) {
    for key in ["admin", "hub", "other-admin"] {
        cairn(dir, &["keygen", "--out", &format!("{key}.key")]);
    }
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("m/web.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: app}\ndata: {v: '1'}\n",
    )
    .unwrap();
}

/// A trust root on `store` (signed by `admin`) that delegates `prod` to the hub key; returns
/// version 1's digest.
fn root(dir: &Path, store: &str, admin: &str) -> String {
    let init = cairn_json(dir, &["trust", "init", "--key", admin, "--store", store]);
    let prod = Delegate {
        name: "prod",
        channel: "prod",
        signers: &["hub.key.pub"],
        threshold: 1,
        scope: &[],
    };
    prod.write(dir, store, admin);
    init["first_digest"].as_str().unwrap().to_owned()
}

fn files_under(dir: &Path) -> usize {
    walk(dir)
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[test]
fn the_trust_root_travels_with_the_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let home = dir.join("home").display().to_string();
    let digest = root(dir, &home, "admin.key");
    cairn(
        dir,
        &[
            "publish",
            "--store",
            &home,
            "--channel",
            "prod",
            "--key",
            "hub.key",
            "m",
        ],
    );
    cairn(
        dir,
        &[
            "export",
            "--store",
            &home,
            "--channel",
            "prod",
            "--out",
            "prod.cairn",
        ],
    );

    // An empty far store gets the root's two versions before the head.
    let far = dir.join("far").display().to_string();
    let imported = cairn_json(dir, &["import", "prod.cairn", "--store", &far]);
    assert_eq!(imported["trust_root_versions_written"], 2, "{imported}");
    let trusting = ["--trust-root-digest", digest.as_str()];
    assert_eq!(
        agent_once_trusting(dir, &far, "prod", "far-1", &trusting),
        0
    );
    let applied = dir.join("target-far-1/app/ConfigMap/web.yaml");
    assert!(std::fs::read_to_string(applied).unwrap().contains("v: '1'"));
    // Again: nothing more to write.
    let again = cairn_json(dir, &["import", "prod.cairn", "--store", &far]);
    assert_eq!(again["trust_root_versions_written"], 0, "{again}");

    // A store with a root of its own is another organisation's: refused whole.
    let foreign = dir.join("foreign").display().to_string();
    root(dir, &foreign, "other-admin.key");
    let before = files_under(&dir.join("foreign"));
    let refused = cairn_unchecked(dir, &["import", "prod.cairn", "--store", &foreign]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("different roots"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(files_under(&dir.join("foreign")), before, "nothing written");

    // The far site revokes the hub key (a newer version than the bundle's): the same bundle
    // is now refused there, since agents would refuse its head.
    cairn(
        dir,
        &[
            "trust",
            "undelegate",
            "prod",
            "--key",
            "admin.key",
            "--store",
            &far,
        ],
    );
    let refused = cairn_unchecked(dir, &["import", "prod.cairn", "--store", &far]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("agents would refuse generation 1"),
        "{stderr}"
    );
}
