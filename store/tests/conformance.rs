//! Store conformance, written once over `Store` and run on every store: in-memory, a local
//! directory, moto (conditional writes exactly as AWS S3), Garage (no conditional writes),
//! Azurite (Microsoft's Azure Blob emulator, for `az://`) and fake-gcs-server (the GCS emulator,
//! for `gs://`: it honours `ifGenerationMatch`, so create-only and compare-and-swap writes).

use cairn_state_format::{Digest, layout};
use cairn_store::{Abilities, Conditional, Created, Store, Swapped};
use object_store::{Attribute, ObjectStoreExt};

/// What each store is known to guarantee. A change here (say, Garage gaining conditional
/// writes) must be reflected in the README's table of guarantees.
fn expected(name: &str) -> Abilities {
    match name {
        "memory" | "moto" | "azurite" | "fake-gcs" => Abilities {
            create_only: true,
            compare_and_swap: true,
        },
        "file" => Abilities {
            create_only: true,
            compare_and_swap: false,
        },
        "garage" => Abilities {
            create_only: false,
            compare_and_swap: false,
        },
        other => panic!("unknown store {other}"),
    }
}

#[tokio::test]
async fn every_store_behaves_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    for (name, store) in cairn_test_support::stores(dir.path(), cairn_test_support::ALL_SERVERS) {
        basic_operations(name, &store).await;
        conditional_reads(name, &store).await;
        listed_versions(name, &store).await;
        cache_control(name, &store).await;
        let abilities = store.probe().await.unwrap();
        assert_eq!(abilities, expected(name), "{name}: probe");
        if abilities.create_only {
            create_only(name, &store).await;
            racing_creates(name, &store).await;
        }
        if abilities.compare_and_swap {
            compare_and_swap(name, &store).await;
        }
        assert!(
            store.list("_cairn/probe/").await.unwrap().is_empty(),
            "{name}: the probe cleans up"
        );
    }
}

async fn basic_operations(name: &str, store: &Store) {
    assert!(store.get("a/missing").await.unwrap().is_none(), "{name}");
    store.put("a/one", b"1".to_vec()).await.unwrap();
    store.put("a/two", b"22".to_vec()).await.unwrap();
    store.put("b/three", b"333".to_vec()).await.unwrap();
    assert_eq!(
        &store.get("a/one").await.unwrap().unwrap().bytes[..],
        b"1",
        "{name}"
    );
    assert!(store.exists("a/two").await.unwrap(), "{name}");
    let mut listed: Vec<(String, u64)> = store
        .list("a/")
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.key, l.size))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("a/one".into(), 1), ("a/two".into(), 2)],
        "{name}"
    );
    store.delete("a/one").await.unwrap();
    store.delete("a/one").await.unwrap();
    assert!(!store.exists("a/one").await.unwrap(), "{name}");
}

/// Writes carry the layout's `Cache-Control` on stores that keep attributes; a local directory
/// keeps none and still takes the writes.
async fn cache_control(name: &str, store: &Store) {
    let store = store.clone().with_cache_control(layout::cache_control);
    let blob = layout::blob_key(&Digest::of(b"cache-control"));
    let head = layout::head_key("cache-control");
    let log = layout::log_key("cache-control", 1);
    store.put(&blob, b"blob".to_vec()).await.unwrap();
    store.put(&head, b"head".to_vec()).await.unwrap();
    if expected(name).create_only {
        store.put_if_absent(&log, b"log".to_vec()).await.unwrap();
    } else {
        store.put(&log, b"log".to_vec()).await.unwrap();
    }
    for key in [&blob, &head, &log] {
        let path = object_store::path::Path::parse(key).unwrap();
        let got = store.object_store().get(&path).await.unwrap();
        let value = got
            .attributes
            .get(&Attribute::CacheControl)
            .map(|v| v.to_string());
        let want = (name != "file").then(|| layout::cache_control(key).to_owned());
        assert_eq!(value, want, "{name}: {key}");
        store.delete(key).await.unwrap();
    }
}

/// A listing names each object's version, and a rewrite changes it: what lets `cairn status`
/// fetch only the status records that changed since its last read.
async fn listed_versions(name: &str, store: &Store) {
    store.put("g/one", b"1".to_vec()).await.unwrap();
    store.put("g/two", b"2".to_vec()).await.unwrap();
    let version_of = |listed: &[cairn_store::Listed], key: &str| {
        let found = listed.iter().find(|l| l.key == key).unwrap();
        found
            .version
            .etag
            .clone()
            .unwrap_or_else(|| panic!("{name}: the listing gives no ETag for {key}"))
    };
    let before = store.list("g/").await.unwrap();
    let read = store.get("g/one").await.unwrap().unwrap();
    // Azure (and Azurite) list ETags bare but send them quoted on a read, so a reader compares
    // listed versions with listed versions only; the value is the same.
    let unquoted = |etag: &str| etag.trim_matches('"').to_owned();
    assert_eq!(
        read.version.etag.as_deref().map(unquoted),
        Some(unquoted(&version_of(&before, "g/one"))),
        "{name}: the listing and a read agree on the ETag"
    );
    // Same size, new content: a version made of size alone would miss this rewrite.
    store.put("g/one", b"3".to_vec()).await.unwrap();
    let after = store.list("g/").await.unwrap();
    assert_ne!(
        version_of(&before, "g/one"),
        version_of(&after, "g/one"),
        "{name}: a rewrite changes the listed version"
    );
    assert_eq!(
        version_of(&before, "g/two"),
        version_of(&after, "g/two"),
        "{name}: an untouched object keeps its listed version"
    );
    for key in ["g/one", "g/two"] {
        store.delete(key).await.unwrap();
    }
}

async fn conditional_reads(name: &str, store: &Store) {
    store.put("c/head", b"v1".to_vec()).await.unwrap();
    let first = store.get("c/head").await.unwrap().unwrap();
    let etag = first
        .version
        .etag
        .clone()
        .unwrap_or_else(|| panic!("{name}: no ETag"));
    assert!(
        matches!(
            store.get_if_changed("c/head", Some(&etag)).await.unwrap(),
            Conditional::NotModified
        ),
        "{name}"
    );
    store.put("c/head", b"v2".to_vec()).await.unwrap();
    match store.get_if_changed("c/head", Some(&etag)).await.unwrap() {
        Conditional::Fetched(f) => assert_eq!(&f.bytes[..], b"v2", "{name}"),
        other => panic!("{name}: expected the new object, got {other:?}"),
    }
    assert!(
        matches!(
            store.get_if_changed("c/none", Some(&etag)).await.unwrap(),
            Conditional::NotFound
        ),
        "{name}"
    );
}

async fn create_only(name: &str, store: &Store) {
    assert_eq!(
        store
            .put_if_absent("d/log/1", b"first".to_vec())
            .await
            .unwrap(),
        Created::Created,
        "{name}"
    );
    assert_eq!(
        store
            .put_if_absent("d/log/1", b"second".to_vec())
            .await
            .unwrap(),
        Created::AlreadyExists,
        "{name}"
    );
    assert_eq!(
        &store.get("d/log/1").await.unwrap().unwrap().bytes[..],
        b"first",
        "{name}: the loser wrote nothing"
    );
}

async fn racing_creates(name: &str, store: &Store) {
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_if_absent("e/race", format!("writer {i}").into_bytes())
                .await
                .unwrap()
        })
    });
    let results = futures::future::join_all(attempts).await;
    let winners = results
        .into_iter()
        .filter(|r| *r.as_ref().unwrap() == Created::Created)
        .count();
    assert_eq!(
        winners, 1,
        "{name}: exactly one of 8 racing create-only writes wins"
    );
}

async fn compare_and_swap(name: &str, store: &Store) {
    store.put("f/head", b"v1".to_vec()).await.unwrap();
    let v1 = store.get("f/head").await.unwrap().unwrap().version;
    assert_eq!(
        store
            .put_if_match("f/head", b"v2".to_vec(), &v1)
            .await
            .unwrap(),
        Swapped::Swapped,
        "{name}"
    );
    assert_eq!(
        store
            .put_if_match("f/head", b"v3".to_vec(), &v1)
            .await
            .unwrap(),
        Swapped::Conflict,
        "{name}: stale version"
    );
    assert_eq!(
        &store.get("f/head").await.unwrap().unwrap().bytes[..],
        b"v2",
        "{name}"
    );
}
