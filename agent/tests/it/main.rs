//! The agent's integration tests, in one binary (one link, shared support).
//!
//! - [`support`]: a minimal publisher written with the format and store crates, agents' configs,
//!   counting stores; [`support::http`]: an HTTP server over a store directory that injects faults
//!   and a hostile store's attacks ([`hostile`]).
//! - [`kube_fake`]: an in-process fake of the Kubernetes API server; [`kube_scenario`]: the
//!   Kubernetes scenario, run against the fake and (with `CAIRN_TEST_KUBECONFIG`) a real cluster.

mod binary;
mod cold_start;
mod deploy;
mod election;
mod faults;
mod hostile;
mod http_store;
mod kube_cluster;
mod kube_escapes;
mod kube_fake;
mod kube_impersonation;
mod kube_passes;
mod kube_policy;
mod kube_scenario;
mod kube_target;
mod patterns;
mod reconcile;
mod replicas;
mod run_loop;
mod supervision;
mod support;
mod tenancy;
mod trust_root;
