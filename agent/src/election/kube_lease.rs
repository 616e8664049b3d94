//! A lease kept in a `coordination.k8s.io/v1` Lease: read and written with its resourceVersion,
//! watched with kube-runtime's watcher (no polling: a follower costs the API server a watch,
//! not a request per retry period).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watch_object;

use super::lock::{LeaseLock, LeaseRecord, LockError, Taken, Versioned};
use crate::cluster::Cluster;

/// A Lease in the agent's namespace, through the agent's one connection to the cluster.
#[derive(Debug)]
pub struct KubeLease {
    cluster: Arc<Cluster>,
    namespace: String,
    name: String,
}

impl KubeLease {
    /// The Lease `name` in `namespace`.
    pub fn new(cluster: Arc<Cluster>, namespace: &str, name: &str) -> KubeLease {
        KubeLease {
            cluster,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    async fn api(&self) -> Result<Api<Lease>, LockError> {
        let client = self.cluster.client().await?;
        Ok(Api::namespaced(client, &self.namespace))
    }

    fn failed(&self, op: &'static str) -> impl FnOnce(kube::Error) -> LockError + '_ {
        move |source| LockError::Api {
            lease: self.describe(),
            op,
            source,
        }
    }

    fn lease(&self, record: &LeaseRecord, version: Option<&str>) -> Lease {
        let micro =
            |t: Option<SystemTime>| t.and_then(|t| Timestamp::try_from(t).ok()).map(MicroTime);
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                resource_version: version.map(str::to_owned),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: record.holder.clone(),
                lease_duration_seconds: Some(
                    i32::try_from(record.duration.as_secs()).unwrap_or(i32::MAX),
                ),
                acquire_time: micro(record.acquired),
                renew_time: micro(record.renewed),
                lease_transitions: Some(record.transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}

/// The election's record in a Lease, and its version.
fn versioned(lease: Lease) -> Versioned {
    let spec = lease.spec.unwrap_or_default();
    let time = |t: Option<MicroTime>| t.map(|t| SystemTime::from(t.0));
    Versioned {
        record: LeaseRecord {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            duration: Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
            ),
            acquired: time(spec.acquire_time),
            renewed: time(spec.renew_time),
            transitions: spec.lease_transitions.unwrap_or(0),
        },
        version: lease.metadata.resource_version.unwrap_or_default(),
    }
}

/// A conflict (409) means another replica wrote first: the write is lost, not failed.
fn taken(result: kube::Result<Lease>) -> Result<Taken, kube::Error> {
    match result {
        Ok(lease) => Ok(Taken::Written(versioned(lease))),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Taken::Lost),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl LeaseLock for KubeLease {
    fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    async fn get(&self) -> Result<Option<Versioned>, LockError> {
        let api = self.api().await?;
        let lease = api.get_opt(&self.name).await.map_err(self.failed("get"))?;
        Ok(lease.map(versioned))
    }

    async fn create(&self, record: &LeaseRecord) -> Result<Taken, LockError> {
        let api = self.api().await?;
        let lease = self.lease(record, None);
        taken(api.create(&PostParams::default(), &lease).await).map_err(self.failed("create"))
    }

    async fn replace(&self, record: &LeaseRecord, version: &str) -> Result<Taken, LockError> {
        let api = self.api().await?;
        let lease = self.lease(record, Some(version));
        taken(
            api.replace(&self.name, &PostParams::default(), &lease)
                .await,
        )
        .map_err(self.failed("replace"))
    }

    fn watch(&self) -> BoxStream<'static, Result<Option<Versioned>, LockError>> {
        let (cluster, namespace, name) = (
            self.cluster.clone(),
            self.namespace.clone(),
            self.name.clone(),
        );
        let lease = self.describe();
        futures::stream::once(async move { cluster.client().await })
            .map_err(LockError::from)
            .map_ok(move |client| {
                let api: Api<Lease> = Api::namespaced(client, &namespace);
                let lease = lease.clone();
                watch_object(api, &name)
                    .default_backoff()
                    .map_ok(|lease| lease.map(versioned))
                    .map_err(move |source| LockError::Watch {
                        lease: lease.clone(),
                        source,
                    })
            })
            .try_flatten()
            .boxed()
    }
}
