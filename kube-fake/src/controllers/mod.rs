//! The controllers the fake plays, after the real ones: a workload's status is written by its
//! controller some time after the write that changed its spec, never by that write (the
//! Deployment controller's `calculateStatus` in `pkg/controller/deployment/sync.go` and
//! `syncRolloutStatus` in `progress.go`; the StatefulSet and DaemonSet controllers alike). How
//! rollouts go is set per test ([`Rollout`]):
//!
//! - [`Rollout::AtOnce`] (the default, for tests that are not about health): the rolled-out
//!   status is written with the write, as if the controller had finished before anyone looked;
//! - [`Rollout::After`]: the write's answer still shows its generation unobserved; at once the
//!   controller observes it (no pod ready yet: Progressing `ReplicaSetUpdated`, Available
//!   False), and after the delay every pod is ready (Progressing `NewReplicaSetAvailable`,
//!   Available True);
//! - [`Rollout::Stalled`]: pods never become ready (a cluster without nodes, an image that
//!   cannot be pulled); with a deadline, a Deployment's progress deadline is exceeded after it
//!   (Progressing False `ProgressDeadlineExceeded`).
//!
//! Steps are timers on tokio's clock, written by a driver task ([`drive`]); a step is written
//! only while the object still has the generation it was scheduled for, as the real
//! controllers only ever write what they observed last.

mod status;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::ssa::{self, Writer};
pub use crate::world::Rollout;
use crate::world::{Kind, Step, Timer, World};

/// The manager controllers write status as.
const MANAGER: &str = "kube-controller-manager";

/// Whether a controller writes the status of objects of `kind`.
fn is_workload(kind: &Kind) -> bool {
    kind.group == "apps"
        && matches!(
            kind.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet"
        )
}

fn generation(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap_or(0)
}

/// Before a write is stored (dry runs too): with [`Rollout::AtOnce`], the rolled-out status
/// goes into the object written.
pub fn at_write(world: &mut World, kind: &Kind, object: &mut Value) {
    if world.rollout != Rollout::AtOnce || !is_workload(kind) {
        return;
    }
    let time = world.tick();
    let status = status::of(kind, object, Step::Available, &time);
    let status = status::keep_unchanged_conditions(status, &object["status"]);
    if object["status"] != status {
        write_status(object, status, kind, &time);
    }
}

/// After a write is stored: when it changed the spec, schedules the steps of the rollout.
pub fn after_commit(world: &mut World, kind: &Kind, key: &str, previous: Option<&Value>) {
    if !is_workload(kind) {
        return;
    }
    let Some(object) = world.objects.get(key) else {
        return;
    };
    let generation = generation(object);
    if previous.is_some_and(|p| self::generation(p) == generation) {
        return;
    }
    let now = Instant::now();
    let schedule = |after: Duration, step: Step| Timer {
        due: now + after,
        kind: kind.clone(),
        key: key.to_owned(),
        generation,
        step,
    };
    let steps = match world.rollout {
        Rollout::AtOnce => return,
        Rollout::After(delay) => vec![
            schedule(Duration::ZERO, Step::Observed),
            schedule(delay, Step::Available),
        ],
        Rollout::Stalled { deadline } => {
            let mut steps = vec![schedule(Duration::ZERO, Step::Observed)];
            if let Some(deadline) = deadline.filter(|_| kind.kind == "Deployment") {
                steps.push(schedule(deadline, Step::DeadlineExceeded));
            }
            steps
        }
    };
    world.timers.extend(steps);
    world.wake.notify_one();
}

/// Writes every step due by `now`.
fn fire_due(world: &mut World, now: Instant) {
    let (due, later): (Vec<Timer>, Vec<Timer>) = std::mem::take(&mut world.timers)
        .into_iter()
        .partition(|t| t.due <= now);
    world.timers = later;
    for timer in due {
        fire(world, timer);
    }
}

/// Writes one step, if the object still has the generation it was scheduled for.
fn fire(world: &mut World, timer: Timer) {
    let Some(live) = world.objects.get(&timer.key).cloned() else {
        return;
    };
    if generation(&live) != timer.generation {
        return;
    }
    let time = world.tick();
    let status = status::of(&timer.kind, &live, timer.step, &time);
    let status = status::keep_unchanged_conditions(status, &live["status"]);
    if live["status"] == status {
        return;
    }
    let mut next = live.clone();
    write_status(&mut next, status, &timer.kind, &time);
    world.stamp(&mut next, Some(&live));
    world.commit(&timer.kind, timer.key, Some(next));
}

fn write_status(object: &mut Value, status: Value, kind: &Kind, time: &str) {
    let api_version = kind.api_version();
    let writer = Writer {
        manager: MANAGER,
        api_version: &api_version,
        time,
    };
    ssa::write_status(object, status, &writer);
}

/// Runs the controllers of `world`: writes each scheduled step when it is due. Runs as long
/// as the runtime that started the fake.
pub async fn drive(world: Arc<Mutex<World>>) {
    let wake = lock(&world).wake.clone();
    loop {
        let next = {
            let mut world = lock(&world);
            fire_due(&mut world, Instant::now());
            world.timers.iter().map(|t| t.due).min()
        };
        match next {
            Some(due) => tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = wake.notified() => {}
            },
            None => wake.notified().await,
        }
    }
}

fn lock(world: &Arc<Mutex<World>>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::world::key;

    fn condition(world: &World, k: &str, kind: &str) -> (String, String) {
        let conditions = world.objects[k]["status"]["conditions"].clone();
        let c = conditions
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind)
            .cloned()
            .unwrap_or_default();
        let text = |field: &str| c[field].as_str().unwrap_or_default().to_owned();
        (text("status"), text("reason"))
    }

    #[test]
    fn a_rollout_is_observed_then_available_and_a_stalled_one_exceeds_its_deadline() {
        let mut world = World::new();
        let kind = world
            .kinds
            .iter()
            .find(|k| k.kind == "Deployment")
            .cloned()
            .unwrap();
        let k = key("apps", "deployments", "app", "web");
        let written = |generation: i64, replicas: i64| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "app", "generation": generation},
                   "spec": {"replicas": replicas}})
        };
        world.rollout = Rollout::After(Duration::from_secs(5));
        world.commit(&kind, k.clone(), Some(written(1, 2)));
        after_commit(&mut world, &kind, &k, None);
        let start = Instant::now();
        fire_due(&mut world, start);
        let status = world.objects[&k]["status"].clone();
        assert_eq!(status["observedGeneration"], 1);
        assert_eq!(status["unavailableReplicas"], 2);
        assert!(status.get("availableReplicas").is_none(), "{status}");
        assert_eq!(
            condition(&world, &k, "Progressing"),
            ("True".into(), "ReplicaSetUpdated".into())
        );
        fire_due(&mut world, start + Duration::from_secs(5));
        assert_eq!(world.objects[&k]["status"]["availableReplicas"], 2);
        assert_eq!(
            condition(&world, &k, "Available"),
            ("True".into(), "MinimumReplicasAvailable".into())
        );
        assert_eq!(
            condition(&world, &k, "Progressing"),
            ("True".into(), "NewReplicaSetAvailable".into())
        );

        // The next generation stalls; its deadline passes; a step of an older one is dropped.
        world.rollout = Rollout::Stalled {
            deadline: Some(Duration::from_secs(3)),
        };
        let previous = world.objects[&k].clone();
        world.commit(&kind, k.clone(), Some(written(2, 3)));
        after_commit(&mut world, &kind, &k, Some(&previous));
        fire_due(&mut world, start + Duration::from_secs(10));
        assert_eq!(world.objects[&k]["status"]["observedGeneration"], 2);
        assert_eq!(
            condition(&world, &k, "Progressing"),
            ("False".into(), "ProgressDeadlineExceeded".into())
        );
        assert!(world.timers.is_empty());
    }
}
