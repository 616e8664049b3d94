//! Concurrent publishers: every generation unique and gap-free in the log, the head at the
//! highest, nothing lost; and on a store without conditional writes, a clear refusal.

use crate::support;

use cairn_env_vars::EnvVars;
use cairn_hub::Error;
use cairn_hub::publish;

const PUBLISHERS: u32 = 8;

#[tokio::test]
async fn racing_publishers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in cairn_test_support::stores(dir.path(), cairn_test_support::S3_SERVERS) {
        if name == "garage" {
            continue;
        }
        // Publishers interleave at every await (every store request) within one task.
        let keys = [support::key()];
        let contents: Vec<String> = (0..PUBLISHERS)
            .map(|i| support::configmaps(20, 1, i + 1))
            .collect();
        let tasks = contents
            .iter()
            .map(|yaml| support::publish_yaml(&store, "race", yaml, &keys, false));
        let published = futures::future::join_all(tasks).await;
        let log = support::log(&store, "race").await;
        let generations: Vec<u64> = log.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            generations,
            (1..=u64::from(PUBLISHERS)).collect::<Vec<_>>(),
            "{name}: unique and gap-free"
        );
        for p in &published {
            assert!(!p.unchanged, "{name}");
            assert_eq!(
                log[p.generation as usize - 1].1,
                p.snapshot,
                "{name}: each publisher's generation holds its content"
            );
        }
        assert_eq!(
            support::head_generation(&store, "race").await,
            Some(u64::from(PUBLISHERS)),
            "{name}: head at the highest"
        );
        for (_, snapshot) in &log {
            support::assert_readable(&store, snapshot).await;
        }
    }
}

#[tokio::test]
async fn stores_without_conditional_writes_need_a_single_publisher_promise() {
    let Ok(url) = std::env::var(EnvVars::CAIRN_TEST_S3_GARAGE) else {
        eprintln!("skipped: CAIRN_TEST_S3_GARAGE is not set (run the suite with scripts/test)");
        return;
    };
    let store = cairn_test_support::fresh_prefix(&url);
    let keys = [support::key()];
    let settings = support::settings(&keys, false);
    let refused = publish(
        &store,
        support::publication("g", support::local_content(&support::configmaps(3, 0, 0))),
        &settings,
    )
    .await;
    let Err(Error::Conflict(message)) = refused else {
        panic!("expected a refusal, got {refused:?}")
    };
    assert!(
        message.contains("--single-publisher") && message.contains("conditional writes"),
        "{message}"
    );
    assert!(
        store.list("channels/").await.unwrap().is_empty(),
        "nothing was published"
    );

    for variant in 1..=3 {
        support::publish_yaml(
            &store,
            "g",
            &support::configmaps(3, 1, variant),
            &keys,
            true,
        )
        .await;
    }
    let log = support::log(&store, "g").await;
    assert_eq!(
        log.iter().map(|(g, _)| *g).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(support::head_generation(&store, "g").await, Some(3));
}
