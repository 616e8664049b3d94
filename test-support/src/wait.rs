//! Waiting for something that happens in another task or process, always bounded: a test that
//! waits stops by itself and says what it waited for.

use std::time::{Duration, Instant};

/// Blocks until `check` holds, polling every 100 ms; panics naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (about 20 s at most) until `check` holds, polling every 20 ms without blocking the
/// runtime; panics naming `what` after that.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}
