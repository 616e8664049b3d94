//! Holding a channel to its scope (the delegation's, see `cairn_state_format::Scope`), whoever
//! signed its head and however it reached the store: every object of a new generation is
//! checked before the first write, and one offender refuses the whole generation; a pass never
//! removes, nor writes again, an object outside the scope (one applied under a wider scope, or
//! a record pointing elsewhere): it skips it and says so.

use std::collections::HashSet;

use bytes::Bytes;
use cairn_state_format::{
    EntrySet, Placement, ResourceId, Scope, ScopeViolation, ScopedObject, StatusError,
};
use chrono::Utc;

use super::Channel;
use super::context::Converging;
use super::decide::keeping;
use super::phases::Rejection;
use super::plan::{Plan, is_definition};
use crate::error::{ErrorClass, OutOfScope, Result};
use crate::metrics::Metrics;
use crate::targets::{Landing, Target};

/// The objects among `ids` that `scope` does not allow `channel` to write, as (index in
/// `ids`, violation), in order; placed where `target` would put them (`definitions`: the CRDs
/// among the desired objects, whose kinds may not be served yet).
pub async fn violations(
    target: &dyn Target,
    channel: &str,
    scope: &Scope,
    ids: &[&ResourceId],
    definitions: &[Bytes],
) -> Result<Vec<(usize, ScopeViolation)>> {
    let landings = target.landings(ids, definitions).await?;
    Ok(ids
        .iter()
        .zip(&landings)
        .enumerate()
        .filter_map(|(i, (id, landing))| {
            let placement = match landing {
                Landing::Namespace(namespace) => Placement::Namespaced(namespace),
                Landing::Cluster => Placement::Cluster,
            };
            let object = ScopedObject::new(&id.group, &id.kind, placement, &id.name);
            scope.check(channel, &object).err().map(|v| (i, v))
        })
        .collect())
}

impl Channel {
    /// Checks every object of generation `generation` (`desired`, as selected for this
    /// cluster) against the channel's scope before anything of it is written. `None`: it may be
    /// applied; else the refusal, already recorded (status, metric, log), and the head is
    /// refused like one that failed verification (kept until it changes or a resync).
    pub(super) async fn refuse_out_of_scope(
        &mut self,
        at: Converging<'_>,
        generation: u64,
        desired: &EntrySet,
        etag: Option<String>,
    ) -> Result<Option<OutOfScope>> {
        let Some(scope) = self.allowed.scope() else {
            return Ok(None);
        };
        let ids: Vec<&ResourceId> = desired.keys().collect();
        let mut definitions = Vec::new();
        for entry in desired.values().filter(|e| is_definition(&e.id)) {
            definitions.push(at.fetch.blob(&entry.blob).await?);
        }
        let found = violations(at.target, &self.name, scope, &ids, &definitions).await?;
        if found.is_empty() {
            return Ok(None);
        }
        let refusal = OutOfScope::new(generation, found.into_iter().map(|(_, v)| v).collect());
        at.metrics.scope_refused(&self.name);
        for violation in &refusal.listed {
            self.record_error(&StatusError {
                at: Utc::now(),
                class: ErrorClass::Verify.as_str().to_owned(),
                message: refusal.message(violation),
                object: Some(violation.object.clone()),
            });
        }
        self.head = self.reject(Rejection::Scope(refusal.clone()), etag);
        Ok(Some(refusal))
    }

    /// The phase of a channel whose new head was just refused for its scope: frozen, serving
    /// what is applied.
    pub(super) fn frozen_out_of_scope(&mut self, metrics: &Metrics, refusal: &OutOfScope) {
        let reason = format!(
            "head refused: {refusal}; {}",
            keeping(self.holding.generation())
        );
        let error = self.hold_error(cairn_state_format::Phase::Frozen);
        self.hold(
            metrics,
            cairn_state_format::Phase::Frozen,
            Some(reason),
            error.as_ref(),
        );
    }

    /// `plan` without the objects outside the channel's scope (each logged and listed in the
    /// status as skipped). `writes_checked`: its writes are of a generation checked whole
    /// already, so only its removals are looked at.
    pub(super) async fn confine(
        &mut self,
        at: Converging<'_>,
        mut plan: Plan,
        writes_checked: bool,
    ) -> Result<Plan> {
        let Some(scope) = self.allowed.scope() else {
            return Ok(plan);
        };
        let ids: Vec<&ResourceId> = plan
            .steps
            .iter()
            .filter(|s| s.deletes || !writes_checked)
            .flat_map(|s| &s.items)
            .map(|item| &item.id)
            .collect();
        if ids.is_empty() {
            return Ok(plan);
        }
        // CRDs among what is written again are served already (they were applied before).
        let found = violations(at.target, &self.name, scope, &ids, &[]).await?;
        let Some((_, first)) = found.first() else {
            return Ok(plan);
        };
        let summary = format!(
            "{} objects outside the channel's scope were neither removed nor written again; first: {first}",
            found.len()
        );
        let skipped: HashSet<ResourceId> = found.iter().map(|(i, _)| ids[*i].clone()).collect();
        for (_, violation) in &found {
            tracing::warn!(object = %violation.object, rule = %violation.rule, "outside the channel's scope: skipped");
        }
        // One entry (not one per object): it repeats on every pass until the objects go.
        self.record_error(&StatusError {
            at: Utc::now(),
            class: ErrorClass::Apply.as_str().to_owned(),
            message: summary,
            object: None,
        });
        for step in &mut plan.steps {
            step.items.retain(|item| !skipped.contains(&item.id));
        }
        plan.steps.retain(|s| !s.items.is_empty());
        Ok(plan)
    }
}
