//! Entry points ("doors") to one fake server, one per agent replica as each reaches the API
//! server over its own network path, and partitions that cut one off: its requests fail with
//! 503 (at once, or after hanging until healed) and are never processed, and its open watches
//! deliver nothing until it is healed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::world::World;

/// Whether a request for `path` through `door` is cut off.
pub fn is_cut(world: &World, door: &str, path: &str) -> bool {
    world.cuts.get(door).is_some_and(|cut| {
        cut.only
            .as_ref()
            .is_none_or(|only| path.split('/').any(|part| part == only))
    })
}

/// For a request cut off: waits as the cut says, and returns `true` (it is answered 503).
pub async fn cut_off(world: &Arc<Mutex<World>>, door: &str, path: &str) -> bool {
    let hang = {
        let world = lock(world);
        match world.cuts.get(door) {
            Some(cut) if is_cut(&world, door, path) => cut.hang,
            _ => return false,
        }
    };
    if hang {
        wait_healed(world, door, path, Duration::from_secs(30)).await;
    }
    true
}

/// Waits (bounded by `limit`) until `door` is no longer cut off for `path`.
pub async fn wait_healed(world: &Arc<Mutex<World>>, door: &str, path: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while is_cut(&lock(world), door, path) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn lock(world: &Arc<Mutex<World>>) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}
