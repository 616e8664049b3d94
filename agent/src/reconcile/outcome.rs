//! What a pass tells the status record beyond counts: the objects the drift check found
//! (corrected or only reported), and what a pass that stopped part way wrote and did not.

use std::collections::HashSet;

use cairn_state_format::{
    DriftedObject, Incomplete, MAX_DRIFTED, MAX_PASS_OBJECTS, MAX_REASON_CHARS, PassObject,
    PassOutcome, ResourceId, truncate,
};

use super::execute::Executed;
use crate::targets::Inventory;

/// The drifted objects of a drift check: those corrected (written, and the write changed
/// something), then those only reported; with their total.
pub fn drifted(inventory: &Inventory, done: &Executed) -> (u64, Vec<DriftedObject>) {
    let unchanged: HashSet<&ResourceId> = done.unchanged.iter().collect();
    let applied: HashSet<&ResourceId> = done.applied.iter().collect();
    let corrected: Vec<&ResourceId> = inventory
        .drifted
        .iter()
        .filter(|id| applied.contains(id) && !unchanged.contains(id))
        .collect();
    let total = (corrected.len() + inventory.reported.len()) as u64;
    let listed = corrected
        .into_iter()
        .map(|id| (id, true))
        .chain(inventory.reported.iter().map(|id| (id, false)))
        .take(MAX_DRIFTED)
        .map(|(id, corrected)| DriftedObject {
            object: id.to_string(),
            corrected,
        })
        .collect();
    (total, listed)
}

/// What a pass applying `generation` did before it stopped: counts, and up to
/// [`MAX_PASS_OBJECTS`] objects, failures first.
pub fn incomplete(generation: u64, done: &Executed) -> Incomplete {
    let failed = done.failed.iter().map(|f| PassObject {
        object: f.id.to_string(),
        outcome: PassOutcome::Failed,
        reason: Some(truncate(&f.error.to_string(), MAX_REASON_CHARS)),
    });
    let others = [
        (&done.applied, PassOutcome::Written),
        (&done.pruned, PassOutcome::Pruned),
        (&done.not_started, PassOutcome::NotStarted),
    ];
    let objects = failed
        .chain(others.into_iter().flat_map(|(ids, outcome)| {
            ids.iter().map(move |id| PassObject {
                object: id.to_string(),
                outcome,
                reason: None,
            })
        }))
        .take(MAX_PASS_OBJECTS)
        .collect();
    Incomplete {
        generation,
        written: done.applied.len() as u64,
        pruned: done.pruned.len() as u64,
        failed: done.failed.len() as u64,
        not_started: done.not_started.len() as u64,
        objects,
    }
}

/// A sentence for the status reason: what the stopped pass did, then why it stopped.
pub fn summary(incomplete: &Incomplete, why: &str) -> String {
    format!(
        "generation {} partly applied ({} objects written, {} removed, {} failed, {} not \
         started): {why}",
        incomplete.generation,
        incomplete.written,
        incomplete.pruned,
        incomplete.failed,
        incomplete.not_started
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{ObjectFailure, TargetError};

    fn id(name: &str) -> ResourceId {
        ResourceId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "app".into(),
            name: name.into(),
        }
    }

    #[test]
    fn drift_counts_only_writes_that_changed_something() {
        let inventory = Inventory {
            drifted: [id("a"), id("b"), id("c")].into(),
            reported: [id("r")].into(),
            ..Inventory::default()
        };
        let done = Executed {
            applied: vec![id("a"), id("b")],
            unchanged: vec![id("b")],
            ..Executed::default()
        };
        let (total, listed) = drifted(&inventory, &done);
        assert_eq!(
            total, 2,
            "a corrected, r reported; b was not drift, c failed"
        );
        assert_eq!(listed[0].object, "ConfigMap app/a");
        assert!(listed[0].corrected && !listed[1].corrected);
    }

    #[test]
    fn a_stopped_pass_lists_failures_first() {
        let done = Executed {
            applied: vec![id("a")],
            failed: vec![ObjectFailure {
                id: id("b"),
                error: TargetError::NotOwned("x".repeat(1000)),
            }],
            not_started: vec![id("c"), id("d")],
            ..Executed::default()
        };
        let incomplete = incomplete(4, &done);
        assert_eq!(
            (
                incomplete.written,
                incomplete.failed,
                incomplete.not_started
            ),
            (1, 1, 2)
        );
        assert_eq!(incomplete.objects[0].outcome, PassOutcome::Failed);
        assert_eq!(
            incomplete.objects[0]
                .reason
                .as_ref()
                .unwrap()
                .chars()
                .count(),
            MAX_REASON_CHARS
        );
        assert!(
            summary(&incomplete, "forbidden")
                .starts_with("generation 4 partly applied (1 objects written, 0 removed, 1 failed")
        );
    }
}
