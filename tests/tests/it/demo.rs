//! The README's first command, `scripts/demo`, run as a newcomer would: it must end with every
//! agent on the new generation.

use std::path::Path;
use std::process::Command;

use cairn_env_vars::EnvVars;

#[test]
fn the_demo_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(root.join("scripts/demo"))
        .env(EnvVars::CAIRN_DEMO_DIR, tmp.path().join("demo"))
        .output()
        .expect("scripts/demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("newest generation 2; 3 of 3 clusters on it"),
        "{stdout}"
    );
}
