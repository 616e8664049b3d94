//! Golden fixtures: the exact bytes of every wire type of format version 3, and proof that the
//! fixtures of versions 1 and 2 are still read.
//!
//! Each test builds an object from fixed inputs (YAML text, seeds, timestamps), compares its bytes
//! with the file committed under `tests/golden/v<FORMAT_VERSION>/`, and decodes the committed file
//! back. The folders of older versions stay: a build must read every format it may meet in a
//! bucket, and the types a version left unchanged keep their bytes (and so their digests). Hubs and agents of different builds exchange these bytes through object storage, and
//! digests name them, so a fixture that changes is a format change: it must come with a bump of
//! `FORMAT_VERSION` (and a new fixture folder), never alone.
//!
//! To (re)write the fixtures, after such a bump or when adding one:
//!
//! ```text
//! CAIRN_BLESS=1 cargo test -p cairn-state-format --test golden
//! ```
//!
//! Fixtures are byte-exact; `tests/golden/.gitattributes` keeps git from touching line endings.
//! Compressed files (`*.zst`) depend on the zstd version, so they are only decoded, never compared.

use cairn_env_vars::EnvVars;
use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_state_format::{
    AppliedRef, BridgeRef, Counts, Delegation, DeltaRef, Digest, DriftedObject, Entry, EntrySet,
    Epoch, FORMAT_VERSION, FileContent, FileRecord, GitBlobId, Head, HeadCheck, Incomplete, Index,
    KeyEntry, Lineage, MapHead, Node, OpenedMap, PackRef, Packs, PassObject, PassOutcome, Phase,
    Resource, ResourceId, Rollout, RolloutStep, SOURCE_MAP_FORMAT, STATUS_FORMAT, SecretKey,
    SignedHead, SignedRoot, Snapshot, SnapshotPackAssembler, SnapshotPackRef, SnapshotPackWriter,
    SourceMapWriter, SourceObject, StatusError, StatusRecord, Trust, TrustRoot, TrustedRoot,
    apply_delta, diff_entries, encode_delta, parse_documents, verify_head, verify_head_under,
};
use chrono::{DateTime, TimeZone, Utc};

/// One fixed document that uses the YAML features canonical form must flatten: comments, anchors
/// and merge keys, flow and block style, quoting, block scalars, numeric and boolean keys, numbers.
const RESOURCE_YAML: &str = r#"# A Deployment written the way people write them.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: &labels
    app: web
    tier: "frontend"
  annotations:
    cairn.dev/cluster-selector: "env in (prod, staging), !canary"
    cairn.dev/wave: "2"
    note: |
      two lines,
      with "quotes", a tab	and ünïcödé ✓
spec:
  replicas: 3
  paused: false
  minReadySeconds: 0
  progressDeadlineSeconds: 600
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels:
        <<: *labels
        version: '1.0'
    spec:
      containers:
        - name: web
          image: "registry.example/web:1.0"
          args: [--port, "8080", --ratio, 0.75, --big, 18446744073709551615, --neg, -42]
          resources: {limits: {cpu: 500m, memory: 128Mi}}
          env:
            - {name: EMPTY, value: ""}
            - name: NULLISH
              value: ~
      nodeSelector:
        1: one
        true: "yes"
        Zeta: z
        _under: u
        émoji: "🙂"
"#;

/// The snapshot a delta pack starts from: three resources, one with a selector and a wave.
const BASE_YAML: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {color: blue}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations: {cairn.dev/cluster-selector: "env=prod,region in (eu,us)", cairn.dev/wave: "-1"}
spec: {replicas: 2}
"#;

/// The snapshot a delta pack leads to: one change, one removal, one addition.
const TARGET_YAML: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {color: red}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
"#;

fn bless() -> bool {
    std::env::var_os(EnvVars::CAIRN_BLESS).is_some_and(|v| v == "1")
}

fn fixture_path(version: u32, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("v{version}"))
        .join(name)
}

/// The committed bytes of fixture `name`; when blessing, `built` is written first.
fn committed(name: &str, built: &[u8]) -> Vec<u8> {
    committed_in(FORMAT_VERSION, name, built)
}

/// The committed bytes of fixture `name` of format `version`.
fn committed_in(version: u32, name: &str, built: &[u8]) -> Vec<u8> {
    let path = fixture_path(version, name);
    if bless() && std::fs::read(&path).ok().as_deref() != Some(built) {
        // Write and rename, so that a test reading the same fixture never sees half a file.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let thread = format!("{:?}", std::thread::current().id());
        let tmp = path.with_file_name(format!(".{name}.{}.{thread}.tmp", std::process::id()));
        std::fs::write(&tmp, built).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with CAIRN_BLESS=1 (only with a format version bump)",
            path.display()
        )
    })
}

/// Asserts that `built` is exactly the committed fixture `name`, and returns the committed bytes.
fn golden(name: &str, built: &[u8]) -> Vec<u8> {
    golden_in(FORMAT_VERSION, name, built)
}

/// [`golden`] for a fixture of format `version` (status records have versions of their own).
fn golden_in(version: u32, name: &str, built: &[u8]) -> Vec<u8> {
    let bytes = committed_in(version, name, built);
    assert!(
        bytes == built,
        "{name} differs from its fixture: the wire format changed. Bump FORMAT_VERSION, then \
         re-bless.\n committed: {}\n     built: {}",
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(built)
    );
    bytes
}

/// A compressed fixture: written when blessing, otherwise only read (to be decoded).
fn compressed(name: &str, built: &[u8]) -> Vec<u8> {
    committed(name, built)
}

/// Asserts a digest against the committed `<name>.digest` file and returns the committed one.
fn golden_digest(name: &str, built: &Digest) -> Digest {
    let text = golden(&format!("{name}.digest"), format!("{built}\n").as_bytes());
    String::from_utf8(text).unwrap().trim_end().parse().unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

/// What an agent that applied generation 6 of the fixtures' channel (epoch `EPOCH`) and trusts
/// `keys` checks a head with, at the fixtures' clock.
fn trust_after_6(keys: &[cairn_state_format::PublicKey]) -> Trust<'_> {
    Trust {
        keys,
        channel: "prod",
        applied_generation: Some(6),
        lineage: Lineage {
            epoch: Some(EPOCH),
            ..Lineage::default()
        },
        now: at(60),
    }
}

fn entries(resources: &[Resource]) -> EntrySet {
    resources
        .iter()
        .map(|r| (r.id.clone(), r.entry()))
        .collect()
}

fn blobs(resources: &[Resource]) -> BTreeMap<Digest, Vec<u8>> {
    resources
        .iter()
        .map(|r| (r.digest, r.canonical.clone()))
        .collect()
}

/// Forty ConfigMaps: more than a leaf holds, so the index root is a branch.
fn forty() -> EntrySet {
    (0..40)
        .map(|i| {
            let blob = format!("blob {i}");
            let entry = Entry {
                id: ResourceId {
                    group: String::new(),
                    kind: "ConfigMap".into(),
                    namespace: "bulk".into(),
                    name: format!("cm-{i:02}"),
                },
                blob: Digest::of(blob.as_bytes()),
                size: blob.len() as u64,
                selector: None,
                wave: (i % 5 == 0).then_some(i),
            };
            (entry.id.clone(), entry)
        })
        .collect()
}

#[test]
fn resource_canonical_bytes() {
    let resources = parse_documents("web.yaml", RESOURCE_YAML).unwrap();
    let [resource] = resources.as_slice() else {
        panic!("one document expected");
    };
    let bytes = golden("resource.json", &resource.canonical);
    let digest = golden_digest("resource", &resource.digest);
    assert_eq!(Digest::of(&bytes), digest);

    // Canonical JSON is a fixed point: read back as a manifest, it gives the same bytes and id.
    let again = parse_documents("resource.json", std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].canonical, bytes);
    assert_eq!(again[0].id, resource.id);
    assert_eq!(again[0].entry(), resource.entry());
    assert_eq!(resource.id.to_string(), "Deployment.apps shop/web");
    assert_eq!(resource.wave, Some(2));
}

#[test]
fn leaf_node() {
    let set = entries(&parse_documents("base.yaml", BASE_YAML).unwrap());
    let index = Index::build(&set);
    let (node, canonical) = index.node(&index.root()).unwrap();
    assert!(matches!(node, Node::Leaf(entries) if entries.len() == 3));

    let bytes = golden("node-leaf.json", canonical);
    let digest = golden_digest("node-leaf", &index.root());
    assert_eq!(Node::decode(&Node::encode(&bytes), &digest).unwrap(), *node);
    let stored = compressed("node-leaf.zst", &Node::encode(canonical));
    assert_eq!(Node::decode(&stored, &digest).unwrap(), *node);
}

#[test]
fn branch_node() {
    let set = forty();
    let index = Index::build(&set);
    let (node, canonical) = index.node(&index.root()).unwrap();
    assert!(matches!(node, Node::Branch(_)));

    let bytes = golden("node-branch.json", canonical);
    let digest = golden_digest("node-branch", &index.root());
    assert_eq!(Node::decode(&Node::encode(&bytes), &digest).unwrap(), *node);
}

#[test]
fn snapshot_root() {
    let (snapshot, index) = Snapshot::build(&forty());
    let bytes = golden("snapshot.json", &snapshot.encode());
    let digest = golden_digest("snapshot", &snapshot.digest());
    assert_eq!(Snapshot::decode(&bytes, &digest).unwrap(), snapshot);
    // The snapshot names the branch fixture as its index.
    assert_eq!(snapshot.index, index.root());
    assert_eq!(
        format!("{}\n", snapshot.index).as_bytes(),
        committed(
            "node-branch.digest",
            format!("{}\n", index.root()).as_bytes()
        )
    );
}

#[test]
fn delta_pack() {
    let base_resources = parse_documents("base.yaml", BASE_YAML).unwrap();
    let target_resources = parse_documents("target.yaml", TARGET_YAML).unwrap();
    let (base, target) = (entries(&base_resources), entries(&target_resources));
    let (from, to) = (
        Snapshot::build(&base).0.digest(),
        Snapshot::build(&target).0.digest(),
    );
    let blobs = blobs(&target_resources);
    let pack = encode_delta(&from, &to, &diff_entries(&base, &target), |d| {
        blobs.get(d).cloned()
    })
    .unwrap();

    let lines = golden("delta.lines", &zstd::decode_all(pack.as_slice()).unwrap());
    let from = golden_digest("delta-from", &from);
    let to = golden_digest("delta-to", &to);

    // The committed lines, compressed by this build, and the committed compressed pack (written by
    // whatever zstd blessed it) both apply to exactly the target.
    let recompressed = zstd::encode_all(lines.as_slice(), 3).unwrap();
    let stored = compressed("delta.zst", &pack);
    for pack in [recompressed, stored] {
        let applied = apply_delta(&base, &from, pack.as_slice()).unwrap();
        assert_eq!(applied.entries, target);
        assert_eq!(applied.snapshot.digest(), to);
        let carried: BTreeMap<Digest, Vec<u8>> = applied.blobs.into_iter().collect();
        assert_eq!(carried.len(), 2, "one changed and one added resource");
        for (digest, blob) in &carried {
            assert_eq!(blobs.get(digest), Some(blob));
        }
    }
}

#[test]
fn source_map() {
    let key = SecretKey::from_seed([1; 32]);
    let resources = parse_documents("base.yaml", BASE_YAML).unwrap();
    let objects: Vec<SourceObject> = resources
        .iter()
        .zip(1..)
        .map(|(r, document)| {
            let entry = r.entry();
            SourceObject {
                group: entry.id.group,
                kind: entry.id.kind,
                namespace: entry.id.namespace,
                name: entry.id.name,
                blob: entry.blob,
                size: entry.size,
                selector: entry.selector.map(|s| s.to_string()),
                wave: entry.wave,
                document,
                item: None,
                plain_secret: false,
                placed: None,
                defines: None,
            }
        })
        .collect();
    let mut record = Vec::new();
    let content = FileContent {
        sha256: Digest::of(BASE_YAML.as_bytes()),
        size: BASE_YAML.len() as u64,
        git: Some(GitBlobId::Sha1(*b"git blob id, 20 byte")),
    };
    FileRecord::encode("base.yaml", &content, &objects, &mut record);
    // Source maps are the hub's alone and have a format number of their own.
    let name = |what: &str| format!("source-map-{SOURCE_MAP_FORMAT}.{what}");
    let record = golden(&name("record"), &record);

    // The stored map is compressed: only decoded, with the committed record inside.
    let snapshot = Snapshot::build(&entries(&resources)).0.digest();
    let reader = Digest::of(b"golden reader");
    let mut map = SourceMapWriter::new(MapHead::new("prod", snapshot, reader));
    map.push(&record);
    let stored = compressed(&name("bin"), &map.seal(None, &[&key]));
    let opened = OpenedMap::open(&stored, &[key.public()]).unwrap();
    assert_eq!(
        (opened.head.snapshot, opened.head.reader),
        (snapshot, reader)
    );
    let records: Vec<FileRecord<'_>> = opened.records().collect();
    let [stored_record] = records.as_slice() else {
        panic!("one file record expected");
    };
    assert_eq!(stored_record.as_bytes(), record.as_slice());
    assert_eq!(stored_record.content, content);
    assert_eq!(stored_record.objects::<String>().unwrap(), objects);
}

/// The epoch of the fixtures' channel.
const EPOCH: Epoch = Epoch::from_bytes(*b"cairn golden epo");

fn head(base: Digest, target: Digest) -> Head {
    let mut head = Head::new("prod", EPOCH, 7, target, at(0), at(3_600));
    head.previous_snapshot = Some(base);
    let mut packs = Packs {
        deltas: vec![DeltaRef {
            from: base,
            bytes: 555,
            digest: Digest::of(b"delta pack"),
        }],
        snapshot: Some(SnapshotPackRef {
            snapshot: Digest::of(b"packed"),
            shards: vec![PackRef {
                bytes: 120_000,
                digest: Digest::of(b"snapshot pack"),
            }],
        }),
        bridge: None,
    };
    // Format 3: the bridge from the snapshot pack's snapshot to the base, which the head offers a
    // delta pack from.
    packs.bridge = Some(BridgeRef {
        to: base,
        bytes: 2_222,
        digest: Digest::of(b"bridge"),
    });
    head.set_packs(packs);
    head.rollout = Some(Rollout {
        steps: vec![
            RolloutStep {
                percent: 10,
                not_before: at(0),
            },
            RolloutStep {
                percent: 50,
                not_before: at(600),
            },
            RolloutStep {
                percent: 100,
                not_before: at(1_200),
            },
        ],
        paused_at: None,
    });
    head.source = BTreeMap::from([
        ("commit".to_owned(), "0123456789abcdef".to_owned()),
        (
            "pipeline".to_owned(),
            "https://ci.example/run/42".to_owned(),
        ),
        ("publisher".to_owned(), "ci@example".to_owned()),
    ]);
    head.retire_at = Some(at(86_400));
    head
}

#[test]
fn signed_head() {
    let (one, two) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
    let keys = format!(
        "{} {}\n{} {}\n",
        one.public().id(),
        one.public(),
        two.public().id(),
        two.public()
    );
    golden("keys.txt", keys.as_bytes());

    let head = head(Digest::of(b"base"), Digest::of(b"target"));
    let bytes = golden("head.json", &SignedHead::sign(&head, &[&one, &two]));

    let decoded = SignedHead::decode(&bytes).unwrap();
    assert_eq!(decoded.head, head);
    assert_eq!(decoded.signatures.len(), 2);
    for key in [&one, &two] {
        let trusted = [key.public()];
        let trust = trust_after_6(&trusted);
        let (verified, by) = verify_head(&bytes, &trust).unwrap();
        assert_eq!(verified, head);
        assert_eq!(by, key.public().id());
    }
}

#[test]
fn status_record() {
    let mut record = StatusRecord::new("eu-west-1a", "prod", "cairn-agent 0.1.0", at(0));
    record.labels = BTreeMap::from([
        ("env".to_owned(), "prod".to_owned()),
        ("region".to_owned(), "eu".to_owned()),
    ]);
    record.applied = Some(AppliedRef {
        generation: 6,
        snapshot: Digest::of(b"base"),
    });
    record.observed_generation = Some(7);
    record.phase = Phase::Degraded;
    record.reason = Some("1 object is not healthy".to_owned());
    record.counts = Counts {
        objects: 12,
        applied: 3,
        pruned: 1,
        failed: 0,
        drifted: 2,
        healthy: 11,
        progressing: 0,
        degraded: 1,
    };
    record.unhealthy = vec!["Deployment.apps shop/web".to_owned()];
    record.push_error(StatusError {
        at: at(30),
        class: "fetch".to_owned(),
        message: "store: connection reset".to_owned(),
        object: None,
    });
    record.push_error(StatusError {
        at: at(90),
        class: "apply".to_owned(),
        message: "admission webhook denied the request: \"image\" is not allowed".to_owned(),
        object: Some("Deployment.apps shop/web".to_owned()),
    });
    record.updated_at = at(120);

    // Without drifted objects or an incomplete pass, a record is still written in format 1.
    let bytes = golden_in(1, "status.json", &record.encode());
    assert_eq!(
        StatusRecord::decode(&bytes, "status/prod/eu-west-1a").unwrap(),
        record
    );

    // Format 2: the objects the last drift check found, and a pass that stopped part way.
    record.format = u64::from(STATUS_FORMAT);
    record.phase = Phase::Failed;
    record.reason = Some(
        "generation 7 partly applied (2 objects written, 0 removed, 1 failed, 1 not started): \
         the agent lacks permissions this generation needs"
            .to_owned(),
    );
    record.drifted = vec![
        DriftedObject {
            object: "ConfigMap shop/settings".to_owned(),
            corrected: true,
        },
        DriftedObject {
            object: "Deployment.apps shop/web".to_owned(),
            corrected: false,
        },
    ];
    record.incomplete = Some(Incomplete {
        generation: 7,
        written: 2,
        pruned: 0,
        failed: 1,
        not_started: 1,
        objects: vec![
            PassObject {
                object: "Ingress.networking.k8s.io shop/web".to_owned(),
                outcome: PassOutcome::Failed,
                reason: Some("forbidden: cannot patch ingresses (403 Forbidden)".to_owned()),
            },
            PassObject {
                object: "ConfigMap shop/settings".to_owned(),
                outcome: PassOutcome::Written,
                reason: None,
            },
            PassObject {
                object: "Service shop/web".to_owned(),
                outcome: PassOutcome::NotStarted,
                reason: None,
            },
        ],
    });
    let bytes = golden_in(2, "status.json", &record.encode());
    assert_eq!(
        StatusRecord::decode(&bytes, "status/prod/eu-west-1a").unwrap(),
        record
    );
}

#[test]
fn snapshot_pack() {
    let resources = parse_documents("target.yaml", TARGET_YAML).unwrap();
    let (set, blobs) = (entries(&resources), blobs(&resources));
    let snapshot = Snapshot::build(&set).0.digest();
    let mut writer = SnapshotPackWriter::new(snapshot, 1 << 20);
    for entry in set.values() {
        assert!(writer.push(entry, &blobs[&entry.blob]).unwrap().is_none());
    }
    let pack = writer.finish().unwrap().unwrap();
    let lines = golden(
        "snapshot-pack.lines",
        &zstd::decode_all(pack.as_slice()).unwrap(),
    );
    let stored = compressed("snapshot-pack.zst", &pack);
    for pack in [zstd::encode_all(lines.as_slice(), 3).unwrap(), stored] {
        let mut assembler = SnapshotPackAssembler::new(snapshot);
        let mut carried = BTreeMap::new();
        assembler
            .shard(pack.as_slice(), &mut |digest, blob| {
                carried.insert(digest, blob);
                Ok(())
            })
            .unwrap();
        let (root, _, read) = assembler.finish().unwrap();
        assert_eq!((root.digest(), &read, &carried), (snapshot, &set, &blobs));
    }
}

/// Version 2 fixtures: version 3 changed only the signed head (a head may name a bridge, and then
/// has format 3), so every other fixture has the same bytes in both folders; a version 2 head is
/// still read and verified.
#[test]
fn version_2_is_still_read() {
    let folder = fixture_path(2, "");
    for file in std::fs::read_dir(&folder).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        // Status records have versions of their own (`status_record` reads both).
        if ["head.json", "status.json"].contains(&name.as_str()) || name.ends_with(".zst") {
            continue;
        }
        let read = |v| std::fs::read(fixture_path(v, &name)).unwrap();
        assert!(read(2) == read(3), "{name} changed between format 2 and 3");
    }
    let v2 = std::fs::read(fixture_path(2, "head.json")).unwrap();
    let decoded = SignedHead::decode(&v2).unwrap().head;
    assert_eq!((decoded.format, decoded.packs.bridge), (2, None));
    assert_eq!(decoded.packs.deltas.len(), 1);
    let one = SecretKey::from_seed([1; 32]);
    let trusted = [one.public()];
    let trust = trust_after_6(&trusted);
    assert_eq!(verify_head(&v2, &trust).unwrap().0, decoded);
}

/// Version 1 fixtures: the types version 2 left unchanged have the same bytes in both folders
/// (status records changed in 2 as well: their own test reads both), and a version 1 head is
/// still read and verified (it carries no epoch and names no packs).
#[test]
fn version_1_is_still_read() {
    let unchanged = [
        "resource.json",
        "resource.digest",
        "node-leaf.json",
        "node-leaf.digest",
        "node-branch.json",
        "node-branch.digest",
        "snapshot.json",
        "snapshot.digest",
        "delta.lines",
        "delta-from.digest",
        "delta-to.digest",
        "keys.txt",
        "root-1.json",
        "root-1.digest",
        "root-2.json",
        "root-2.digest",
    ];
    for name in unchanged {
        let read = |v| std::fs::read(fixture_path(v, name)).unwrap();
        assert!(
            read(1) == read(FORMAT_VERSION),
            "{name} changed between format 1 and 2"
        );
    }
    let v1 = std::fs::read(fixture_path(1, "head.json")).unwrap();
    let decoded = SignedHead::decode(&v1).unwrap().head;
    assert_eq!((decoded.format, decoded.epoch), (1, None));
    assert!(decoded.packs.is_empty());
    let one = SecretKey::from_seed([1; 32]);
    let trusted = [one.public()];
    let trust = Trust {
        keys: &trusted,
        channel: "prod",
        applied_generation: Some(6),
        // An agent that applied from a version 2 head of this channel is another matter: a
        // version 1 head carries no epoch, so it reads as a re-created channel (see head.rs).
        lineage: Lineage::default(),
        now: at(60),
    };
    assert_eq!(verify_head(&v1, &trust).unwrap().0, decoded);

    let from: Digest =
        String::from_utf8(std::fs::read(fixture_path(1, "delta-from.digest")).unwrap())
            .unwrap()
            .trim_end()
            .parse()
            .unwrap();
    let base = entries(&parse_documents("base.yaml", BASE_YAML).unwrap());
    let stored = std::fs::read(fixture_path(1, "delta.zst")).unwrap();
    let applied = apply_delta(&base, &from, stored.as_slice()).unwrap();
    assert_eq!(
        applied.entries,
        entries(&parse_documents("t.yaml", TARGET_YAML).unwrap())
    );
}

/// The trust root of a platform: version 1 names three root keys (two must sign the next
/// version); version 2 delegates `prod` to two of three keys and `team-a-*` to one.
#[test]
fn trust_root_chain() {
    let seeds = |range: std::ops::Range<u8>| -> Vec<SecretKey> {
        range.map(|s| SecretKey::from_seed([s; 32])).collect()
    };
    let (roots, prod, team_a) = (seeds(1..4), seeds(10..13), SecretKey::from_seed([20; 32]));
    let labelled: Vec<_> = roots
        .iter()
        .zip(["alice", "bob", "carol"])
        .map(|(k, name)| (k.public(), Some(name.to_owned())))
        .collect();
    let v1 = TrustRoot::first(&labelled, 2, at(0), at(365 * 86_400));
    let v1 = SignedRoot::sign(&v1, &[&roots[0], &roots[1]]);
    let mut v2 = v1.root.successor(v1.digest(), at(60), at(365 * 86_400));
    let mut delegate = |name: &str, channel: &str, keys: &[&SecretKey], threshold: u32| {
        let mut ids: Vec<String> = keys.iter().map(|k| k.public().id()).collect();
        ids.sort();
        for k in keys {
            let entry = KeyEntry {
                public: k.public(),
                label: None,
            };
            v2.keys.insert(k.public().id(), entry);
        }
        v2.delegations.push(Delegation {
            name: name.to_owned(),
            channels: vec![channel.parse().unwrap()],
            keys: ids,
            threshold,
            scope: None,
        });
    };
    delegate("prod", "prod", &[&prod[0], &prod[1], &prod[2]], 2);
    delegate("team-a", "team-a-*", &[&team_a], 1);
    let v2 = SignedRoot::sign(&v2, &[&roots[0], &roots[2]]);

    let one = golden("root-1.json", &v1.encode());
    let two = golden("root-2.json", &v2.encode());
    let digest = golden_digest("root-1", &v1.digest());
    golden_digest("root-2", &v2.digest());
    assert_eq!(SignedRoot::decode(&one).unwrap(), v1);
    assert_eq!(SignedRoot::decode(&two).unwrap(), v2);

    // An agent pinned to version 1's digest walks to version 2 and takes prod heads signed by two
    // of prod's keys.
    let walked = TrustedRoot::anchor(&one, Some(&digest))
        .unwrap()
        .walk([two.as_slice()]);
    assert_eq!((walked.root.version(), walked.refused), (2, None));
    let head = Head::new(
        "prod",
        Epoch::from_bytes([7; 16]),
        1,
        Digest::of(b"s"),
        at(100),
        at(200),
    );
    let bytes = SignedHead::sign(&head, &[&prod[2], &prod[0]]);
    let check = HeadCheck {
        root: &walked.root,
        channel: "prod",
        applied_generation: None,
        lineage: Lineage::default(),
        now: at(150),
    };
    assert_eq!(verify_head_under(&bytes, &check).unwrap().head, head);

    // Version 3 scopes team A to its namespaces, without RBAC or cluster-scoped objects, applied
    // as its own account: the first scope makes the document format 2.
    let mut v3 = v2.root.successor(v2.digest(), at(120), at(365 * 86_400));
    v3.delegations[1].scope = Some(
        serde_json::from_str(
            r#"{"cluster_scoped":false,"deny_kinds":["*.rbac.authorization.k8s.io"],"kinds":["*.*"],
                "namespaces":["$channel","team-a"],"service_account":{"name":"cairn","namespace":"team-a"}}"#,
        )
        .unwrap(),
    );
    assert_eq!((v3.format, v3.required_format()), (1, 2));
    v3.format = v3.required_format();
    let v3 = SignedRoot::sign(&v3, &[&roots[1], &roots[2]]);
    let three = golden("root-3.json", &v3.encode());
    assert_eq!(SignedRoot::decode(&three).unwrap(), v3);
    let walked = TrustedRoot::anchor(&one, Some(&digest))
        .unwrap()
        .walk([two.as_slice(), three.as_slice()]);
    assert_eq!((walked.root.version(), walked.refused), (3, None));
    // The same document claiming format 1 is refused: a format 1 reader cannot enforce a scope.
    let text = String::from_utf8(three.clone()).unwrap();
    let claimed = text.replace("\"format\":2", "\"format\":1");
    let err = SignedRoot::decode(claimed.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("delegations[1].scope: scopes need trust root format 2"),
        "{err}"
    );
}
