//! Crash points for tests: `CAIRN_FAILPOINT=<name>` aborts the process at that point, the way a
//! kill -9 or a lost CI runner would, so tests can show a crash at any step loses nothing.
//!
//! Compiled in only in builds with debug assertions (the test and dev builds): a release build
//! has no such hook. A cargo feature enabled through a self dev-dependency was tried first, but
//! the `cairn` binary that integration tests run is not always built with it under
//! `cargo test --workspace`, and the crash tests then silently test nothing.

/// Aborts the process if the environment asks to crash at `name`.
#[cfg(debug_assertions)]
pub fn hit(name: &str) {
    use cairn_env_vars::EnvVars;
    if std::env::var(EnvVars::CAIRN_FAILPOINT).is_ok_and(|wanted| wanted == name) {
        eprintln!("cairn: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// In release builds, nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &str) {}
