//! Headless Chromium (Debian's package, which `scripts/test` installs when missing) loading pages
//! as a person's browser would, for the web view's tests: the DOM after load, and screenshots.

use cairn_env_vars::EnvVars;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a page load may take before the browser is stopped and the test fails.
const LOAD_LIMIT: Duration = Duration::from_secs(60);

/// A headless Chromium.
pub struct Browser {
    binary: PathBuf,
    profiles: tempfile::TempDir,
}

impl Browser {
    /// The browser `CAIRN_TEST_CHROMIUM` names, else `chromium` on the PATH; `None` (the test
    /// says it skipped) when there is neither.
    pub fn find() -> Option<Browser> {
        let binary = std::env::var_os(EnvVars::CAIRN_TEST_CHROMIUM)
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n)))
                        .find(|candidate| candidate.is_file())
                })
            })?;
        let profiles = tempfile::tempdir().expect("a profile directory");
        Some(Browser { binary, profiles })
    }

    fn run(&self, extra: &[String], url: &str) -> Vec<u8> {
        // A fresh profile per run, and nothing that would reach past loopback.
        let profile = tempfile::tempdir_in(self.profiles.path()).expect("a profile");
        let mut child = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| out)
        });
        let start = Instant::now();
        while child.try_wait().expect("chromium status").is_none() {
            if start.elapsed() > LOAD_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish loading {url} within {LOAD_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        reader
            .join()
            .expect("reader thread")
            .expect("chromium output")
    }

    /// The page's DOM after it loaded, serialized.
    pub fn dom(&self, url: &str) -> String {
        String::from_utf8_lossy(&self.run(&["--dump-dom".to_owned()], url)).into_owned()
    }

    /// A screenshot of the page, 1280 pixels wide, as a PNG at `path`.
    pub fn screenshot(&self, url: &str, path: &Path, height: u32) {
        let extra = [
            format!("--screenshot={}", path.display()),
            format!("--window-size=1280,{height}"),
        ];
        self.run(&extra, url);
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
            "{} is not a screenshot of a page ({} bytes)",
            path.display(),
            bytes.len()
        );
    }
}
