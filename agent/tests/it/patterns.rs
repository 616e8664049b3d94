//! Channel patterns: channels are picked up as they appear and torn down (everything they applied
//! pruned) when their head goes away, their latest generation is empty, or they retire.

use std::time::Duration;

use crate::support::*;
use cairn_agent::{Agent, Outcome};
use chrono::Utc;
use tokio::sync::oneshot;

fn path(dirs: &Dirs, name: &str) -> std::path::PathBuf {
    cm_path(dirs, name)
}

#[tokio::test]
async fn run_once_follows_matching_channels_and_tears_them_down() {
    let (store, _) = counting_memory();
    let mut pr1 = Publisher::new(&store, "pr-1");
    let mut pr2 = Publisher::new(&store, "pr-2");
    let mut pr3 = Publisher::new(&store, "pr-3");
    let mut prod = Publisher::new(&store, "prod");
    pr1.publish(&cm("one", "1")).await;
    pr2.publish(&cm("two", "1")).await;
    pr3.publish(&cm("three", "1")).await;
    prod.publish(&cm("prod", "1")).await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["pr-*"], &dirs)).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert_eq!(report.channels.len(), 3);
    for name in ["one", "two", "three"] {
        assert!(path(&dirs, name).exists(), "{name}");
    }
    assert!(!path(&dirs, "prod").exists(), "prod does not match pr-*");
    assert!(store.get("status/pr-1/cluster-1").await.unwrap().is_some());

    // pr-1 is torn down by the hub (head deleted), pr-2's newest generation is empty, pr-3
    // retires: each is pruned, and nothing else is touched.
    pr1.delete_head().await;
    pr2.publish("").await;
    pr3.publish_with(
        &cm("three", "1"),
        Options {
            retire_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            ..Options::default()
        },
    )
    .await;
    let mut extra = Publisher::new(&store, "pr-4");
    extra.publish(&cm("four", "1")).await;
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    for name in ["one", "two", "three"] {
        assert!(!path(&dirs, name).exists(), "{name} was not pruned");
    }
    assert!(path(&dirs, "four").exists());
    assert!(store.get("status/pr-1/cluster-1").await.unwrap().is_none());
    assert!(!dirs.state.join("channels/pr-1").exists());
}

#[tokio::test]
async fn a_channel_torn_down_while_the_agent_was_away_is_pruned_at_start() {
    let (store, _) = counting_memory();
    let mut pr = Publisher::new(&store, "pr-9");
    pr.publish(&cm("nine", "1")).await;
    let dirs = dirs();
    let first = Agent::new(config(opened(&store), &["pr-*"], &dirs)).unwrap();
    first.run_once().await;
    assert!(path(&dirs, "nine").exists());
    drop(first);

    pr.delete_head().await;
    let agent = Agent::new(config(opened(&store), &["pr-*"], &dirs)).unwrap();
    agent.run_once().await;
    assert!(!path(&dirs, "nine").exists());
}

#[tokio::test]
async fn the_loop_picks_channels_up_and_lets_them_go() {
    let (store, _) = counting_memory();
    let mut named = Publisher::new(&store, "prod");
    named.publish(&cm("prod", "1")).await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod", "pr-*"], &dirs)).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    eventually("the named channel is applied", || {
        path(&dirs, "prod").exists()
    })
    .await;

    let mut pr = Publisher::new(&store, "pr-5");
    pr.publish(&cm("five", "1")).await;
    eventually("the new channel is picked up", || {
        path(&dirs, "five").exists()
    })
    .await;
    pr.publish(&cm("five", "2")).await;
    eventually("its new generation is applied", || {
        read(&path(&dirs, "five")).is_some_and(|t| t.contains("v: '2'"))
    })
    .await;

    pr.delete_head().await;
    eventually("the torn-down channel is pruned", || {
        !path(&dirs, "five").exists()
    })
    .await;
    assert!(path(&dirs, "prod").exists());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
