//! The Kubernetes scenario, and the tenancy escapes (`kube_escapes.rs`), against a real API server: runs when `CAIRN_TEST_KUBECONFIG` names a
//! kubeconfig (a kind or k3d cluster will do), and says it was skipped otherwise. Its Deployment
//! runs `registry.k8s.io/pause:3.10`; on a cluster that cannot pull it (air-gapped), set
//! `CAIRN_TEST_IMAGE` to an image the cluster holds whose default command keeps running, or the
//! scenario waits for a pod that never starts.
//!
//! ```sh
//! CAIRN_TEST_KUBECONFIG=$HOME/.kube/config cargo test -p cairn-agent --test it kube_cluster -- --nocapture
//! ```

use cairn_env_vars::EnvVars;

#[tokio::test]
async fn the_agent_reconciles_a_real_cluster() {
    let Some(path) = std::env::var_os(EnvVars::CAIRN_TEST_KUBECONFIG) else {
        println!(
            "skipped: set CAIRN_TEST_KUBECONFIG to a kubeconfig to run against a real cluster"
        );
        return;
    };
    let path = std::path::PathBuf::from(path);
    let file =
        kube::config::Kubeconfig::read_from(&path).expect("CAIRN_TEST_KUBECONFIG is readable");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("a usable kubeconfig");
    let client = kube::Client::try_from(config).expect("a client");
    let suffix = format!("{:x}", std::process::id());
    let health_known = crate::kube_scenario::has_schedulable_nodes(&client).await;
    if !health_known {
        println!("no node can run pods: Deployments are checked as applied, not as available");
    }
    crate::kube_scenario::run(&path, client, &suffix, health_known).await;
}

#[tokio::test]
async fn a_team_channel_cannot_escape_its_scope_on_a_real_cluster() {
    let Some(path) = std::env::var_os(EnvVars::CAIRN_TEST_KUBECONFIG) else {
        println!(
            "skipped: set CAIRN_TEST_KUBECONFIG to a kubeconfig to run the escapes against a real cluster"
        );
        return;
    };
    let path = std::path::PathBuf::from(path);
    let file =
        kube::config::Kubeconfig::read_from(&path).expect("CAIRN_TEST_KUBECONFIG is readable");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("a usable kubeconfig");
    let client = kube::Client::try_from(config).expect("a client");
    let suffix = format!("{:x}", std::process::id());
    crate::kube_escapes::run(&path, client, &suffix).await;
}
