//! The read-only HTTP store, against a real server on 127.0.0.1 that serves a file:// store
//! directory and injects faults: 500, 503, 429 with Retry-After, timeouts, and no server at all.

use std::time::Duration;

use crate::support::http::{Mode, Server};
use crate::support::*;
use cairn_agent::error::HttpProblem;
use cairn_agent::{Agent, Bound, Error, HttpSource, Outcome, Source, StoreLocation};
use cairn_state_format::Phase;

struct Setup {
    _bucket: tempfile::TempDir,
    hub: Publisher,
    server: Server,
    dirs: Dirs,
    status_url: String,
}

async fn setup() -> Setup {
    let bucket = tempfile::tempdir().unwrap();
    let url = format!("file://{}", bucket.path().display());
    let store = cairn_store::Store::open(&url, &Default::default()).unwrap();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let server = Server::start(bucket.path(), None).await;
    let dirs = dirs();
    let status_url = format!("file://{}", dirs.state.with_file_name("status").display());
    Setup {
        _bucket: bucket,
        hub,
        server,
        dirs,
        status_url,
    }
}

fn agent(s: &Setup, url: &str) -> Agent {
    let mut config = config(StoreLocation::Url(url.to_owned()), &["prod"], &s.dirs);
    config.status_store = Some(StoreLocation::Url(s.status_url.clone()));
    config.timing.request_timeout = Duration::from_millis(300);
    Agent::new(config).unwrap()
}

#[tokio::test]
async fn reads_over_http_with_conditional_gets() {
    let mut s = setup().await;
    let agent = agent(&s, &s.server.url());
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    assert!(read(&cm_path(&s.dirs, "a")).is_some());

    let before = s.server.requests();
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    assert_eq!(
        s.server.requests() - before,
        1,
        "an idle poll is one request"
    );
    assert_eq!(s.server.not_modified(), 1);

    s.hub.publish(&cm("a", "2")).await;
    let before = s.server.requests();
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    assert_eq!(s.server.requests() - before, 2, "head and delta pack");
    assert!(read(&cm_path(&s.dirs, "a")).unwrap().contains("v: '2'"));
}

#[tokio::test]
async fn server_errors_and_timeouts_keep_the_state_and_clear_by_themselves() {
    let mut s = setup().await;
    let agent = agent(&s, &s.server.url());
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    let mut generation = 1;
    for fault in [
        Mode::Status(500, None),
        Mode::Status(503, Some(1)),
        Mode::Status(429, Some(1)),
        Mode::Hang(Duration::from_secs(2)),
    ] {
        generation += 1;
        let served = read(&cm_path(&s.dirs, "a")).unwrap();
        s.hub.publish(&cm("a", &format!("v{generation}"))).await;
        s.server.set(fault.clone());
        let report = agent.run_once().await;
        assert_eq!(report.outcome, Outcome::Failed, "{fault:?}");
        let status = &report.channels[0];
        assert_eq!(status.phase, Phase::Failed, "{fault:?}");
        let reason = status.reason.clone().unwrap();
        let expected = match fault {
            Mode::Hang(_) => "timed out".to_owned(),
            Mode::Status(code, _) => code.to_string(),
            Mode::Ok => unreachable!(),
        };
        assert!(reason.contains(&expected), "{fault:?}: {reason}");
        assert_eq!(agent.metrics().last_error("prod").as_deref(), Some("store"));
        assert_eq!(
            read(&cm_path(&s.dirs, "a")).unwrap(),
            served,
            "the current state is kept"
        );

        s.server.set(Mode::Ok);
        let report = agent.run_once().await;
        assert_eq!(
            report.outcome,
            Outcome::Converged,
            "after {fault:?}: {report:?}"
        );
        assert!(
            read(&cm_path(&s.dirs, "a"))
                .unwrap()
                .contains(&format!("v{generation}"))
        );
        assert_eq!(agent.metrics().last_error("prod"), None);
    }
}

#[tokio::test]
async fn retry_after_is_read_from_throttling_answers() {
    let s = setup().await;
    let source = HttpSource::new(&s.server.url(), Duration::from_secs(2)).unwrap();
    s.server.set(Mode::Status(429, Some(7)));
    let err = source
        .get_if_changed("channels/prod/head", None, Bound::AtMost(65536))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Http {
                problem: HttpProblem::Status { status: 429, .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_transient());
    s.server.set(Mode::Status(503, Some(2)));
    let err = source
        .get_if_changed("channels/prod/head", None, Bound::AtMost(65536))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    s.server.set(Mode::Ok);
    assert!(
        source
            .get("channels/nope/head", Bound::AtMost(65536))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_unreachable_store_at_start_is_waited_for() {
    let s = setup().await;
    // A port with nothing listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let agent = agent(&s, &format!("http://{addr}/"));
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        report.channels[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("connect"),
        "{report:?}"
    );
    assert_eq!(agent.metrics().last_error("prod").as_deref(), Some("store"));
    assert!(!cm_path(&s.dirs, "a").exists());

    let _late = Server::start(s._bucket.path(), Some(addr)).await;
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(cm_path(&s.dirs, "a").exists());
}

#[tokio::test]
async fn without_a_status_store_an_http_agent_still_reconciles() {
    let s = setup().await;
    let config = config(StoreLocation::Url(s.server.url()), &["prod"], &s.dirs);
    let report = Agent::new(config).unwrap().run_once().await;
    assert_eq!(report.outcome, Outcome::Converged);
}
