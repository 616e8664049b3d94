//! Keeps the `kube-requests` benchmark from rotting: its counted passes run at a small size
//! against the fake API server, and the test checks the targets by count.

use cairn_benches::kube::{Config, Report, markdown, run};
use cairn_test_support::binary;

fn total(report: &Report, pass: usize) -> u64 {
    report.passes[pass].total()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_requests_meets_its_targets_by_count() {
    let work = tempfile::tempdir().unwrap();
    let (objects, changes) = (100, 3);
    let report = run(&Config {
        cairn: binary("cairn"),
        agent: binary("cairn-agent"),
        objects,
        rss_objects: Vec::new(),
        changes,
        work_dir: work.path().to_path_buf(),
    })
    .await
    .unwrap();
    let table = markdown(&report);
    let objects = objects as u64;
    let first = &report.passes[0];
    // One apply per object, the ApplySet parent before the first write and the state after;
    // the rest (discovery, permission reviews, lists of every kind on a first pass, the
    // CRDs' watches) does not grow with the objects.
    assert!(first.requests["patch"] >= objects, "{table}");
    assert!(total(&report, 0) <= objects + 50, "{table}");
    // Nothing changed: one list per kind of the set (10, one namespace), nothing written.
    assert_eq!(
        report.passes[1].requests,
        [("list".to_owned(), 10)].into(),
        "{table}"
    );
    // One object edited by hand: the lists, one apply to correct it, one write of the state.
    assert_eq!(total(&report, 2), 10 + 2, "{table}");
    assert_eq!(report.passes[2].drifted, 1, "{table}");
    // A change of `changes` objects: their applies and the state.
    assert_eq!(total(&report, 3), changes as u64 + 1, "{table}");
}
