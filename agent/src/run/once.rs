//! `run --once`: one reconcile pass over every channel, and how it ended.

use std::collections::BTreeSet;

use cairn_state_format::{Phase, StatusRecord};

use super::Agent;
use super::discover::matching;
use super::report::Reporter;
use crate::reconcile::{Channel, PassResult};

/// How a `run --once` pass ended, and the process exit code that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every channel is converged (exit 0).
    Converged,
    /// Something failed or a head was refused; the previous state is kept (exit 1).
    Failed,
    /// Nothing failed, but a channel waits (rollout step not open, no head published yet)
    /// (exit 3).
    Waiting,
}

impl Outcome {
    /// The process exit code (2 is left for configuration errors).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Converged => 0,
            Outcome::Failed => 1,
            Outcome::Waiting => 3,
        }
    }

    fn of(phase: Phase) -> Outcome {
        match phase {
            Phase::Converged => Outcome::Converged,
            Phase::Failed | Phase::Frozen | Phase::Degraded => Outcome::Failed,
            Phase::Pending | Phase::Progressing | Phase::Waiting => Outcome::Waiting,
        }
    }

    fn worst(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Failed, _) | (_, Outcome::Failed) => Outcome::Failed,
            (Outcome::Waiting, _) | (_, Outcome::Waiting) => Outcome::Waiting,
            _ => Outcome::Converged,
        }
    }
}

/// What one `run --once` pass found.
#[derive(Clone, Debug)]
pub struct OnceReport {
    /// The overall outcome.
    pub outcome: Outcome,
    /// Each channel's status record after its pass (torn-down channels included).
    pub channels: Vec<StatusRecord>,
    /// Problems outside any one channel (a failed listing of channels).
    pub errors: Vec<String>,
}

impl Agent {
    /// One reconcile pass over every channel (checking the target for drift), then returns.
    /// A single pass takes part in no leader election: it leads.
    pub async fn run_once(&self) -> OnceReport {
        self.run_pass(true).await
    }

    /// One reconcile pass over every channel, as [`Agent::run_once`], checking the target for
    /// drift only with `resync` (as the running agent's passes between resyncs do not). Channels
    /// are kept between calls, as in the running agent.
    pub async fn run_pass(&self, resync: bool) -> OnceReport {
        self.leading.send_replace(crate::election::Standing::ALWAYS);
        let mut report = OnceReport {
            outcome: Outcome::Converged,
            channels: Vec::new(),
            errors: Vec::new(),
        };
        let work = self.once_work(&mut report).await;
        let mut kept = self.once.lock().await;
        for (name, discovered) in work {
            if !kept.contains_key(&name) {
                let channel = Channel::load(&self.ctx.reconcile, &name, discovered).await;
                kept.insert(name.clone(), (channel, Reporter::new()));
            }
            let Some((channel, reporter)) = kept.get_mut(&name) else {
                continue;
            };
            let result = channel.pass(&self.ctx.reconcile, resync).await;
            let torn_down = matches!(result, PassResult::TornDown);
            match result {
                PassResult::TornDown if discovered => reporter.remove(&self.ctx, &name).await,
                _ => reporter.report(&self.ctx, channel.status()).await,
            }
            let phase = if torn_down {
                Phase::Converged
            } else {
                channel.status().phase
            };
            report.outcome = report.outcome.worst(Outcome::of(phase));
            report.channels.push(channel.status().clone());
            if torn_down && discovered {
                kept.remove(&name);
            }
        }
        report
    }

    /// The channels of a single pass, named ones first, with whether each was discovered.
    async fn once_work(&self, report: &mut OnceReport) -> Vec<(String, bool)> {
        let named = self.named();
        let patterns = self.patterns();
        let mut names: Vec<String> = named.iter().cloned().collect();
        names.sort();
        let mut work: Vec<(String, bool)> = names.into_iter().map(|n| (n, false)).collect();
        if patterns.is_empty() {
            return work;
        }
        let reconcile = &self.ctx.reconcile;
        let mut candidates: BTreeSet<String> =
            reconcile.state.channels().await.into_iter().collect();
        match reconcile.reader.remote.list_channels().await {
            Ok(listed) => candidates.extend(listed),
            Err(e) => {
                report.outcome = Outcome::Failed;
                report.errors.push(format!("cannot list channels: {e}"));
            }
        }
        work.extend(
            matching(&patterns, &named, candidates)
                .into_iter()
                .map(|n| (n, true)),
        );
        work
    }
}
