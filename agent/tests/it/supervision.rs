//! Supervised tasks: a channel's follower that panics is restarted from its persisted state
//! (counted in `cairn_agent_follower_restarts_total`), and `/readyz` answers 503 while a channel
//! has no follower that finished a pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use cairn_agent::targets::{BatchReport, DirTarget, Inventory, Target, Write};
use cairn_agent::{Agent, TargetSpec};
use cairn_state_format::{EntrySet, ResourceId};
use tokio::sync::oneshot;

use crate::run_loop::get;
use crate::support::*;

/// The directory target, except that its first `panics` applies panic (a bug in a target, or
/// in the loop, as the supervisor sees it).
#[derive(Debug)]
struct Panicky {
    dir: DirTarget,
    panics: AtomicU32,
}

#[async_trait]
impl Target for Panicky {
    fn describe(&self) -> String {
        format!("panicky {}", self.dir.describe())
    }

    async fn inventory(
        &self,
        channel: &str,
        desired: &EntrySet,
        previous: &EntrySet,
        check_drift: bool,
    ) -> cairn_agent::Result<Inventory> {
        self.dir
            .inventory(channel, desired, previous, check_drift)
            .await
    }

    async fn apply(&self, channel: &str, writes: Vec<Write>) -> cairn_agent::Result<BatchReport> {
        let left = self.panics.load(Ordering::SeqCst);
        if left > 0 {
            self.panics.store(left - 1, Ordering::SeqCst);
            panic!("a bug in the target");
        }
        self.dir.apply(channel, writes).await
    }

    async fn delete(
        &self,
        channel: &str,
        ids: Vec<ResourceId>,
    ) -> cairn_agent::Result<BatchReport> {
        self.dir.delete(channel, ids).await
    }
}

/// Starts an agent following `prod` through a target whose first `panics` applies panic.
async fn start(
    panics: u32,
) -> (
    Dirs,
    Arc<cairn_agent::Metrics>,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<cairn_agent::Result<()>>,
) {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let target = Panicky {
        dir: DirTarget::open(&dirs.out, &dirs.state.join("dir-target")).unwrap(),
        panics: AtomicU32::new(panics),
    };
    let mut config = config(opened(&store), &["prod"], &dirs);
    config.target = TargetSpec::Custom;
    config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::builder(config)
        .target(Arc::new(target))
        .build()
        .unwrap();
    let metrics = agent.metrics().clone();
    let base = format!("http://{}", agent.metrics_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    (dirs, metrics, base, stop, running)
}

#[tokio::test]
async fn a_follower_that_panics_is_restarted_and_the_channel_converges() {
    let (dirs, metrics, base, stop, running) = start(1).await;
    let path = cm_path(&dirs, "a");
    eventually("the restarted follower applies generation 1", || {
        read(&path).is_some_and(|t| t.contains("v: '1'"))
    })
    .await;
    assert_eq!(metrics.follower_restarts("prod"), 1);
    let mut ready = 0;
    for _ in 0..500 {
        ready = get(&format!("{base}/readyz")).await.0;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        ready, 200,
        "ready again once the new follower finished a pass"
    );
    let (_, text) = get(&format!("{base}/metrics")).await;
    assert!(
        text.contains("cairn_agent_follower_restarts_total{channel=\"prod\"} 1"),
        "{text}"
    );
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_channel_whose_follower_keeps_failing_is_not_ready() {
    let (_dirs, metrics, base, stop, running) = start(u32::MAX).await;
    eventually("the follower was restarted at least three times", || {
        metrics.follower_restarts("prod") >= 3
    })
    .await;
    let (code, text) = get(&format!("{base}/readyz")).await;
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("prod"), "{text}");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
