//! Removing objects the channel owns and no longer wants. An object the target saw as the
//! channel's (listed or written) is deleted at once with the UID it saw as a precondition, so an
//! object recreated under the same name since, by anyone, is never touched; any other is read
//! first and deleted only if its labels say it is the channel's.

use cairn_state_format::ResourceId;
use kube::api::{DeleteParams, Preconditions, PropagationPolicy};
use kube::{Client, ResourceExt};

use super::discovery::Unresolved;
use super::ledger::Mark;
use super::ownership::{Owner, owner};
use super::{Inner, KubeTarget, Propagation};
use crate::targets::{BatchReport, ObjectFailure, TargetError};

type Outcome<T> = std::result::Result<T, TargetError>;

/// Deletes `ids` for `channel`; each fails or succeeds on its own.
pub async fn batch(
    target: &KubeTarget,
    client: &Client,
    channel: &str,
    ids: Vec<ResourceId>,
) -> BatchReport {
    let results = target
        .each(ids, |id| {
            let (inner, client, channel) =
                (target.inner.clone(), client.clone(), channel.to_owned());
            Box::pin(async move { delete_one(&inner, &client, &channel, &id).await })
        })
        .await;
    let mut report = BatchReport::default();
    for (id, result) in results {
        match result {
            Ok(()) => {
                target.inner.ledger.with(channel, |book| {
                    book.marks.insert(id.clone(), Mark::Removed);
                });
                report.done.push(id);
            }
            Err(error) => report.failed.push(ObjectFailure { id, error }),
        }
    }
    report
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Deletes one object `channel` owns. Objects already gone, of a kind no longer served, or not
/// the channel's (someone else's object of the same name) count as done and are left alone.
async fn delete_one(inner: &Inner, client: &Client, channel: &str, id: &ResourceId) -> Outcome<()> {
    let (resolved, effective) = match inner.locate(client, id).await {
        Ok(found) => found,
        Err(Unresolved::Unknown(_)) => return Ok(()),
        Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
    };
    let api = inner.api(client, &resolved, &effective.namespace);
    let known = inner.ledger.with(channel, |book| {
        book.live.get(&effective).map(|l| l.uid.clone())
    });
    let uid = match known {
        Some(uid) => uid,
        None => {
            let Some(live) = api
                .get_opt(&effective.name)
                .await
                .map_err(TargetError::Api)?
            else {
                forget(inner, channel, &effective);
                return Ok(());
            };
            if owner(live.metadata.labels.as_ref(), channel) != Owner::Channel {
                tracing::info!(object = %id, channel, "not pruned: the live object is not this channel's");
                return Ok(());
            }
            live.uid().unwrap_or_default()
        }
    };
    let params = DeleteParams {
        propagation_policy: Some(match inner.options.propagation {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        // Only the object cairn saw: never one recreated under the same name since.
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&effective.name, &params).await {
        Ok(_) => {}
        Err(e) if status_code(&e) == Some(404) => {}
        Err(e) if status_code(&e) == Some(409) => {
            tracing::info!(object = %id, channel, "not pruned: the object was replaced since cairn saw it");
        }
        Err(e) => return Err(TargetError::Api(e)),
    }
    forget(inner, channel, &effective);
    Ok(())
}

fn forget(inner: &Inner, channel: &str, effective: &ResourceId) {
    inner.ledger.with(channel, |book| book.gone(effective));
}
