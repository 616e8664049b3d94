//! A simulated fleet mid-rollout: status records written straight into a local store, as that
//! many agents would have written them, with the figures a page must then show counted here,
//! independently of the hub's code.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_state_format::{
    AppliedRef, Digest, POSITIONS, Phase, StatusError, StatusRecord, cohort_position, layout,
};
use chrono::{Duration, Utc};

/// What the simulated fleet looks like, for the test to compare with what a page shows.
#[derive(Debug, Default)]
pub struct Expected {
    /// Clusters per applied generation.
    pub by_generation: BTreeMap<u64, usize>,
    /// Clusters failed, degraded or frozen, with the newest error message of each.
    pub problems: BTreeMap<String, String>,
    /// Clusters silent for two hours.
    pub stale: Vec<String>,
    /// Clusters whose last resync corrected drift.
    pub drifted: usize,
    /// Clusters labelled `region=eu`.
    pub in_eu: usize,
}

/// One of the fleet's generations: its number and snapshot.
pub type Generation = (u64, Digest);

/// Writes `clusters` status records for `channel` into the local store at `store_dir`: the
/// clusters in the open cohort (`open_percent`, by the same cohort hash agents use) on `new` and
/// converged, the rest waiting on `old` for their step; across both, some failed (on `old`,
/// having seen `new`), some degraded, some stale, some with drift. One record's reason is
/// markup, which a page must show as text.
pub fn write_mid_rollout(
    store_dir: &Path,
    channel: &str,
    clusters: usize,
    open_percent: u32,
    (old, new): (Generation, Generation),
) -> Expected {
    let mut expected = Expected::default();
    let now = Utc::now();
    for i in 0..clusters {
        let cluster = format!("cluster-{i:04}");
        let mut r = StatusRecord::new(
            &cluster,
            channel,
            "cairn-agent 0.1.0",
            now - Duration::hours(3),
        );
        r.updated_at = now;
        r.labels = [
            ("region".to_owned(), ["eu", "us", "ap"][i % 3].to_owned()),
            ("tier".to_owned(), (i % 2 + 1).to_string()),
        ]
        .into();
        r.observed_generation = Some(new.0);
        let on_new = cohort_position(&cluster, channel) < open_percent * (POSITIONS / 100);
        let (generation, snapshot) = if on_new { new } else { old };
        r.applied = Some(AppliedRef {
            generation,
            snapshot,
        });
        r.counts.objects = 12;
        r.counts.healthy = 12;
        r.phase = if on_new {
            Phase::Converged
        } else {
            Phase::Waiting
        };
        shape(&mut r, i, old, now);
        if i % 61 == 5 {
            r.updated_at = now - Duration::hours(2);
            expected.stale.push(cluster.clone());
        }
        if i % 43 == 1 {
            r.counts.drifted = 2;
            expected.drifted += 1;
        }
        expected.in_eu += usize::from(i % 3 == 0);
        let applied = r.applied.as_ref().map_or(0, |a| a.generation);
        *expected.by_generation.entry(applied).or_default() += 1;
        if let Some(e) = r.errors.last() {
            expected.problems.insert(cluster.clone(), e.message.clone());
        }
        write_record(store_dir, &r);
    }
    expected
}

/// Writes `record` into the local store at `store_dir`, as its agent would have.
pub fn write_record(store_dir: &Path, record: &StatusRecord) {
    let path = store_dir.join(layout::status_key(&record.channel, &record.cluster));
    std::fs::create_dir_all(path.parent().expect("a status key has a folder"))
        .expect("status folder");
    std::fs::write(path, record.encode()).expect("status record written");
}

/// Makes cluster `i` fail (still on `old`), or degrade, or leaves it as it is.
fn shape(r: &mut StatusRecord, i: usize, old: Generation, now: chrono::DateTime<Utc>) {
    let error = |message: &str| StatusError {
        at: now,
        class: "apply".to_owned(),
        message: message.to_owned(),
        object: Some("Deployment.apps shop/web".to_owned()),
    };
    if i % 50 == 7 {
        r.phase = Phase::Failed;
        r.applied = Some(AppliedRef {
            generation: old.0,
            snapshot: old.1,
        });
        r.reason = Some(if i == 7 {
            "<script>alert('forged record')</script>".to_owned()
        } else {
            "the last apply failed".to_owned()
        });
        r.push_error(error(&format!(
            "admission webhook denied Deployment shop/web on {}: image not allowed",
            r.cluster
        )));
    } else if i % 97 == 3 {
        r.phase = Phase::Degraded;
        r.unhealthy = vec!["Deployment.apps shop/web".to_owned()];
        r.counts.healthy = 11;
        r.counts.degraded = 1;
        r.push_error(error(&format!(
            "Deployment shop/web on {} has 0 of 3 replicas ready",
            r.cluster
        )));
    }
}
