//! The workspace's own binaries, for tests that run them as processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

/// Path of a workspace binary (`cairn` or `cairn-agent`), built once per test process so it is
/// never stale: running only one package's tests would otherwise exercise whatever binary an
/// earlier build left behind.
pub fn binary(name: &str) -> PathBuf {
    static HUB: Once = Once::new();
    static AGENT: Once = Once::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support/ is inside the workspace");
    let (once, package) = match name {
        "cairn" => (&HUB, "cairn-hub"),
        "cairn-agent" => (&AGENT, "cairn-agent"),
        other => panic!("{other} is not a binary of the workspace"),
    };
    once.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package])
            .current_dir(root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {package} failed");
    });
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}
