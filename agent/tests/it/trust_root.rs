//! Agents under the store's trust root: heads accepted as the root delegates, the chain walked
//! forward only when a head changed (an idle poll stays one request), revocations, refused
//! versions, a restart that does not go back, a pinned install, an expired root.

use cairn_agent::{Agent, Outcome, TrustSpec};
use cairn_state_format::{
    Delegation, Digest, KeyEntry, Phase, SecretKey, SignedRoot, TrustRoot, TrustedRoot, layout,
};
use cairn_store::Store;
use chrono::{Duration, Utc};

use crate::support::*;

/// Writes the versions of one trust root chain, signed by its admin key.
struct RootChain {
    store: Store,
    admin: SecretKey,
    versions: Vec<SignedRoot>,
}

impl RootChain {
    /// Version 1, signed by `admin`, delegating `*` to `signer`.
    async fn new(store: &Store, signer: &SecretKey) -> RootChain {
        let admin = SecretKey::from_seed([0xad; 32]);
        let now = Utc::now();
        let mut root = TrustRoot::first(&[(admin.public(), None)], 1, now, now + Duration::days(1));
        delegate_all(&mut root, signer);
        let mut chain = RootChain {
            store: store.clone(),
            admin,
            versions: Vec::new(),
        };
        chain.write(SignedRoot::sign(&root, &[&chain.admin])).await;
        chain
    }

    /// The version agents are installed with.
    fn anchor(&self) -> TrustedRoot {
        let first = &self.versions[0];
        TrustedRoot::anchor(&first.encode(), Some(&first.digest())).unwrap()
    }

    /// The next version, as `edit` leaves it, signed by the admin key.
    async fn next(&mut self, edit: impl FnOnce(&mut TrustRoot)) {
        let last = self.versions.last().unwrap();
        let now = Utc::now();
        let mut root = last
            .root
            .successor(last.digest(), now, now + Duration::days(1));
        edit(&mut root);
        root.prune_keys();
        let signed = SignedRoot::sign(&root, &[&self.admin]);
        self.write(signed).await;
    }

    async fn write(&mut self, signed: SignedRoot) {
        let key = layout::root_key(signed.root.version);
        self.store.put(&key, signed.encode()).await.unwrap();
        self.versions.push(signed);
    }
}

/// Delegates every channel to `signer` alone (replacing what was delegated).
fn delegate_all(root: &mut TrustRoot, signer: &SecretKey) {
    let public = signer.public();
    root.keys.insert(
        public.id(),
        KeyEntry {
            public,
            label: None,
        },
    );
    root.delegations = vec![Delegation {
        name: "everything".into(),
        channels: vec!["*".parse().unwrap()],
        keys: vec![public.id()],
        threshold: 1,
        scope: None,
    }];
}

fn agent_under(store: &Store, trust: TrustSpec, dirs: &Dirs) -> Agent {
    let mut config = config(opened(store), &["prod"], dirs);
    config.trust = trust;
    Agent::new(config).unwrap()
}

fn reason(report: &cairn_agent::OnceReport) -> String {
    report.channels[0].reason.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_revocation_reaches_the_agent_with_the_first_head_the_revoked_key_signs() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let mut chain = RootChain::new(&store, &hub.key).await;
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let agent = agent_under(&store, TrustSpec::Root(chain.anchor()), &dirs);

    // First head: the agent looks for version 2 (none) and applies.
    let before = counting.counts();
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    let used = since(before, counting.counts());
    assert_eq!(
        agent
            .metrics()
            .requests(cairn_agent::RequestKind::TrustRoot),
        1
    );
    assert_eq!(used.gets, 3, "head, trust/root/2, snapshot pack: {used:?}");
    assert_eq!(agent.metrics().trust_root_version(), 1);

    // Idle: one conditional GET, no look at the root.
    let before = counting.counts();
    agent.run_pass(false).await;
    assert_eq!(since(before, counting.counts()).gets, 1);

    // The hub key leaked: version 2 hands the channel to a new key; the thief's head is refused
    // by the first poll that sees it.
    let replacement = SecretKey::from_seed([0x2e; 32]);
    chain.next(|root| delegate_all(root, &replacement)).await;
    hub.publish(&cm("a", "stolen")).await;
    let report = agent.run_pass(false).await;
    assert_eq!(report.channels[0].phase, Phase::Frozen, "{report:?}");
    assert!(
        reason(&report).contains("untrusted keys"),
        "{}",
        reason(&report)
    );
    assert_eq!(report.channels[0].applied.as_ref().unwrap().generation, 1);
    assert_eq!(agent.metrics().trust_root_version(), 2);
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '1'"));

    // The new key publishes; the agent follows.
    hub.key = replacement;
    hub.publish(&cm("a", "3")).await;
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '3'"));
}

#[tokio::test]
async fn a_forged_version_is_refused_and_reported_and_the_accepted_root_kept() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let chain = RootChain::new(&store, &hub.key).await;
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let agent = agent_under(&store, TrustSpec::Root(chain.anchor()), &dirs);
    assert_eq!(agent.run_pass(false).await.outcome, Outcome::Converged);

    // Someone who can write the bucket, but holds no root key, writes version 2 giving the
    // channel to their own key, signed by that key.
    let thief = SecretKey::from_seed([0x7f; 32]);
    let first = &chain.versions[0];
    let mut forged =
        first
            .root
            .successor(first.digest(), Utc::now(), Utc::now() + Duration::days(1));
    delegate_all(&mut forged, &thief);
    forged.prune_keys();
    store
        .put(
            &layout::root_key(2),
            SignedRoot::sign(&forged, &[&thief]).encode(),
        )
        .await
        .unwrap();
    hub.key = thief;
    hub.publish(&cm("a", "forged")).await;
    let report = agent.run_pass(false).await;
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen, "{report:?}");
    assert_eq!(agent.metrics().trust_root_version(), 1);
    assert_eq!(agent.metrics().trust_root_refusals(), 1);
    let error = status
        .errors
        .iter()
        .find(|e| e.message.contains("trust/root/"))
        .unwrap_or_else(|| panic!("the refused version is reported: {status:?}"));
    assert!(
        error.message.contains("needs 1 signatures"),
        "{}",
        error.message
    );
    assert_eq!(error.class, "verify");
    // What version 2 would revoke is unknown: no new head is accepted meanwhile.
    let reason = status.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("trust root version 2 is in the store but was refused"),
        "{reason}"
    );
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '1'"));
}

#[tokio::test]
async fn a_restarted_agent_keeps_the_newest_root_even_when_the_store_lost_it() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let mut chain = RootChain::new(&store, &hub.key).await;
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let anchor = chain.anchor();
    let revoked = key();
    let replacement = SecretKey::from_seed([0x2e; 32]);
    chain.next(|root| delegate_all(root, &replacement)).await;
    hub.key = replacement;
    hub.publish(&cm("a", "2")).await;
    {
        let agent = agent_under(&store, TrustSpec::Root(anchor.clone()), &dirs);
        assert_eq!(agent.run_pass(false).await.outcome, Outcome::Converged);
        assert_eq!(agent.metrics().trust_root_version(), 2);
    }
    // The bucket's attacker removes version 2 and signs with the revoked key.
    store.delete(&layout::root_key(2)).await.unwrap();
    hub.key = revoked;
    hub.publish(&cm("a", "revoked")).await;
    let agent = agent_under(&store, TrustSpec::Root(anchor), &dirs);
    let report = agent.run_pass(false).await;
    assert_eq!(report.channels[0].phase, Phase::Frozen, "{report:?}");
    assert_eq!(agent.metrics().trust_root_version(), 2);
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '2'"));
}

#[tokio::test]
async fn a_pinned_install_reads_version_one_and_refuses_another() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let chain = RootChain::new(&store, &hub.key).await;
    hub.publish(&cm("a", "1")).await;

    let pinned = agent_under(
        &store,
        TrustSpec::Pinned(chain.versions[0].digest()),
        &dirs(),
    );
    assert_eq!(pinned.run_pass(false).await.outcome, Outcome::Converged);
    assert_eq!(pinned.metrics().trust_root_version(), 1);

    let dirs = dirs();
    let wrong = agent_under(
        &store,
        TrustSpec::Pinned(Digest::of(b"another root")),
        &dirs,
    );
    let report = wrong.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        reason(&report).contains("not the pinned"),
        "{}",
        reason(&report)
    );
    assert!(read(&cm_path(&dirs, "a")).is_none(), "nothing applied");
}

#[tokio::test]
async fn an_expired_root_freezes_until_a_renewal_is_published() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let admin = SecretKey::from_seed([0xad; 32]);
    let now = Utc::now();
    let mut root = TrustRoot::first(
        &[(admin.public(), None)],
        1,
        now - Duration::days(2),
        now - Duration::days(1),
    );
    delegate_all(&mut root, &hub.key);
    let expired = SignedRoot::sign(&root, &[&admin]);
    store
        .put(&layout::root_key(1), expired.encode())
        .await
        .unwrap();
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let anchor = TrustedRoot::anchor(&expired.encode(), None).unwrap();
    let agent = agent_under(&store, TrustSpec::Root(anchor), &dirs);
    let report = agent.run_pass(false).await;
    assert_eq!(report.channels[0].phase, Phase::Frozen, "{report:?}");
    assert!(reason(&report).contains("expired"), "{}", reason(&report));

    // Renewed: the next resync fetches the refused head again, finds version 2 and accepts it,
    // though the head did not change.
    let renewed = root.successor(expired.digest(), now, now + Duration::days(30));
    store
        .put(
            &layout::root_key(2),
            SignedRoot::sign(&renewed, &[&admin]).encode(),
        )
        .await
        .unwrap();
    let report = agent.run_pass(true).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert_eq!(agent.metrics().trust_root_version(), 2);
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '1'"));
}
