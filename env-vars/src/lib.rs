//! Every `CAIRN_*` environment variable the `cairn` and `cairn-agent` binaries, the tests and the
//! benchmarks read, as one documented constant each (the way uv's `EnvVars` does it), so that a
//! name is spelled once and the README's table is checked against this list.
//!
//! ```
//! use cairn_env_vars::EnvVars;
//! assert_eq!(EnvVars::CAIRN_STORE, "CAIRN_STORE");
//! assert!(cairn_env_vars::ALL.iter().any(|v| v.name == EnvVars::CAIRN_STORE));
//! ```
//!
//! Flags read their variable with clap's `env = EnvVars::CAIRN_…`; the variable's doc comment here
//! says what it is for, and `--help` shows the flag's own text.

/// Who reads a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBy {
    /// The `cairn` CLI.
    Hub,
    /// `cairn-agent`.
    Agent,
    /// Both binaries.
    Both,
    /// The test suite, its scripts, or the benchmarks.
    Tests,
}

impl ReadBy {
    /// As the README's table says it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadBy::Hub => "`cairn`",
            ReadBy::Agent => "`cairn-agent`",
            ReadBy::Both => "both",
            ReadBy::Tests => "tests",
        }
    }
}

/// One variable.
#[derive(Clone, Copy, Debug)]
pub struct Var {
    /// Its name.
    pub name: &'static str,
    /// Who reads it.
    pub read_by: ReadBy,
    /// What it is for.
    pub doc: &'static str,
}

/// The names of the variables, as constants.
#[derive(Debug)]
pub struct EnvVars;

macro_rules! env_vars {
    ($( $(#[doc = $doc:literal])+ $name:ident: $read_by:ident; )+) => {
        impl EnvVars {
            $(
                $(#[doc = $doc])+
                pub const $name: &'static str = stringify!($name);
            )+
        }

        /// Every variable, in the order of the README's table.
        pub const ALL: &[Var] = &[
            $( Var { name: stringify!($name), read_by: ReadBy::$read_by, doc: concat!($($doc),+) }, )+
        ];
    };
}

env_vars! {
    /// Where snapshots live: a directory, `file://`, `s3://`, `gs://`, `az://`, `memory://`, or
    /// (agents only) a read-only `https://` base URL.
    CAIRN_STORE: Both;
    /// The channel to publish to or read (agents: comma-separated names or patterns such as `pr-*`).
    CAIRN_CHANNEL: Both;
    /// Log filter for both binaries, in `tracing`'s syntax (`info`, `cairn_agent=debug`).
    CAIRN_LOG: Both;
    /// Secret key file(s) to sign heads with (comma-separated).
    CAIRN_KEY: Hub;
    /// Namespace for namespace-less objects of namespaced kinds, as `kubectl apply -n`.
    CAIRN_NAMESPACE: Hub;
    /// The publish cache's directory (default `$XDG_CACHE_HOME/cairn` or `~/.cache/cairn`).
    CAIRN_CACHE_DIR: Hub;
    /// `true`: read every manifest file, ignoring the publish cache.
    CAIRN_NO_CACHE: Hub;
    /// `true`: promise a single publisher, on stores that ignore conditional writes.
    CAIRN_SINGLE_PUBLISHER: Hub;
    /// A YAML file of named rollout policies.
    CAIRN_ROLLOUT_POLICIES: Hub;
    /// `true`: when the trust root asks for more signatures than the given keys make, leave the
    /// head as a proposal for `cairn sign` instead of refusing.
    CAIRN_PROPOSE: Hub;
    /// Root key file(s) that sign a new version of the trust root (comma-separated).
    CAIRN_ROOT_KEY: Hub;
    /// Crash tests only (debug builds): abort at this publish step.
    CAIRN_FAILPOINT: Hub;
    /// Address `cairn ui` serves its web view on (default `127.0.0.1:8080`).
    CAIRN_UI_ADDR: Hub;
    /// `true`: one reconcile pass, then exit with a code that says how it went.
    CAIRN_ONCE: Agent;
    /// Where status records are written (default: the store, unless it is an HTTP store).
    CAIRN_STATUS_STORE: Agent;
    /// Trusted public keys, as text or files (comma-separated).
    CAIRN_TRUST: Agent;
    /// With `CAIRN_TRUST`: a YAML or JSON file of what each channel may do (`--scopes`).
    CAIRN_SCOPES: Agent;
    /// A version of the store's trust root, as a file: the agent walks forward from it.
    CAIRN_TRUST_ROOT: Agent;
    /// The digest of the trust root version the agent is installed with (`sha256:…`).
    CAIRN_TRUST_ROOT_DIGEST: Agent;
    /// Epochs of re-created channels to follow although this cluster applied the old channel
    /// (comma-separated, as the refusal names them).
    CAIRN_ACCEPT_NEW_EPOCH: Agent;
    /// This cluster's id: names its status records, places it in rollout cohorts.
    CAIRN_CLUSTER_ID: Agent;
    /// This cluster's labels, `key=value` (comma-separated), matched by cluster selectors.
    CAIRN_CLUSTER_LABEL: Agent;
    /// What to reconcile: `dir:PATH` or `kube`.
    CAIRN_TARGET: Agent;
    /// Where applied state, the blob cache and ownership records persist.
    CAIRN_STATE_DIR: Agent;
    /// Poll interval (default `30s`).
    CAIRN_INTERVAL: Agent;
    /// Spread of each poll around the interval (default `20%`).
    CAIRN_JITTER: Agent;
    /// How often the target is checked for drift (default `10m`).
    CAIRN_RESYNC: Agent;
    /// How often a status record is written when nothing changes (default `5m`).
    CAIRN_HEARTBEAT: Agent;
    /// Longest wait between retries (default `5m`).
    CAIRN_BACKOFF_CAP: Agent;
    /// Timeout of one store request (default `15s`).
    CAIRN_REQUEST_TIMEOUT: Agent;
    /// How long shutdown waits for in-flight work (default `10s`).
    CAIRN_DRAIN: Agent;
    /// Address for `/metrics`, `/healthz` and `/readyz`.
    CAIRN_METRICS_ADDR: Agent;
    /// Log format: `text` or `json`.
    CAIRN_LOG_FORMAT: Agent;
    /// Kubeconfig file (default: the in-cluster service account, else `~/.kube/config`).
    CAIRN_KUBECONFIG: Agent;
    /// The agent's own namespace: its state ConfigMaps and Lease (default `cairn-system`).
    CAIRN_AGENT_NAMESPACE: Agent;
    /// Server-side apply field manager (default `cairn`).
    CAIRN_FIELD_MANAGER: Agent;
    /// `NAMESPACE/NAME`: the ServiceAccount a channel acts as when its scope names none.
    CAIRN_APPLY_AS: Agent;
    /// Take over fields other managers own (default `true`).
    CAIRN_FORCE_CONFLICTS: Agent;
    /// `true`: take over existing objects cairn did not create.
    CAIRN_KUBE_ADOPT: Agent;
    /// Deletion propagation of pruned objects: `background`, `foreground` or `orphan`.
    CAIRN_PRUNE_PROPAGATION: Agent;
    /// API requests in flight at once.
    CAIRN_KUBE_CONCURRENCY: Agent;
    /// Sustained API requests per second (0: no limit; default 50, kubectl's).
    CAIRN_KUBE_QPS: Agent;
    /// API requests allowed in a burst above the sustained rate.
    CAIRN_KUBE_BURST: Agent;
    /// What to do about drift: `correct` or `report`, for every channel or `<channel>=<mode>`.
    CAIRN_DRIFT: Agent;
    /// How long to wait for a CustomResourceDefinition to be Established, and then again for
    /// discovery to serve its kinds.
    CAIRN_CRD_TIMEOUT: Agent;
    /// `true`: compete for a Lease; only the leader applies and reports.
    CAIRN_LEADER_ELECT: Agent;
    /// The Lease's name, in the agent's namespace.
    CAIRN_LEASE_NAME: Agent;
    /// How long a leader holds the Lease without renewing it.
    CAIRN_LEASE_DURATION: Agent;
    /// How long a leader keeps trying to renew the Lease before it stops writing and steps down.
    CAIRN_RENEW_DEADLINE: Agent;
    /// How often the Lease is tried (renewed by the leader, watched for by the others).
    CAIRN_RETRY_PERIOD: Agent;
    /// This replica's identity in the election (default `$HOSTNAME`, the pod name).
    CAIRN_IDENTITY: Agent;
    /// A kubeconfig naming a real cluster for the tests that need one (skipped without it).
    CAIRN_TEST_KUBECONFIG: Tests;
    /// The moto S3 server the store tests use (`scripts/test` starts it and sets this).
    CAIRN_TEST_S3_MOTO: Tests;
    /// The Garage S3 server the store tests use (`scripts/test` starts it and sets this).
    CAIRN_TEST_S3_GARAGE: Tests;
    /// Where `scripts/test` installs the servers it builds (default `~/.cache/cairn-test-tools`).
    CAIRN_TOOLS_DIR: Tests;
    /// Where `scripts/demo` keeps its store and the agents' targets (default `.cairn-demo`).
    CAIRN_DEMO_DIR: Tests;
    /// The Azurite Azure Blob server the store tests use (`scripts/test` starts it and sets this).
    CAIRN_TEST_AZURITE: Tests;
    /// The fake-gcs-server GCS emulator the store tests use (`scripts/test` starts it and sets this).
    CAIRN_TEST_GCS: Tests;
    /// The headless Chromium the web view's browser test drives (default `/usr/bin/chromium`).
    CAIRN_TEST_CHROMIUM: Tests;
    /// The agent image archive `scripts/image` wrote: the image test loads it into podman and
    /// runs it (`scripts/test` builds it and sets this; skipped without it).
    CAIRN_TEST_IMAGE_ARCHIVE: Tests;
    /// The workload image of the real-cluster test's Deployment (default
    /// `registry.k8s.io/pause:3.10`); name one the cluster can pull, or has, when it is air-gapped.
    CAIRN_TEST_IMAGE: Tests;
    /// `1`: rewrite golden fixtures and generated tables instead of comparing with them.
    CAIRN_BLESS: Tests;
    /// Snapshot sizes the micro benchmarks run at (comma-separated).
    CAIRN_BENCH_SIZES: Tests;
}

#[cfg(test)]
mod tests;
