//! The Kubernetes scenario, and the tenancy escapes (`kube_escapes.rs`), against a real API server: runs when `CAIRN_TEST_KUBECONFIG` names a
//! kubeconfig (a kind or k3d cluster will do), and says it was skipped otherwise. Its Deployment
//! runs `registry.k8s.io/pause:3.10`; on a cluster that cannot pull it (air-gapped), set
//! `CAIRN_TEST_IMAGE` to an image the cluster holds whose default command keeps running, or the
//! scenario waits for a pod that never starts. Where nodes run pods, it then checks that the
//! agent reports `converged` within two poll intervals of a Deployment becoming Available.
//!
//! ```sh
//! CAIRN_TEST_KUBECONFIG=$HOME/.kube/config cargo test -p cairn-agent --test it kube_cluster -- --nocapture
//! ```

use std::time::Duration;

use cairn_env_vars::EnvVars;

/// The kubeconfig `CAIRN_TEST_KUBECONFIG` names and a client from it, or `None` (with the skip
/// printed) when it is not set.
async fn real_cluster(what: &str) -> Option<(std::path::PathBuf, kube::Client)> {
    let Some(path) = std::env::var_os(EnvVars::CAIRN_TEST_KUBECONFIG) else {
        println!("skipped: set CAIRN_TEST_KUBECONFIG to a kubeconfig to run {what}");
        return None;
    };
    let path = std::path::PathBuf::from(path);
    let file =
        kube::config::Kubeconfig::read_from(&path).expect("CAIRN_TEST_KUBECONFIG is readable");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("a usable kubeconfig");
    Some((path, kube::Client::try_from(config).expect("a client")))
}

#[tokio::test]
async fn the_agent_reconciles_a_real_cluster() {
    let Some((path, client)) = real_cluster("against a real cluster").await else {
        return;
    };
    let suffix = format!("{:x}", std::process::id());
    let health_known = crate::kube_scenario::has_schedulable_nodes(&client).await;
    if !health_known {
        println!("no node can run pods: Deployments are checked as applied, not as available");
    }
    crate::kube_scenario::run(&path, client.clone(), &suffix, health_known).await;
    if health_known {
        // Health is followed after the apply: seen within a poll interval or two, not at the
        // next resync (an hour away here).
        let interval = Duration::from_secs(2);
        let lag =
            crate::kube_rollout::converged_after_available(&path, client, &suffix, interval).await;
        println!("converged {lag:?} after the Deployment became Available");
        assert!(lag <= interval * 2, "converged {lag:?} after Available");
    }
}

#[tokio::test]
async fn a_team_channel_cannot_escape_its_scope_on_a_real_cluster() {
    let Some((path, client)) = real_cluster("the escapes against a real cluster").await else {
        return;
    };
    let suffix = format!("{:x}", std::process::id());
    crate::kube_escapes::run(&path, client, &suffix).await;
}
