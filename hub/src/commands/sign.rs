//! `cairn sign`: add signatures to a proposed head, and publish it once a threshold of the
//! channel's delegated keys signed it.

use std::path::PathBuf;

use cairn_env_vars::EnvVars;
use cairn_state_format::{Digest, HeadSignature, Refusal, SecretKey, SignedHead};
use cairn_store::{Abilities, Store};
use clap::Args;
use serde::Serialize;

use super::args::{Output, StoreArgs};
use super::common::{channel_name, open_store, print_json};
use crate::channel::proposal::{self, Proposal};
use crate::channel::{Channel, Commit};
use crate::clock::now;
use crate::error::{Error, Result};
use crate::files::keys::load_secrets;
use crate::safe_writes::safe_abilities;
use crate::trust::{self, Chain};

/// Arguments of `cairn sign`.
#[derive(Args, Debug)]
#[command(
    after_help = "The flow, for a channel whose delegation needs 2 signatures:\n  \
cairn publish --channel prod --key alice.key --propose deploy/   # the head waits, unseen\n  \
cairn sign --channel prod --list              # what waits, who signed it\n  \
cairn diff PREVIOUS_SNAPSHOT SNAPSHOT         # review the change\n  \
cairn sign --channel prod --key bob.key       # the second signature publishes it\n\
A proposal is for one generation: if another head takes that generation first, it is stale and must be \
proposed again."
)]
pub struct SignHeadArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: String,
    /// Secret key file(s) to sign with; repeat (or separate with commas) for several.
    #[arg(
        long = "key",
        env = EnvVars::CAIRN_KEY,
        value_delimiter = ',',
        required_unless_present = "list"
    )]
    pub keys: Vec<PathBuf>,
    /// Which proposal (the start of its id, as `--list` shows it), when several wait.
    #[arg(long)]
    pub proposal: Option<String>,
    /// List the proposals waiting for signatures; sign nothing.
    #[arg(long)]
    pub list: bool,
    /// Promise that no other publisher writes to this channel concurrently (stores that ignore
    /// conditional writes).
    #[arg(long, env = EnvVars::CAIRN_SINGLE_PUBLISHER)]
    pub single_publisher: bool,
}

/// One proposal, for people and scripts.
#[derive(Serialize, Debug)]
struct Listed {
    id: String,
    generation: u64,
    snapshot: Digest,
    previous_snapshot: Option<Digest>,
    source: std::collections::BTreeMap<String, String>,
    proposed_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// Delegated keys whose signatures verify.
    signers: Vec<String>,
    /// Signatures the channel needs.
    threshold: Option<u32>,
    /// Open (for the next generation), or stale (that generation is taken).
    open: bool,
}

/// What `cairn sign` did.
#[derive(Serialize, Debug)]
struct Signed {
    channel: String,
    proposal: String,
    generation: u64,
    snapshot: Digest,
    signers: Vec<String>,
    threshold: u32,
    published: bool,
}

/// Runs `cairn sign`.
pub async fn run(args: SignHeadArgs) -> Result<()> {
    let channel = channel_name(&args.channel)?.to_owned();
    let store = open_store(&args.store)?;
    let chain = trust::require(&store).await?;
    let next = Channel::new(&store, &channel)
        .latest()
        .await?
        .map_or(1, |l| l.head.generation + 1);
    let proposals = proposal::list(&store, &channel).await?;
    if args.list {
        return list(&args.store, &chain, &channel, &proposals, next);
    }
    let keys = load_secrets(&args.keys)?;
    trust::gate(Some(&chain), &channel, &keys, now())?;
    let chosen = choose(&proposals, args.proposal.as_deref(), next, &channel)?.clone();
    for stale in proposals.iter().filter(|p| p.generation < next) {
        proposal::remove(&store, stale).await?;
    }
    let abilities = safe_abilities(&store, args.single_publisher).await?;
    add_signatures(&store, &chosen, &keys, abilities).await?;
    // Read back: a signer writing at the same time is seen by whichever of us reads last.
    let current = proposal::list(&store, &channel)
        .await?
        .into_iter()
        .find(|p| p.folder == chosen.folder)
        .unwrap_or(chosen);
    let (signers, threshold, complete) = tally(&chain, &channel, &current)?;
    let mut signed = Signed {
        channel: channel.clone(),
        proposal: current.id(),
        generation: current.generation,
        snapshot: current.signed.head.snapshot,
        signers,
        threshold,
        published: false,
    };
    if complete {
        commit(&store, &current, &signed.signers, abilities).await?;
        signed.published = true;
    }
    report(&args.store, &signed)
}

fn choose<'p>(
    proposals: &'p [Proposal],
    wanted: Option<&str>,
    next: u64,
    channel: &str,
) -> Result<&'p Proposal> {
    let matching: Vec<&Proposal> = proposals
        .iter()
        .filter(|p| wanted.is_none_or(|w| p.id().starts_with(w)))
        .collect();
    let open: Vec<&Proposal> = matching
        .iter()
        .copied()
        .filter(|p| p.generation == next)
        .collect();
    match (open.as_slice(), matching.first()) {
        ([one], _) => Ok(one),
        ([], Some(stale)) => Err(Error::Conflict(format!(
            "proposal {} for generation {} of channel {channel:?} is stale: generation {} is published already; \
             propose the change again",
            stale.id(),
            stale.generation,
            next - 1
        ))),
        ([], None) => Err(Error::Usage(format!(
            "no proposal waits for signatures on channel {channel:?}{}",
            wanted
                .map(|w| format!(" with an id starting {w:?}"))
                .unwrap_or_default()
        ))),
        (several, _) => {
            let ids: Vec<String> = several.iter().map(|p| p.id()).collect();
            Err(Error::Usage(format!(
                "{} proposals wait on channel {channel:?} ({ids:?}); choose one with --proposal",
                several.len()
            )))
        }
    }
}

async fn add_signatures(
    store: &Store,
    proposal: &Proposal,
    keys: &[SecretKey],
    abilities: Abilities,
) -> Result<()> {
    let head = &proposal.signed.head;
    if now() >= head.expires_at {
        return Err(Error::Usage(format!(
            "proposal {} expired at {}: agents would refuse it; propose the change again",
            proposal.id(),
            head.expires_at
        )));
    }
    let message = proposal.signed.signing_message();
    for key in keys {
        let signature = HeadSignature {
            key: key.public().id(),
            signature: key.sign(message),
        };
        proposal::add_signature(store, proposal, &signature, abilities).await?;
    }
    Ok(())
}

/// The delegated keys whose signatures verify, the threshold, and whether it is met.
fn tally(chain: &Chain, channel: &str, proposal: &Proposal) -> Result<(Vec<String>, u32, bool)> {
    let threshold = chain
        .trusted
        .root()
        .delegation_for(channel)
        .map_or(0, |d| d.threshold);
    let message = proposal.signed.signing_message();
    match chain
        .trusted
        .authorize(channel, message, &proposal.signatures())
    {
        Ok(authorized) => Ok((authorized.signers, threshold, true)),
        Err(Refusal::BelowThreshold { signers, .. }) => Ok((signers, threshold, false)),
        Err(Refusal::UnknownKey { .. } | Refusal::BadSignature { .. }) => {
            Ok((Vec::new(), threshold, false))
        }
        Err(other) => Err(Error::Input(format!("proposal {}: {other}", proposal.id()))),
    }
}

/// Logs the completed head (with the valid signatures only) and removes the proposal.
async fn commit(
    store: &Store,
    proposal: &Proposal,
    signers: &[String],
    abilities: Abilities,
) -> Result<()> {
    let signatures: Vec<HeadSignature> = proposal
        .signatures()
        .into_iter()
        .filter(|s| signers.contains(&s.key))
        .collect();
    let bytes = proposal.assemble(signatures);
    let head = &proposal.signed.head;
    let channel = Channel::new(store, &head.channel);
    if channel.commit(head.generation, &bytes, abilities).await? == Commit::Lost {
        let logged = channel.require_generation(head.generation).await?;
        let same = SignedHead::decode(&logged.bytes)
            .is_ok_and(|s| s.head_digest() == proposal.head_digest);
        if !same {
            return Err(Error::Conflict(format!(
                "generation {} of channel {:?} was published by someone else first; proposal {} is stale: propose \
                 the change again",
                head.generation,
                head.channel,
                proposal.id()
            )));
        }
    }
    proposal::remove(store, proposal).await
}

fn report(store_args: &StoreArgs, signed: &Signed) -> Result<()> {
    if store_args.output == Output::Json {
        return print_json(signed);
    }
    if signed.published {
        println!(
            "channel {}: published generation {} ({}), signed by {} of the {} keys needed: {}",
            signed.channel,
            signed.generation,
            signed.snapshot,
            signed.signers.len(),
            signed.threshold,
            signed.signers.join(", ")
        );
    } else {
        println!(
            "channel {}: proposal {} (generation {}) has {} of the {} signatures it needs ({}); it waits for more \
             (`cairn sign --channel {} --key KEY`)",
            signed.channel,
            signed.proposal,
            signed.generation,
            signed.signers.len(),
            signed.threshold,
            signed.signers.join(", "),
            signed.channel
        );
    }
    Ok(())
}

fn list(
    store_args: &StoreArgs,
    chain: &Chain,
    channel: &str,
    proposals: &[Proposal],
    next: u64,
) -> Result<()> {
    let rows: Vec<Listed> = proposals
        .iter()
        .map(|p| {
            let (signers, threshold, _) = tally(chain, channel, p).unwrap_or_default();
            let head = &p.signed.head;
            Listed {
                id: p.id(),
                generation: p.generation,
                snapshot: head.snapshot,
                previous_snapshot: head.previous_snapshot,
                source: head.source.clone(),
                proposed_at: head.published_at,
                expires_at: head.expires_at,
                signers,
                threshold: (threshold > 0).then_some(threshold),
                open: p.generation == next,
            }
        })
        .collect();
    if store_args.output == Output::Json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("channel {channel}: no proposal waits for signatures");
    }
    for row in &rows {
        let state = if row.open {
            "open"
        } else {
            "STALE (generation taken)"
        };
        println!(
            "{} generation {} {state}: snapshot {} (from {}), proposed {}, expires {}; signed by {} of {}: {}",
            row.id,
            row.generation,
            row.snapshot,
            row.previous_snapshot
                .map_or("nothing".to_owned(), |d| d.to_string()),
            row.proposed_at,
            row.expires_at,
            row.signers.len(),
            row.threshold.unwrap_or(0),
            row.signers.join(", ")
        );
    }
    Ok(())
}
