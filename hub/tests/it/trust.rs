//! The trust root through the hub's commands, on a local directory and on the S3 servers the test
//! command starts: `cairn trust` versions, publishing refused up front (before any upload) when
//! the root would not accept the head, proposals completed by `cairn sign`, revocation and root
//! rotation, an expired or forged root, and what agents see (the chain walked from version 1).

use crate::support;

use std::path::PathBuf;

use cairn_hub::Error;
use cairn_hub::trust;
use cairn_hub::{Cli, TrustError};
use cairn_state_format::{
    HeadCheck, Lineage, Refusal, SecretKey, SignedRoot, TrustedRoot, layout, verify_head_under,
};
use cairn_store::Store;
use chrono::Utc;
use clap::Parser;

/// A store to run the scenario on, with the keys and manifests of a platform in a directory.
struct Place {
    name: &'static str,
    url: String,
    store: Store,
    dir: PathBuf,
    /// Garage ignores conditional writes: every writing command needs `--single-publisher`.
    single: bool,
}

fn places(tmp: &tempfile::TempDir) -> Vec<Place> {
    let mut urls = vec![(
        "file",
        format!("file://{}", tmp.path().join("store").display()),
    )];
    std::fs::create_dir_all(tmp.path().join("store")).unwrap();
    urls.extend(cairn_test_support::server_urls(
        cairn_test_support::S3_SERVERS,
    ));
    urls.into_iter()
        .map(|(name, url)| {
            let dir = tmp.path().join(name);
            std::fs::create_dir_all(dir.join("m")).unwrap();
            for key in [
                "r1", "r2", "r3", "r4", "a", "b", "c", "team-a", "team-a-2", "team-b",
            ] {
                cairn_hub::keys::generate(&dir.join(format!("{key}.key"))).unwrap();
            }
            Place {
                name,
                store: Store::open(&url, &Default::default()).unwrap(),
                url,
                dir,
                single: name == "garage",
            }
        })
        .collect()
}

impl Place {
    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// Runs `cairn ARGS --store URL` in-process.
    async fn cairn(&self, args: &[&str]) -> Result<(), Error> {
        let mut argv: Vec<String> = vec!["cairn".into()];
        argv.extend(args.iter().map(|a| {
            let file = self.dir.join(a);
            let is_key = a.ends_with(".key") || a.ends_with(".pub");
            if is_key && file.exists() {
                file.display().to_string()
            } else {
                (*a).to_owned()
            }
        }));
        argv.extend(["--store".into(), self.url.clone()]);
        if self.single && args.contains(&"--key") {
            argv.push("--single-publisher".into());
        }
        cairn_hub::run(Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"))).await
    }

    /// Publishes a one-ConfigMap channel signed with `keys` (comma-separated key files).
    async fn publish(
        &self,
        channel: &str,
        value: &str,
        keys: &str,
        extra: &[&str],
    ) -> Result<(), Error> {
        let file = self.dir.join("m").join(format!("{channel}.yaml"));
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {channel}}}\ndata: {{v: {value}}}\n"
        );
        std::fs::write(&file, yaml).unwrap();
        let keys: Vec<String> = keys.split(',').map(|k| self.path(k)).collect();
        let file = file.display().to_string();
        let mut args = vec!["publish", "--channel", channel, "--no-cache", "--key"];
        let joined = keys.join(",");
        args.push(&joined);
        args.push(&file);
        args.extend_from_slice(extra);
        self.cairn(&args).await
    }

    /// Asserts that `result` is a refusal by the trust root that `expected` accepts.
    fn assert_refused(
        &self,
        result: Result<(), Error>,
        expected: impl FnOnce(&TrustError) -> bool,
    ) {
        let refused = refusal(result);
        assert!(expected(&refused), "{}: {refused}", self.name);
    }

    fn key(&self, name: &str) -> SecretKey {
        cairn_hub::keys::load_secret(&self.dir.join(format!("{name}.key"))).unwrap()
    }

    fn id(&self, name: &str) -> String {
        self.key(name).public().id()
    }

    async fn objects(&self, prefix: &str) -> usize {
        self.store.list(prefix).await.unwrap().len()
    }

    async fn head_generation(&self, channel: &str) -> Option<u64> {
        support::head_generation(&self.store, channel).await
    }

    /// What an agent installed with version 1's digest trusts after walking the chain.
    async fn agent_root(&self) -> TrustedRoot {
        let one = self
            .store
            .get(&layout::root_key(1))
            .await
            .unwrap()
            .unwrap()
            .bytes;
        let pinned = SignedRoot::decode(&one).unwrap().digest();
        let mut root = TrustedRoot::anchor(&one, Some(&pinned)).unwrap();
        while let Some(next) = self
            .store
            .get(&layout::root_key(root.version() + 1))
            .await
            .unwrap()
        {
            root = root.advance(&next.bytes).unwrap();
        }
        root
    }

    /// Whether an agent under the walked root accepts the channel's head.
    async fn agent_accepts(&self, channel: &str) -> Result<(), Refusal> {
        let root = self.agent_root().await;
        let head = self
            .store
            .get(&layout::head_key(channel))
            .await
            .unwrap()
            .unwrap()
            .bytes;
        let check = HeadCheck {
            root: &root,
            channel,
            applied_generation: None,
            lineage: Lineage::default(),
            now: Utc::now(),
        };
        verify_head_under(&head, &check).map(|_| ())
    }

    /// `cairn trust init` with root keys r1, r2 (signing) and r3 (public only), 2 of 3.
    async fn init(&self) {
        self.cairn(&[
            "trust",
            "init",
            "--key",
            &format!("{},{}", self.path("r1.key"), self.path("r2.key")),
            "--root-key",
            "r3.key.pub",
            "--threshold",
            "2",
        ])
        .await
        .unwrap();
    }

    /// Delegates prod (2 of a, b, c), `team-a-*` (team-a) and `team-b-*` (team-b).
    async fn delegate_platform(&self) {
        let roots = format!("{},{}", self.path("r1.key"), self.path("r2.key"));
        self.cairn(&[
            "trust",
            "delegate",
            "prod",
            "--channel",
            "prod",
            "--signer",
            "a.key.pub",
            "--signer",
            "b.key.pub",
            "--signer",
            "c.key.pub",
            "--threshold",
            "2",
            "--key",
            &roots,
        ])
        .await
        .unwrap();
        for team in ["team-a", "team-b"] {
            let pattern = format!("{team}-*");
            let signer = format!("{team}.key.pub");
            self.cairn(&[
                "trust",
                "delegate",
                team,
                "--channel",
                &pattern,
                "--signer",
                &signer,
                "--key",
                &roots,
            ])
            .await
            .unwrap();
        }
    }
}

fn refusal(result: Result<(), Error>) -> TrustError {
    match result {
        Err(Error::Trust(e)) => e,
        other => panic!("expected a trust refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn publishing_is_checked_against_the_root_before_anything_is_uploaded() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        // Without a root, any key signs any channel (agents decide by their --trust keys).
        p.publish("prod", "1", "a.key", &[]).await.unwrap();
        p.init().await;
        let blobs = p.objects("blobs/").await;
        p.assert_refused(p.publish("prod", "2", "a.key", &[]).await, |r| {
            matches!(r, TrustError::NotDelegated { version: 1, .. })
        });
        assert_eq!(
            p.objects("blobs/").await,
            blobs,
            "{}: refused before any upload",
            p.name
        );

        p.delegate_platform().await;
        p.publish("team-a-web", "1", "team-a.key", &[])
            .await
            .unwrap();
        p.agent_accepts("team-a-web").await.unwrap();
        // Team A's key may not sign team B's channels, nor prod.
        for channel in ["team-b-web", "prod"] {
            p.assert_refused(p.publish(channel, "1", "team-a.key", &[]).await, |r| matches!(r, TrustError::KeyNotDelegated { keys, .. } if keys == &vec![p.id("team-a")]));
        }
        // Prod needs two of a, b, c.
        p.assert_refused(p.publish("prod", "2", "a.key", &[]).await, |r| matches!(r, TrustError::BelowThreshold { threshold: 2, signers, .. } if signers.len() == 1));
        assert_eq!(
            p.objects("blobs/").await,
            blobs + 1,
            "{}: only team-a-web's blob",
            p.name
        );
        p.publish("prod", "2", "a.key,c.key", &[]).await.unwrap();
        assert_eq!(p.head_generation("prod").await, Some(2));
        p.agent_accepts("prod").await.unwrap();
    }
}

#[tokio::test]
async fn a_proposal_waits_unseen_until_cairn_sign_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        p.delegate_platform().await;
        p.publish("prod", "1", "a.key,b.key", &[]).await.unwrap();
        p.publish("prod", "2", "a.key", &["--propose"])
            .await
            .unwrap();
        // Agents see generation 1 still; the proposal waits for generation 2.
        assert_eq!(p.head_generation("prod").await, Some(1), "{}", p.name);
        let proposals = cairn_hub::proposal::list(&p.store, "prod").await.unwrap();
        assert_eq!(proposals.len(), 1);
        assert_eq!(proposals[0].generation, 2);
        // A key of another delegation cannot sign it.
        p.assert_refused(
            p.cairn(&["sign", "--channel", "prod", "--key", "team-a.key"])
                .await,
            |r| matches!(r, TrustError::KeyNotDelegated { .. }),
        );
        p.cairn(&["sign", "--channel", "prod", "--list"])
            .await
            .unwrap();
        p.cairn(&["sign", "--channel", "prod", "--key", "c.key"])
            .await
            .unwrap();
        assert_eq!(p.head_generation("prod").await, Some(2), "{}", p.name);
        p.agent_accepts("prod").await.unwrap();
        assert_eq!(
            p.objects("proposals/").await,
            0,
            "{}: the proposal is gone once logged",
            p.name
        );
        let bytes = p
            .store
            .get(&layout::head_key("prod"))
            .await
            .unwrap()
            .unwrap()
            .bytes;
        let signed = cairn_state_format::SignedHead::decode(&bytes).unwrap();
        let signers: Vec<&str> = signed.signatures.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(signers, [p.id("a"), p.id("c")], "{}", p.name);
    }
}

#[tokio::test]
async fn a_proposal_overtaken_by_another_publish_is_stale() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        p.delegate_platform().await;
        p.publish("prod", "1", "a.key", &["--propose"])
            .await
            .unwrap();
        p.publish("prod", "2", "b.key,c.key", &[]).await.unwrap();
        let result = p
            .cairn(&["sign", "--channel", "prod", "--key", "b.key"])
            .await;
        assert!(
            matches!(result, Err(Error::Conflict(ref m)) if m.contains("stale")),
            "{}: {result:?}",
            p.name
        );
        assert_eq!(p.head_generation("prod").await, Some(1), "{}", p.name);
    }
}

#[tokio::test]
async fn a_leaked_team_key_is_revoked_with_one_command() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        p.delegate_platform().await;
        p.publish("team-a-web", "1", "team-a.key", &[])
            .await
            .unwrap();
        // r3's secret is not at hand: one root key is below the threshold of 2.
        let one = p.path("r1.key");
        p.assert_refused(
            p.cairn(&["trust", "remove-key", &p.id("team-a"), "--key", &one])
                .await,
            |r| matches!(r, TrustError::Unaccepted { .. }),
        );
        let both = format!("{},{}", p.path("r1.key"), p.path("r2.key"));
        p.cairn(&[
            "trust",
            "remove-key",
            &p.id("team-a"),
            "--replace",
            "team-a-2.key.pub",
            "--key",
            &both,
        ])
        .await
        .unwrap();
        // What the thief signs now is refused by the hub and by agents.
        p.assert_refused(p.publish("team-a-web", "2", "team-a.key", &[]).await, |r| {
            matches!(r, TrustError::KeyNotDelegated { .. })
        });
        let root = p.agent_root().await;
        let stolen = cairn_state_format::SignedHead::sign(
            &cairn_state_format::Head::new(
                "team-a-web",
                cairn_state_format::Epoch::from_bytes([9; 16]),
                9,
                cairn_state_format::Digest::of(b"x"),
                Utc::now(),
                Utc::now() + chrono::Duration::hours(1),
            ),
            &[&p.key("team-a")],
        );
        let check = HeadCheck {
            root: &root,
            channel: "team-a-web",
            applied_generation: Some(1),
            lineage: Lineage::default(),
            now: Utc::now(),
        };
        assert!(
            matches!(
                verify_head_under(&stolen, &check),
                Err(Refusal::UnknownKey { .. })
            ),
            "{}",
            p.name
        );
        p.publish("team-a-web", "2", "team-a-2.key", &[])
            .await
            .unwrap();
        p.agent_accepts("team-a-web").await.unwrap();
    }
}

#[tokio::test]
async fn a_leaked_root_key_is_rotated_out_by_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        // r1 leaked: r2 and r3 (the remaining threshold) and the new r4 sign the rotation.
        let new = format!(
            "{},{},{}",
            p.path("r2.key"),
            p.path("r3.key"),
            p.path("r4.key")
        );
        p.cairn(&[
            "trust",
            "rotate",
            "--root-key",
            "r2.key.pub",
            "--root-key",
            "r3.key.pub",
            "--root-key",
            "r4.key.pub",
            "--key",
            &new,
        ])
        .await
        .unwrap();
        // The thief's key no longer signs anything, even with a second root key.
        let thief = format!("{},{}", p.path("r1.key"), p.path("r2.key"));
        p.assert_refused(
            p.cairn(&[
                "trust",
                "delegate",
                "all",
                "--channel",
                "*",
                "--signer",
                "team-a.key.pub",
                "--key",
                &thief,
            ])
            .await,
            |r| matches!(r, TrustError::NotRootKey { key, .. } if *key == p.id("r1")),
        );
        let root = p.agent_root().await;
        assert_eq!(root.version(), 2);
        assert!(!root.root().root.keys.contains(&p.id("r1")));
        // A rotation must be signed by the new keys too: r2 and r3 cannot hand the root to r1 again.
        p.assert_refused(
            p.cairn(&[
                "trust",
                "rotate",
                "--root-key",
                "r1.key.pub",
                "--threshold",
                "1",
                "--key",
                &format!("{},{}", p.path("r2.key"), p.path("r3.key")),
            ])
            .await,
            |r| matches!(r, TrustError::Unaccepted { .. }),
        );
        let ok = format!("{},{}", p.path("r3.key"), p.path("r4.key"));
        p.cairn(&[
            "trust",
            "delegate",
            "all",
            "--channel",
            "*",
            "--signer",
            "team-a.key.pub",
            "--key",
            &ok,
        ])
        .await
        .unwrap();
        assert_eq!(p.agent_root().await.version(), 3);
    }
}

#[tokio::test]
async fn an_expired_root_refuses_publishing_until_it_is_renewed() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        p.delegate_platform().await;
        // A version that expired yesterday, written as `cairn trust` would have.
        let chain = trust::require(&p.store).await.unwrap();
        let day = chrono::Duration::days(1);
        let old = chain.latest.root.successor(
            chain.trusted.digest(),
            Utc::now() - day - day,
            Utc::now() - day,
        );
        let signed = trust::sign_next(&chain, &old, &[p.key("r1"), p.key("r2")]).unwrap();
        trust::append(&p.store, &signed, p.single).await.unwrap();
        p.assert_refused(p.publish("team-a-web", "1", "team-a.key", &[]).await, |r| {
            matches!(r, TrustError::Expired { .. })
        });
        // Renewing is allowed from an expired root (it is the way out).
        let roots = format!("{},{}", p.path("r1.key"), p.path("r2.key"));
        p.cairn(&["trust", "rotate", "--key", &roots])
            .await
            .unwrap();
        p.publish("team-a-web", "1", "team-a.key", &[])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_forged_version_stops_every_command_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        p.delegate_platform().await;
        // A version 5 signed by the attacker's key, with the right lineage.
        let chain = trust::require(&p.store).await.unwrap();
        let mut forged = chain.latest.root.successor(
            chain.trusted.digest(),
            Utc::now(),
            Utc::now() + chrono::Duration::days(1),
        );
        forged.delegations.clear();
        forged.prune_keys();
        let bytes = SignedRoot::sign(&forged, &[&p.key("team-b")]).encode();
        p.store
            .put(&layout::root_key(forged.version), bytes)
            .await
            .unwrap();
        p.assert_refused(p.publish("team-a-web", "1", "team-a.key", &[]).await, |r| matches!(r, TrustError::Chain { version, refusal: cairn_state_format::RootRefusal::BelowThreshold { .. }, .. } if *version == forged.version));
        assert!(matches!(
            p.cairn(&["trust", "show"]).await,
            Err(Error::Trust(TrustError::Chain { .. }))
        ));
    }
}

#[tokio::test]
async fn a_first_version_of_another_number_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        // A self-signed document claiming to be version 7, stored as version 1.
        let expires = Utc::now() + chrono::Duration::days(1);
        let mut root = cairn_state_format::TrustRoot::first(
            &[(p.key("r1").public(), None)],
            1,
            Utc::now(),
            expires,
        );
        root.version = 7;
        root.previous = Some(cairn_state_format::Digest::of(b"elsewhere"));
        let bytes = SignedRoot::sign(&root, &[&p.key("r1")]).encode();
        p.store.put(&layout::root_key(1), bytes).await.unwrap();
        p.assert_refused(p.cairn(&["trust", "show"]).await, |r| {
            matches!(
                r,
                TrustError::Chain {
                    version: 1,
                    refusal: cairn_state_format::RootRefusal::NotNext {
                        expected: 1,
                        found: 7
                    },
                    ..
                }
            )
        });
    }
}

#[tokio::test]
async fn two_commands_racing_for_a_version_cannot_both_write_it() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp).into_iter().filter(|p| !p.single) {
        p.init().await;
        let chain = trust::require(&p.store).await.unwrap();
        let keys = [p.key("r1"), p.key("r2")];
        let expires = Utc::now() + chrono::Duration::days(1);
        let mut one = chain
            .latest
            .root
            .successor(chain.trusted.digest(), Utc::now(), expires);
        let two = one.clone();
        one.root.threshold = 1;
        trust::append(
            &p.store,
            &trust::sign_next(&chain, &one, &keys).unwrap(),
            false,
        )
        .await
        .unwrap();
        let lost = trust::append(
            &p.store,
            &trust::sign_next(&chain, &two, &keys).unwrap(),
            false,
        )
        .await;
        assert!(
            matches!(lost, Err(Error::Conflict(_))),
            "{}: {lost:?}",
            p.name
        );
        assert_eq!(
            trust::require(&p.store)
                .await
                .unwrap()
                .trusted
                .root()
                .root
                .threshold,
            1
        );
    }
}

#[tokio::test]
async fn gc_keeps_an_open_proposal_and_sweeps_a_stale_one() {
    let tmp = tempfile::tempdir().unwrap();
    for p in places(&tmp) {
        p.init().await;
        p.delegate_platform().await;
        p.publish("prod", "1", "a.key", &["--propose"])
            .await
            .unwrap();
        let later = Utc::now() + chrono::Duration::days(30);
        cairn_hub::collect_at(&p.store, 1, std::time::Duration::from_secs(1), false, later)
            .await
            .unwrap();
        p.cairn(&["sign", "--channel", "prod", "--key", "b.key"])
            .await
            .unwrap();
        assert_eq!(
            p.head_generation("prod").await,
            Some(1),
            "{}: the proposal's content survived gc",
            p.name
        );
        support::assert_readable(&p.store, &support::log(&p.store, "prod").await[0].1).await;

        p.publish("prod", "2", "a.key", &["--propose"])
            .await
            .unwrap();
        p.publish("prod", "3", "a.key,b.key", &[]).await.unwrap();
        cairn_hub::collect_at(&p.store, 1, std::time::Duration::from_secs(1), false, later)
            .await
            .unwrap();
        assert_eq!(
            p.objects("proposals/").await,
            0,
            "{}: the stale proposal is swept",
            p.name
        );
    }
}

/// What the check costs every command that signs a head: one LIST, and one GET per version.
#[tokio::test]
async fn reading_the_chain_costs_a_list_and_a_get_per_version() {
    let (store, counter) = support::counting_memory();
    let before = counter.counts();
    assert!(trust::load(&store).await.unwrap().is_none());
    let none = counter.counts();
    assert_eq!((none.lists - before.lists, none.gets - before.gets), (1, 0));

    let root_key = SecretKey::from_seed([9; 32]);
    let expires = Utc::now() + chrono::Duration::days(1);
    let first =
        cairn_state_format::TrustRoot::first(&[(root_key.public(), None)], 1, Utc::now(), expires);
    trust::append(&store, &SignedRoot::sign(&first, &[&root_key]), false)
        .await
        .unwrap();
    for _ in 0..2 {
        let chain = trust::require(&store).await.unwrap();
        let next = chain
            .latest
            .root
            .successor(chain.trusted.digest(), Utc::now(), expires);
        trust::append(
            &store,
            &trust::sign_next(&chain, &next, &[SecretKey::from_seed([9; 32])]).unwrap(),
            false,
        )
        .await
        .unwrap();
    }
    let start = counter.counts();
    assert_eq!(trust::require(&store).await.unwrap().trusted.version(), 3);
    let end = counter.counts();
    assert_eq!((end.lists - start.lists, end.gets - start.gets), (1, 3));
}
