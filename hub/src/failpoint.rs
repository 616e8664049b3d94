//! Crash points for tests: `CAIRN_FAILPOINT=<name>` aborts the process at that point, the way a
//! kill -9 or a lost CI runner would, so tests can show a crash at any step loses nothing.

/// Aborts the process if the environment asks to crash at `name`.
pub fn hit(name: &str) {
    if std::env::var("CAIRN_FAILPOINT").is_ok_and(|wanted| wanted == name) {
        eprintln!("cairn: failpoint {name}: aborting");
        std::process::abort();
    }
}
