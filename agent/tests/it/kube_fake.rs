//! The in-process fake API server (crate `cairn-kube-fake`, shared with the `kube-requests`
//! benchmark), and a connection to it as the agent makes one.

pub use cairn_kube_fake::{FakeApi, Grant, Rollout, Seen};

/// A connection as the agent makes one (no rate limit).
pub trait Connect {
    /// The agent's connection to the fake.
    fn cluster(&self) -> std::sync::Arc<cairn_agent::Cluster>;
}

impl Connect for FakeApi {
    fn cluster(&self) -> std::sync::Arc<cairn_agent::Cluster> {
        std::sync::Arc::new(cairn_agent::Cluster::with_config(self.config(), 0.0, 1))
    }
}
