//! The long-running loop: picks up new generations, reports status, serves metrics and health,
//! rides out a store outage, and stops when told to.

use std::time::Duration;

use cairn_agent::{Agent, StoreLocation};
use cairn_state_format::{Phase, StatusRecord};
use tokio::sync::oneshot;

use crate::support::http::{Mode, Server};
use crate::support::*;

async fn status(store: &cairn_store::Store, channel: &str) -> Option<StatusRecord> {
    let fetched = store
        .get(&format!("status/{channel}/cluster-1"))
        .await
        .ok()??;
    StatusRecord::decode(&fetched.bytes, "status").ok()
}

pub(crate) async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let code = response.status().as_u16();
    (code, response.text().await.unwrap())
}

#[tokio::test]
async fn follows_new_generations_until_shutdown() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let mut config = config(opened(&store), &["prod"], &dirs);
    config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::new(config).unwrap();
    let metrics = agent.metrics().clone();
    let addr = agent.metrics_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));

    let path = cm_path(&dirs, "a");
    eventually("generation 1 is applied", || {
        read(&path).is_some_and(|t| t.contains("v: '1'"))
    })
    .await;
    hub.publish(&cm("a", "2")).await;
    eventually("generation 2 is applied", || {
        read(&path).is_some_and(|t| t.contains("v: '2'"))
    })
    .await;
    eventually("idle polls are answered 304", || {
        metrics.not_modified("prod") >= 2
    })
    .await;
    for _ in 0..1000 {
        if status(&store, "prod")
            .await
            .is_some_and(|s| s.applied.is_some_and(|a| a.generation == 2))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let record = status(&store, "prod").await.unwrap();
    assert_eq!(record.phase, Phase::Converged);
    assert_eq!(record.applied.unwrap().generation, 2);

    let base = format!("http://{addr}");
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let mut ready = 0;
    for _ in 0..500 {
        ready = get(&format!("{base}/readyz")).await.0;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready, 200);
    let (code, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 200);
    for name in [
        "cairn_agent_polls_total{channel=\"prod\"}",
        "cairn_agent_not_modified_total",
        "cairn_agent_fetched_bytes_total",
        "cairn_agent_objects_applied_total",
        "cairn_agent_applied_generation{channel=\"prod\"} 2",
        "cairn_agent_head_age_seconds",
        "cairn_agent_phase{channel=\"prod\",phase=\"converged\"} 1",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the agent stops when told")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_store_outage_never_stops_the_loop() {
    let bucket = tempfile::tempdir().unwrap();
    let store = cairn_store::Store::open(
        &format!("file://{}", bucket.path().display()),
        &Default::default(),
    )
    .unwrap();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let server = Server::start(bucket.path(), None).await;
    let dirs = dirs();
    let mut config = config(StoreLocation::Url(server.url()), &["prod"], &dirs);
    config.timing.request_timeout = Duration::from_millis(300);
    let agent = Agent::new(config).unwrap();
    let metrics = agent.metrics().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    let path = cm_path(&dirs, "a");
    eventually("generation 1 is applied", || read(&path).is_some()).await;

    server.set(Mode::Status(503, None));
    hub.publish(&cm("a", "2")).await;
    eventually("the outage is reported", || {
        metrics.last_error("prod").as_deref() == Some("store")
    })
    .await;
    let during = server.requests();
    eventually("the agent keeps retrying", || {
        server.requests() > during + 2
    })
    .await;
    assert!(
        read(&path).unwrap().contains("v: '1'"),
        "the current state is kept"
    );

    server.set(Mode::Ok);
    eventually("generation 2 is applied after the outage", || {
        read(&path).is_some_and(|t| t.contains("v: '2'"))
    })
    .await;
    eventually("the error is cleared", || {
        metrics.last_error("prod").is_none()
    })
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn heartbeats_and_resyncs_happen_while_nothing_changes() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let mut config = config(opened(&store), &["prod"], &dirs);
    config.timing.heartbeat = Duration::from_millis(100);
    config.timing.resync = Duration::from_millis(100);
    let agent = Agent::new(config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    let path = cm_path(&dirs, "a");
    eventually("generation 1 is applied", || read(&path).is_some()).await;
    let good = read(&path).unwrap();

    // Heartbeat: the unchanged record is written again.
    let mut first = None;
    for _ in 0..1000 {
        if let Some(record) = status(&store, "prod").await {
            match first {
                None => first = Some(record.updated_at),
                Some(at) if record.updated_at > at => break,
                Some(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = status(&store, "prod").await.unwrap();
    assert!(last.updated_at > first.unwrap(), "no heartbeat was written");

    // Resync: a hand edit is found and corrected without a new generation.
    std::fs::write(&path, "edited").unwrap();
    eventually("the drift is corrected", || {
        read(&path).as_deref() == Some(good.as_str())
    })
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
