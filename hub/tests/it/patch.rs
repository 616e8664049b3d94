//! Patching one entry of a stored snapshot gives exactly the snapshot a full build would.

use crate::support;

use cairn_hub::{RemoteNodes, upsert};
use cairn_state_format::{EntrySet, Snapshot, parse_documents};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn upsert_equals_a_full_build(size in 1usize..700, pick in 0usize..1000, new_entry in any::<bool>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = cairn_store::Store::open("memory://", &Default::default()).unwrap();
            let published = support::publish_yaml(&store, "p", &support::configmaps(size, 0, 0), &[support::key()], false).await;
            let name = if new_entry { "brand-new".to_owned() } else { format!("cm-{}", pick % size) };
            let changed = format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: team-{}}}\ndata: {{key: patched}}\n", (pick % size) % 7);
            let resource = parse_documents("patch.yaml", &changed).unwrap().remove(0);

            let mut nodes = RemoteNodes::new(&store);
            let base = nodes.snapshot(&published.snapshot).await.unwrap();
            let patched = upsert(&mut nodes, &base, resource.entry()).await.unwrap();

            let mut expected: EntrySet = support::assert_readable(&store, &published.snapshot).await;
            let was_there = expected.insert(resource.id.clone(), resource.entry()).is_some();
            let (snapshot, index) = Snapshot::build(&expected);
            prop_assert_eq!(&patched.snapshot, &snapshot);
            prop_assert_eq!(patched.replaced.is_some(), was_there);
            for (digest, _) in &patched.nodes {
                prop_assert!(index.node(digest).is_some(), "every new node belongs to the full build");
            }
            Ok(())
        })?;
    }
}
