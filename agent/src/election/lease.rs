//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it:
//! the holder renews every retry period; a follower takes over once it has seen the same lease
//! record, unrenewed, for a whole lease duration (measured on its own clock, so clock skew
//! between nodes does not matter). Every write carries the lease's resourceVersion, so of two
//! candidates racing for it exactly one wins. A leader that cannot renew for a lease duration
//! steps down; one that shuts down releases the lease so a follower takes over at once.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Campaign, Election};
use crate::config::ConfigError;
use crate::run::sleep_or_shutdown;

/// Why a round of the election could not reach the Lease.
#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error(transparent)]
    Connect(#[from] ConfigError),
    #[error("lease {lease}: {source}")]
    Api {
        lease: String,
        #[source]
        source: kube::Error,
    },
}

/// The lease record as last seen, and when this replica first saw it.
struct Observed {
    record: String,
    at: Instant,
}

fn now() -> Option<MicroTime> {
    Some(MicroTime(Timestamp::now()))
}

/// Competes for the lease until shutdown, telling `leading` whether this replica leads.
pub async fn campaign(
    campaign: &Campaign,
    leading: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let election = &campaign.election;
    let mut observed: Option<Observed> = None;
    let mut renewed: Option<Instant> = None;
    loop {
        match try_lead(campaign, &mut observed).await {
            Ok(true) => renewed = Some(Instant::now()),
            Ok(false) => renewed = None,
            Err(error) => {
                tracing::warn!(%error, lease = election.lease, "cannot reach the lease");
                if renewed.is_some_and(|at| at.elapsed() >= election.lease_duration) {
                    renewed = None;
                }
            }
        }
        let leads = renewed.is_some();
        leading.send_if_modified(|was| {
            let changed = *was != leads;
            if changed {
                tracing::info!(identity = election.identity, leads, "leadership changed");
            }
            *was = leads;
            changed
        });
        if sleep_or_shutdown(election.retry_period, &mut shutdown).await {
            break;
        }
    }
    if *leading.borrow() {
        leading.send_replace(false);
        if let Err(error) = release(campaign).await {
            tracing::warn!(%error, "cannot release the lease; a follower takes over when it expires");
        }
    }
}

async fn api(campaign: &Campaign) -> Result<Api<Lease>, LeaseError> {
    let client = campaign.cluster.client().await?;
    Ok(Api::namespaced(client, &campaign.namespace))
}

fn api_error(election: &Election) -> impl FnOnce(kube::Error) -> LeaseError + '_ {
    move |source| LeaseError::Api {
        lease: election.lease.clone(),
        source,
    }
}

/// One round: create, renew or take over the lease. `Ok(true)` when this replica holds it.
async fn try_lead(
    campaign: &Campaign,
    observed: &mut Option<Observed>,
) -> Result<bool, LeaseError> {
    let election = &campaign.election;
    let api = api(campaign).await?;
    let current = api
        .get_opt(&election.lease)
        .await
        .map_err(api_error(election))?;
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(election.lease.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(election.identity.clone()),
                lease_duration_seconds: Some(seconds(election)),
                acquire_time: now(),
                renew_time: now(),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return written(election, api.create(&PostParams::default(), &lease).await);
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let record = format!("{holder:?} {:?}", spec.renew_time);
    if observed.as_ref().is_none_or(|o| o.record != record) {
        *observed = Some(Observed {
            record,
            at: Instant::now(),
        });
    }
    let duration = std::time::Duration::from_secs(
        u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
    );
    let mine = holder.as_deref() == Some(election.identity.as_str());
    let expired = holder.is_none()
        || observed
            .as_ref()
            .is_some_and(|o| o.at.elapsed() >= duration);
    if !mine && !expired {
        return Ok(false);
    }
    let mut next = spec;
    if !mine {
        next.holder_identity = Some(election.identity.clone());
        next.acquire_time = now();
        next.lease_transitions = Some(next.lease_transitions.unwrap_or(0) + 1);
    }
    next.lease_duration_seconds = Some(seconds(election));
    next.renew_time = now();
    lease.spec = Some(next);
    written(
        election,
        api.replace(&election.lease, &PostParams::default(), &lease)
            .await,
    )
}

fn seconds(election: &Election) -> i32 {
    i32::try_from(election.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// A conflict means another replica wrote first: not an error, just not the leader.
fn written(election: &Election, result: kube::Result<Lease>) -> Result<bool, LeaseError> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(api_error(election)(e)),
    }
}

/// Gives the lease up so a follower need not wait for it to expire.
async fn release(campaign: &Campaign) -> Result<(), LeaseError> {
    let election = &campaign.election;
    let api = api(campaign).await?;
    let Some(mut lease) = api
        .get_opt(&election.lease)
        .await
        .map_err(api_error(election))?
    else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(election.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = now();
    written(
        election,
        api.replace(&election.lease, &PostParams::default(), &lease)
            .await,
    )
    .map(|_| ())
}
