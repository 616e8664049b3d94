//! Keeps the replicas scenario from rotting: 10 clusters of 1 and of 3 replicas, 30 objects,
//! T = 1 s, a 2 s lease, against the debug `cairn`. It checks what was counted, never how long
//! anything took: one store reader per cluster whatever R, one write per cluster per
//! one-object change, and every killed leader's cluster taking the change.

use cairn_test_support::binary;

use cairn_benches::fleet::replicas::{ReplicasConfig, markdown, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_per_cluster_do_not_add_store_readers() {
    let work = tempfile::tempdir().unwrap();
    let config = ReplicasConfig {
        clusters: 10,
        replicas: vec![1, 3],
        objects: 30,
        interval: 1.0,
        jitter: 0.2,
        idle_intervals: 2,
        takeovers: 3,
        lease_duration: 2,
        renew_deadline: 1.0,
        retry_period: 0.2,
        work: work.path().join("replicas"),
        cairn: binary("cairn"),
    };
    let report = run(&config).await.unwrap();
    let table = markdown(&report);
    assert_eq!(report.errors, 0, "{table}");
    assert_eq!(report.rows.len(), 2, "{table}");
    for row in &report.rows {
        assert_eq!(row.readers_per_cluster, 1.0, "{table}");
        assert_eq!(row.writes_per_cluster, 1.0, "{table}");
        assert_eq!(row.propagation.missed, 0, "{table}");
    }
    let takeover = report.rows[1].takeover.expect("R = 3 measures a takeover");
    assert_eq!(takeover.missed, 0, "{table}");
}
