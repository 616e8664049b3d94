//! Every task a running agent spawns, and what happens when one ends. Nothing is dropped
//! unobserved (as kube-runtime's controller and linkerd2-proxy never drop a `JoinHandle`):
//!
//! - a channel's follower that panics or returns while the agent is not shutting down is
//!   restarted from the persisted state after a backoff, counted in
//!   `cairn_agent_follower_restarts_total`, and readiness drops until its first pass is over;
//! - a follower of a discovered channel that tore the channel down is let go;
//! - any other task (the metrics server, the election, discovery, the cache sweeper) that ends
//!   early ends the agent with an error, so the process exits non-zero and Kubernetes restarts
//!   the pod.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinError, JoinSet};

use super::Ctx;
use super::discover::Membership;
use super::follower::{Ended, first_offset, follow, sleep_or_shutdown};
use super::schedule::Schedule;
use crate::error::{Error, Result, Retry};
use crate::reconcile::Channel;
use crate::serve::Readiness;

/// How a supervised task ended.
enum TaskEnd {
    /// A service returned.
    Service,
    /// A follower stopped.
    Follower(Ended),
}

/// What a supervised task is.
enum Member {
    Service(&'static str),
    Follower { channel: String, discovered: bool },
}

/// When a follower starts.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    /// After the random first-poll offset (at start-up).
    Offset,
    /// After this delay (a restart's backoff).
    After(Duration),
}

/// The tasks of one running agent.
pub(crate) struct Supervisor {
    ctx: Arc<Ctx>,
    stopped: watch::Receiver<bool>,
    readiness: Arc<Readiness>,
    membership: Arc<Membership>,
    tasks: JoinSet<TaskEnd>,
    members: HashMap<Id, Member>,
    /// Per channel, the backoff of its restarts.
    restarts: HashMap<String, Schedule>,
}

impl Supervisor {
    /// A supervisor whose tasks stop when `stopped` turns true.
    pub fn new(
        ctx: Arc<Ctx>,
        stopped: watch::Receiver<bool>,
        readiness: Arc<Readiness>,
        membership: Arc<Membership>,
    ) -> Supervisor {
        Supervisor {
            ctx,
            stopped,
            readiness,
            membership,
            tasks: JoinSet::new(),
            members: HashMap::new(),
            restarts: HashMap::new(),
        }
    }

    /// Runs a task the agent cannot do without until shutdown.
    pub fn service(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let handle = self.tasks.spawn(async move {
            task.await;
            TaskEnd::Service
        });
        self.members.insert(handle.id(), Member::Service(name));
    }

    /// Follows `channel`, loading its state when `start` says.
    pub fn follow(&mut self, channel: String, discovered: bool, start: Start) {
        self.readiness.starting(&channel);
        let (ctx, readiness, mut stopped) = (
            self.ctx.clone(),
            self.readiness.clone(),
            self.stopped.clone(),
        );
        let name = channel.clone();
        let handle = self.tasks.spawn(async move {
            let stopping = match start {
                Start::Offset => first_offset(&ctx, &mut stopped).await,
                Start::After(delay) => sleep_or_shutdown(delay, &mut stopped).await,
            };
            if stopping {
                return TaskEnd::Follower(Ended::Shutdown);
            }
            let channel = Channel::load(&ctx.reconcile, &name, discovered).await;
            TaskEnd::Follower(follow(ctx, channel, stopped, readiness).await)
        });
        self.members.insert(
            handle.id(),
            Member::Follower {
                channel,
                discovered,
            },
        );
    }

    /// Watches the tasks until `shutdown` completes (then `Ok`) or a service ends (then the
    /// error that ends the agent); starts the channels discovery sends on `discovered`.
    pub async fn watch(
        &mut self,
        shutdown: impl Future<Output = ()>,
        mut discovered: Option<mpsc::UnboundedReceiver<String>>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            let next_start = async {
                match &mut discovered {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                Some(channel) = next_start => self.follow(channel, true, Start::Offset),
                Some(joined) = self.tasks.join_next_with_id() => self.observe(joined)?,
            }
        }
    }

    /// Waits for the tasks to finish (the stop signal was sent), for at most `timeout`; then
    /// aborts what is left.
    pub async fn drain(&mut self, timeout: Duration) {
        let drained = tokio::time::timeout(timeout, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("in-flight work did not finish within the drain timeout; stopping it");
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
    }

    /// Acts on a task's end: restarts a follower, lets a torn-down one go, or fails.
    fn observe(&mut self, joined: std::result::Result<(Id, TaskEnd), JoinError>) -> Result<()> {
        let (id, end) = match joined {
            Ok((id, end)) => (id, Ok(end)),
            Err(e) => (e.id(), Err(why(e))),
        };
        let Some(member) = self.members.remove(&id) else {
            return Ok(());
        };
        match (member, end) {
            (Member::Service(task), Ok(_)) => Err(Error::Task {
                task,
                why: "it returned".to_owned(),
            }),
            (Member::Service(task), Err(why)) => Err(Error::Task { task, why }),
            (Member::Follower { channel, .. }, Ok(TaskEnd::Follower(Ended::TornDown))) => {
                self.readiness.forget(&channel);
                self.ctx.reconcile.metrics.forget(&channel);
                self.membership.retire(&channel);
                Ok(())
            }
            (
                Member::Follower {
                    channel,
                    discovered,
                },
                end,
            ) => {
                let why = end.err().unwrap_or_else(|| "it returned".to_owned());
                self.restart(channel, discovered, &why);
                Ok(())
            }
        }
    }

    /// Starts a new follower for `channel` after a backoff.
    fn restart(&mut self, channel: String, discovered: bool, why: &str) {
        let delay = self
            .restarts
            .entry(channel.clone())
            .or_insert_with(|| Schedule::new(&self.ctx.timing))
            .failure(Retry::Transient);
        tracing::error!(
            channel,
            why,
            ?delay,
            "the channel's follower ended; restarting it"
        );
        self.ctx.reconcile.metrics.follower_restarted(&channel);
        self.follow(channel, discovered, Start::After(delay));
    }
}

/// What a task that did not return said: its panic message, or that it was cancelled.
fn why(e: JoinError) -> String {
    if !e.is_panic() {
        return "it was cancelled".to_owned();
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("it panicked: {message}")
}
