//! The drift check's verdict on the suspects of a listing (objects whose field-ownership
//! fingerprint moved since cairn wrote them, or that are gone): an object whose drift is
//! corrected is simply applied again (the apply's answer tells whether anything changed); an
//! object whose drift is only reported is dry-run applied and compared with its live state, and
//! the verdict is kept until its fingerprint moves again.

use kube::Client;
use kube::api::Patch;
use serde_json::Value;

use super::apply::{parse, unresolved, written_at};
use super::fields::{comparable, fingerprint};
use super::ownership::{Marks, Owner, owner};
use super::policy::ObjectPolicy;
use super::{Inner, KubeTarget};
use crate::config::DriftMode;
use crate::error::Result;
use crate::targets::{Drifted, TargetError, Write};

type Outcome<T> = std::result::Result<T, TargetError>;

/// What the target knows of one object before judging it.
enum Known {
    /// A suspect of the last listing: its live state, or `None` when it is gone.
    Suspect(Option<Value>),
    /// Not a suspect: unchanged since cairn wrote it.
    Clean,
    /// The channel was never listed: nothing is known.
    Unknown,
}

/// Judges `writes` (objects the channel owns, already written) for `channel`.
pub async fn check(
    target: &KubeTarget,
    client: &Client,
    channel: &str,
    writes: Vec<Write>,
) -> Result<Drifted> {
    let inner = &target.inner;
    let applyset = target.applyset(channel);
    let mut drifted = Drifted::default();
    for write in writes {
        let verdict = judge(inner, client, channel, &applyset, &write)
            .await
            .map_err(|e| target.error(e.about(&write.id)))?;
        match verdict {
            Some(DriftMode::Correct) => drifted.correct.insert(write.id),
            Some(DriftMode::Report) => drifted.report.insert(write.id),
            None => false,
        };
    }
    Ok(drifted)
}

/// `None` when not drifted; else what to do about it.
async fn judge(
    inner: &Inner,
    client: &Client,
    channel: &str,
    applyset: &str,
    write: &Write,
) -> Outcome<Option<DriftMode>> {
    let object = parse(&write.bytes)?;
    let policy = inner.policy(channel, &object)?;
    let (resolved, id) = inner.locate(client, &write.id).await.map_err(unresolved)?;
    let known = inner
        .ledger
        .with(channel, |book| match book.suspects.get(&id) {
            Some(live) => Known::Suspect(live.clone()),
            None if book.listed => Known::Clean,
            None => Known::Unknown,
        });
    let live = match known {
        Known::Clean => return Ok(None),
        Known::Suspect(None) => return Ok(Some(policy.drift)),
        Known::Suspect(Some(_)) if policy.drift == DriftMode::Correct => {
            return Ok(Some(DriftMode::Correct));
        }
        Known::Suspect(Some(live)) => live,
        Known::Unknown => {
            let api = inner.api(client, &resolved, &id.namespace);
            let Some(live) = api.get_opt(&id.name).await.map_err(TargetError::Api)? else {
                return Ok(Some(policy.drift));
            };
            if owner(live.metadata.labels.as_ref(), channel) != Owner::Channel {
                return Ok(None);
            }
            serde_json::to_value(&live).map_err(|e| TargetError::Malformed(e.to_string()))?
        }
    };
    let print = fingerprint(&live);
    let known_drift = inner
        .ledger
        .with(channel, |book| book.reported.get(&id) == Some(&print));
    if known_drift {
        return Ok(Some(policy.drift));
    }
    let differs = dry_run_differs(inner, client, channel, applyset, write, &live, &policy).await?;
    inner.ledger.with(channel, |book| {
        if differs {
            book.reported.insert(id.clone(), print);
        } else {
            book.reported.remove(&id);
            book.recorded.insert(id.clone(), print);
            book.suspects.remove(&id);
        }
    });
    Ok(differs.then_some(policy.drift))
}

/// Whether applying `write` would change `live` (a server-side dry run), ignored fields aside.
async fn dry_run_differs(
    inner: &Inner,
    client: &Client,
    channel: &str,
    applyset: &str,
    write: &Write,
    live: &Value,
    policy: &ObjectPolicy,
) -> Outcome<bool> {
    let (resolved, id) = inner.locate(client, &write.id).await.map_err(unresolved)?;
    // Keep the generation the object was last written at: it is not drift.
    let generation = written_at(live).unwrap_or(write.generation);
    let marks = Marks {
        channel,
        generation,
        applyset,
    };
    let mut desired = inner.desired(&resolved, &write.bytes, &marks)?;
    for pointer in &policy.ignore {
        pointer.remove(&mut desired);
    }
    let api = inner.api(client, &resolved, &id.namespace);
    let dry = api
        .patch(&id.name, &inner.patch_params(true), &Patch::Apply(&desired))
        .await
        .map_err(TargetError::Api)?;
    let dry = serde_json::to_value(&dry).map_err(|e| TargetError::Malformed(e.to_string()))?;
    Ok(comparable(live.clone(), &policy.ignore) != comparable(dry, &policy.ignore))
}
