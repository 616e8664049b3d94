//! The root of trust heads are verified under, and how the agent follows the store's trust root
//! forward.
//!
//! With `--trust KEY` the root is fixed: any of the keys may sign any channel, and the store's
//! trust root is never read. With `--trust-root` (or `--trust-root-digest`) the agent starts
//! from the version it was installed with, then from the versions it accepted since (recorded
//! in its state, so a restart never goes back), and looks for `trust/root/<n+1>` whenever a poll
//! fetched a changed head and on every resync: never on an idle poll, which stays one
//! conditional GET. Each version is accepted only as TUF's rotation rule allows
//! ([`TrustedRoot::advance`]); a refused one is reported, the agent keeps the newest root it
//! accepted, and refuses new heads until the chain is repaired (what the refused version would
//! revoke is unknown: TUF stops the update too). A revocation therefore reaches an agent before the first head signed by the
//! revoked key can: the head that would use the key is what makes the agent look.

use cairn_state_format::{RootRefusal, TrustedRoot, layout};
use tokio::sync::Mutex;

use crate::config::TrustSpec;
use crate::error::{Error, Result, TrustRootProblem};
use crate::fetch::remote::Remote;
use crate::metrics::{Metrics, RequestKind};
use crate::state::StateDir;

/// Versions read per look at most: each must be validly signed, so only a long legitimate
/// history reaches this; the next look goes on from there.
const MAX_VERSIONS_PER_LOOK: usize = 64;

/// What heads are verified under.
#[derive(Debug)]
pub(crate) struct TrustChain {
    install: TrustSpec,
    /// With `--trust` keys, the root that delegates every channel to them (built once).
    simple: Option<TrustedRoot>,
    /// The store's chain as followed so far (`None` until the first look).
    followed: Mutex<Option<Followed>>,
}

#[derive(Debug)]
struct Followed {
    root: TrustedRoot,
    /// The stored bytes of every version accepted after the install version, in order.
    accepted: Vec<String>,
    /// Whether `accepted` holds versions not yet recorded in the state.
    unsaved: bool,
}

/// The root to verify a head under, and the newest refusal of a later version, if the last look
/// met one.
#[derive(Debug)]
pub(crate) struct Current {
    pub root: TrustedRoot,
    pub refused: Option<RefusedVersion>,
}

/// A version of the store's trust root that was not accepted.
#[derive(Debug, Clone)]
pub(crate) struct RefusedVersion {
    pub key: String,
    pub refusal: RootRefusal,
}

/// What the chain reads and writes through.
pub(crate) struct Io<'a> {
    pub remote: &'a Remote,
    pub state: &'a StateDir,
    pub metrics: &'a Metrics,
}

impl TrustChain {
    /// The chain an agent configured with `install` starts from.
    pub fn new(install: &TrustSpec) -> TrustChain {
        let simple = match install {
            TrustSpec::Keys(keys) => Some(TrustedRoot::simple(keys)),
            TrustSpec::ScopedKeys { keys, scopes } => {
                Some(TrustedRoot::simple_scoped(keys, scopes))
            }
            TrustSpec::Root(_) | TrustSpec::Pinned(_) => None,
        };
        TrustChain {
            install: install.clone(),
            simple,
            followed: Mutex::new(None),
        }
    }

    /// Resumes from the chain recorded in the state, without reading the store (a pinned install
    /// reads its version 1 from the store at its first look instead), so that the version in
    /// force is known from the start.
    pub async fn resume(&self, io: &Io<'_>) {
        let TrustSpec::Root(anchor) = &self.install else {
            return;
        };
        let mut followed = self.followed.lock().await;
        if followed.is_none() {
            let resumed = recorded_chain(anchor.clone(), io.state).await;
            io.metrics.set_trust_root_version(resumed.root.version());
            *followed = Some(resumed);
        }
    }

    /// The root to verify a head under; with `look`, after following the store's chain as far
    /// as it validly goes (the first call of a pinned install always looks: it has no root yet).
    pub async fn current(&self, io: &Io<'_>, look: bool) -> Result<Current> {
        if let Some(root) = &self.simple {
            return Ok(Current {
                root: root.clone(),
                refused: None,
            });
        }
        let anchor = match &self.install {
            TrustSpec::Root(root) => Some(root),
            TrustSpec::Keys(_) | TrustSpec::ScopedKeys { .. } | TrustSpec::Pinned(_) => None,
        };
        let mut followed = self.followed.lock().await;
        let look = look || followed.is_none();
        if followed.is_none() {
            let anchor = match anchor {
                Some(root) => root.clone(),
                None => self.fetch_pinned(io).await?,
            };
            *followed = Some(recorded_chain(anchor, io.state).await);
        }
        let followed = followed.as_mut().expect("set above");
        let refused = if look { followed.look(io).await? } else { None };
        if followed.unsaved {
            io.state.save_trust_chain(&followed.accepted).await?;
            followed.unsaved = false;
        }
        io.metrics.set_trust_root_version(followed.root.version());
        Ok(Current {
            root: followed.root.clone(),
            refused,
        })
    }

    /// Version 1 from the store, checked against the pinned digest.
    async fn fetch_pinned(&self, io: &Io<'_>) -> Result<TrustedRoot> {
        let TrustSpec::Pinned(digest) = &self.install else {
            unreachable!("only a pinned install fetches its anchor");
        };
        let key = layout::root_key(1);
        let problem = |problem| Error::TrustRoot {
            key: key.clone(),
            problem,
        };
        let bytes = io
            .remote
            .get(RequestKind::TrustRoot, "", &key)
            .await?
            .ok_or_else(|| problem(TrustRootProblem::Missing))?;
        TrustedRoot::anchor(&bytes, Some(digest))
            .map_err(|refusal| problem(TrustRootProblem::Refused(refusal)))
    }
}

/// The chain from `anchor` through the versions recorded in the state (those not after the
/// anchor are skipped: the install was upgraded; a recorded version that does not follow is
/// reported and dropped with everything after it).
async fn recorded_chain(anchor: TrustedRoot, state: &StateDir) -> Followed {
    let mut followed = Followed {
        root: anchor,
        accepted: Vec::new(),
        unsaved: false,
    };
    for text in state.load_trust_chain().await {
        let next = followed.root.advance(text.as_bytes());
        match next {
            Ok(root) => {
                followed.root = root;
                followed.accepted.push(text);
            }
            Err(RootRefusal::NotNext { found, .. }) if found <= followed.root.version() => {
                followed.unsaved = true;
            }
            Err(refusal) => {
                tracing::warn!(%refusal, "the recorded trust chain does not follow the installed root; following the store from the installed root");
                followed.unsaved = true;
                break;
            }
        }
    }
    followed
}

impl Followed {
    /// Reads `trust/root/<n+1>`, `<n+2>`, … while they exist and are accepted.
    async fn look(&mut self, io: &Io<'_>) -> Result<Option<RefusedVersion>> {
        for _ in 0..MAX_VERSIONS_PER_LOOK {
            let key = layout::root_key(self.root.version() + 1);
            let Some(bytes) = io.remote.get(RequestKind::TrustRoot, "", &key).await? else {
                return Ok(None);
            };
            let next = self.root.advance(&bytes);
            match next {
                Ok(root) => {
                    tracing::info!(
                        version = root.version(),
                        digest = %root.digest(),
                        "trust root advanced"
                    );
                    self.root = root;
                    // `advance` decoded it, so the bytes are UTF-8 JSON.
                    self.accepted
                        .push(String::from_utf8_lossy(&bytes).into_owned());
                    self.unsaved = true;
                }
                Err(refusal) => {
                    tracing::warn!(key, %refusal, version = self.root.version(), "trust root version refused; keeping the root accepted before");
                    io.metrics.trust_root_refused();
                    return Ok(Some(RefusedVersion { key, refusal }));
                }
            }
        }
        Ok(None)
    }
}
