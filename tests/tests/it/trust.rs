//! The trust root through the real `cairn` binary: what people and scripts see. Refusals exit
//! with code 7 and name the reason before anything is uploaded; `cairn trust show` explains who
//! may sign what; a proposal is completed by `cairn sign`; every command answers `--output json`.

use std::path::Path;

use cairn_tests::{cairn, cairn_unchecked};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

fn setup(dir: &Path) -> String {
    for key in ["root1", "root2", "a", "b", "team-a"] {
        cairn(dir, &["keygen", "--out", &format!("{key}.key")]);
    }
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(
        dir.join("m/web.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {v: '1'}\n",
    )
    .unwrap();
    dir.join("store").display().to_string()
}

#[test]
fn the_cli_explains_refuses_and_collects_signatures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = setup(dir);
    let s = ["--store", store.as_str()];
    let init = cairn(
        dir,
        &[
            &[
                "trust",
                "init",
                "--key",
                "root1.key,root2.key",
                "--output",
                "json",
            ][..],
            &s,
        ]
        .concat(),
    );
    let init = json(&init);
    assert_eq!(init["version"], 1);
    assert_eq!(init["digest"], init["first_digest"]);
    cairn(
        dir,
        &[
            &[
                "trust",
                "delegate",
                "--unrestricted",
                "prod",
                "--channel",
                "prod",
                "--signer",
                "a.key.pub",
                "--signer",
                "b.key.pub",
                "--threshold",
                "2",
                "--key",
                "root1.key",
            ][..],
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
                "--unrestricted",
                "team-a",
                "--channel",
                "team-a-*",
                "--signer",
                "team-a.key.pub",
                "--key",
                "root2.key",
            ][..],
            &s,
        ]
        .concat(),
    );

    // Who may sign prod, explained.
    let shown = json(&cairn(
        dir,
        &[
            &["trust", "show", "--channel", "prod", "--output", "json"][..],
            &s,
        ]
        .concat(),
    ));
    assert_eq!(shown["version"], 3);
    assert_eq!(shown["first_digest"], init["digest"]);
    assert_eq!(shown["channel"]["delegation"], "prod");
    assert_eq!(shown["channel"]["threshold"], 2);
    assert_eq!(shown["versions"].as_array().unwrap().len(), 3);
    let text = String::from_utf8(
        cairn(
            dir,
            &[&["trust", "show", "--channel", "team-a-web"][..], &s].concat(),
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("channel team-a-web: delegation \"team-a\" decides"),
        "{text}"
    );
    // Version 1's bytes, as an agent installed from a file gets them.
    let raw = cairn(dir, &[&["trust", "show", "1", "--raw"][..], &s].concat()).stdout;
    let stored = std::fs::read(dir.join("store/trust/root/00000000000000000001")).unwrap();
    assert_eq!(raw, stored);

    // Refused up front with exit code 7 and the reason.
    let refused = cairn_unchecked(
        dir,
        &[
            &["publish", "--channel", "prod", "--key", "team-a.key", "m"][..],
            &s,
        ]
        .concat(),
    );
    assert_eq!(refused.status.code(), Some(7));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("may not sign channel \"prod\""), "{stderr}");
    assert!(!dir.join("store/blobs").exists(), "nothing uploaded");
    let short = cairn_unchecked(
        dir,
        &[
            &["publish", "--channel", "prod", "--key", "a.key", "m"][..],
            &s,
        ]
        .concat(),
    );
    assert_eq!(short.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&short.stderr).contains("--propose"));

    // Proposed by one key, completed by the second.
    let proposed = json(&cairn(
        dir,
        &[
            &[
                "publish",
                "--channel",
                "prod",
                "--key",
                "a.key",
                "--propose",
                "m",
                "--output",
                "json",
            ][..],
            &s,
        ]
        .concat(),
    ));
    assert_eq!(proposed["generation"], 1);
    assert_eq!(proposed["proposal"]["threshold"], 2);
    assert!(
        !dir.join("store/channels/prod/head").exists(),
        "agents see nothing yet"
    );
    let waiting = json(&cairn(
        dir,
        &[
            &["sign", "--channel", "prod", "--list", "--output", "json"][..],
            &s,
        ]
        .concat(),
    ));
    assert_eq!(waiting[0]["open"], true);
    assert_eq!(waiting[0]["signers"].as_array().unwrap().len(), 1);
    let signed = json(&cairn(
        dir,
        &[
            &[
                "sign",
                "--channel",
                "prod",
                "--key",
                "b.key",
                "--output",
                "json",
            ][..],
            &s,
        ]
        .concat(),
    ));
    assert_eq!(signed["published"], true);
    assert!(dir.join("store/channels/prod/head").exists());

    // A root key that is not at hand cannot be replaced by one that is not a root key.
    let not_root = cairn_unchecked(
        dir,
        &[&["trust", "rotate", "--key", "a.key"][..], &s].concat(),
    );
    assert_eq!(not_root.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&not_root.stderr).contains("is not a root key"));
}
