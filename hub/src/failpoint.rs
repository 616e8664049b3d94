//! Crash points for tests: `CAIRN_FAILPOINT=<name>` aborts the process at that point, the way a
//! kill -9 or a lost CI runner would, so tests can show a crash at any step loses nothing.
//!
//! Compiled in only with the `failpoints` feature, which the hub's own tests enable (a
//! dev-dependency on the crate itself with the feature): a release build has no such hook.

/// Aborts the process if the environment asks to crash at `name`.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    use cairn_env_vars::EnvVars;
    if std::env::var(EnvVars::CAIRN_FAILPOINT).is_ok_and(|wanted| wanted == name) {
        eprintln!("cairn: failpoint {name}: aborting");
        std::process::abort();
    }
}

/// Without the `failpoints` feature, nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
