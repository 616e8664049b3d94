//! Property tests of the wire format: canonical form, delta packs and the Merkle index.
//!
//! - Canonical bytes depend on content only: not on key order, whitespace, YAML style or whether
//!   the manifest was written as YAML or JSON.
//! - `apply_delta(a, encode_delta(a, b)) == b` for random entry sets with adds, changes, removes.
//! - `diff_indexes` over two built indexes finds exactly what `diff_entries` finds.
//! - An index's shape and root depend on its entry set only, and it holds every entry once.
//! - `update_index` gives the index a full build of the new set gives, reading only the nodes it
//!   needs (fetched one by one on `MissingNode`, as a writer against a remote store does).
//!
//! Case counts are kept small so the file runs in a few seconds in a debug build.

use std::collections::{BTreeMap, BTreeSet};

use cairn_state_format::{
    Change, Digest, Entry, EntrySet, Index, LEAF_CAPACITY, Node, NodeSource, ResourceId, Snapshot,
    apply_delta, collect_entries, diff_entries, diff_indexes, encode_delta, parse_documents,
    to_canonical_bytes, update_index, yaml_to_json,
};
use proptest::prelude::*;
use proptest::sample::Index as Pick;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Random JSON-like values, and random ways of writing them down.
// ---------------------------------------------------------------------------------------------

/// Characters for strings: all printable ASCII plus escapes and multi-byte UTF-8. YAML line
/// breaks other than `\n` and `\r` (U+0085, U+2028, U+2029) and DEL are left out: YAML itself
/// folds or refuses them, whatever cairn does.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => (0x20u8..0x7f).prop_map(char::from),
        1 => prop::sample::select(vec!['\t', '\n', '\r', '\u{1}', '\u{1b}', 'é', 'ß', '日', '🙂']),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(text_char(), 0..max).prop_map(String::from_iter),
        // Words that YAML would read as something else if they were not quoted.
        prop::sample::select(vec![
            "true", "null", "~", "yes", "1", "-1", "0x10", "1e3", ".inf"
        ])
        .prop_map(str::to_owned),
        "k[a-z0-9]{0,6}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    // `<<` is YAML's merge key; it has its own (unit) test.
    text(10).prop_filter("the merge key", |k| k != "<<")
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::from),
        // Dyadic fractions are exact in binary, and written without an exponent.
        (any::<i32>(), 0u32..8).prop_map(|(m, e)| Value::from(f64::from(m) / f64::from(1u32 << e))),
        text(12).prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A small deterministic generator (splitmix64), seeded by proptest, that picks key orders,
/// indentation, styles and comments while rendering.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len())]
    }

    fn shuffled_keys<'a>(&mut self, map: &'a serde_json::Map<String, Value>) -> Vec<&'a String> {
        let mut keys: Vec<&String> = map.keys().collect();
        for i in (1..keys.len()).rev() {
            keys.swap(i, self.below(i + 1));
        }
        keys
    }
}

/// Whitespace JSON allows anywhere between tokens.
const JSON_SPACE: &[&str] = &["", " ", "\n", "\t", "\r\n", "  ", "\n    "];
/// Whitespace for JSON read as YAML (as `parse_documents` reads it): YAML folds line breaks in
/// flow collections too, but wants a key and its `:` on one line.
const FLOW_SPACE: &[&str] = &["", " ", "\n", "  ", "\n    ", "\n\t"];

/// `value` as JSON text with keys shuffled and random whitespace (`space`) between tokens.
fn json_text(value: &Value, rng: &mut Rng, space: &[&str], out: &mut String) {
    let gap = |rng: &mut Rng, out: &mut String| out.push_str(rng.pick(space));
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, key) in rng.shuffled_keys(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                gap(rng, out);
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str(rng.pick(&["", " "]));
                out.push(':');
                gap(rng, out);
                json_text(&map[key.as_str()], rng, space, out);
                gap(rng, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                gap(rng, out);
                json_text(item, rng, space, out);
                gap(rng, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// A string as a YAML scalar: plain where that cannot be misread, single-quoted where there is
/// nothing to escape, double-quoted (JSON escapes are YAML escapes) otherwise.
fn yaml_string(s: &str, rng: &mut Rng) -> String {
    let plain = s.starts_with('k')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let quotable = s.chars().all(|c| !c.is_control());
    if plain && rng.one_in(2) {
        s.to_owned()
    } else if quotable && rng.one_in(2) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        serde_json::to_string(s).unwrap()
    }
}

/// `value` in YAML flow style, on one line.
fn yaml_flow(value: &Value, rng: &mut Rng, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, key) in rng.shuffled_keys(map).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(rng.pick(&[",", ", ", " ,  "]));
                }
                out.push_str(&yaml_string(key, rng));
                out.push_str(rng.pick(&[": ", ":  "]));
                yaml_flow(&map[key.as_str()], rng, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str(rng.pick(&["[", "[ "]));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(rng.pick(&[",", ", ", " , "]));
                }
                yaml_flow(item, rng, out);
            }
            out.push(']');
        }
        Value::String(s) => out.push_str(&yaml_string(s, rng)),
        Value::Null => out.push_str(rng.pick(&["null", "~", "Null"])),
        scalar => out.push_str(&serde_json::to_string(scalar).unwrap()),
    }
}

/// After a scalar: maybe a trailing comment, then the line break.
fn end_line(rng: &mut Rng, out: &mut String) {
    if rng.one_in(5) {
        out.push_str(rng.pick(&[" # note", "   #: not a key"]));
    }
    out.push('\n');
    if rng.one_in(6) {
        out.push_str(rng.pick(&["\n", "# a comment line\n", "      # indented comment\n"]));
    }
}

/// A non-empty collection `value` in YAML block style, every line at `indent` or deeper, with
/// random indentation steps, styles and comments.
fn yaml_block(value: &Value, indent: usize, rng: &mut Rng, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for key in rng.shuffled_keys(map) {
                let child = &map[key.as_str()];
                out.push_str(&pad);
                out.push_str(&yaml_string(key, rng));
                out.push(':');
                if is_block(child) && !rng.one_in(4) {
                    out.push('\n');
                    // A sequence may sit at its key's own indentation.
                    let least = usize::from(!child.is_array());
                    yaml_block(child, indent + least + rng.below(4), rng, out);
                } else {
                    out.push_str(rng.pick(&[" ", "  ", "   "]));
                    yaml_flow(child, rng, out);
                    end_line(rng, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block(item) && !rng.one_in(4) {
                    let step = 2 + rng.below(3);
                    if rng.one_in(2) {
                        // Compact: the item's first line shares the dash's line.
                        let mut nested = String::new();
                        yaml_block(item, indent + step, rng, &mut nested);
                        out.push_str(&pad);
                        out.push('-');
                        out.push_str(&" ".repeat(step - 1));
                        out.push_str(&nested[indent + step..]);
                    } else {
                        out.push_str(&pad);
                        out.push_str("-\n");
                        yaml_block(item, indent + step, rng, out);
                    }
                } else {
                    out.push_str(&pad);
                    out.push_str(rng.pick(&["- ", "-  "]));
                    yaml_flow(item, rng, out);
                    end_line(rng, out);
                }
            }
        }
        scalar => unreachable!("yaml_block of {scalar}"),
    }
}

/// A whole YAML document for `value`.
fn yaml_document(value: &Value, rng: &mut Rng) -> String {
    let mut out = String::new();
    out.push_str(rng.pick(&["", "---\n", "# leading comment\n", "--- # marker\n"]));
    if is_block(value) && !rng.one_in(5) {
        yaml_block(value, rng.below(3), rng, &mut out);
    } else {
        yaml_flow(value, rng, &mut out);
        out.push('\n');
    }
    out
}

fn yaml_canonical(text: &str) -> Vec<u8> {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{e}\n--- YAML ---\n{text}"));
    to_canonical_bytes(&yaml_to_json(doc, "property").unwrap())
}

/// `data` wrapped into a ConfigMap-like manifest.
fn manifest(data: Value) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "generated", "namespace": "props", "labels": {"app": "p"}},
        "data": data,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace(
        value in json_value(),
        seeds in any::<[u64; 3]>(),
    ) {
        let canonical = to_canonical_bytes(&value);
        // A fixed point: canonical bytes read back give the same value and the same bytes.
        let reread: Value = serde_json::from_slice(&canonical).unwrap();
        prop_assert_eq!(&reread, &value);
        prop_assert_eq!(to_canonical_bytes(&reread), canonical.clone());

        for seed in seeds {
            let mut json = String::new();
            json_text(&value, &mut Rng(seed), JSON_SPACE, &mut json);
            let parsed: Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(to_canonical_bytes(&parsed), canonical.clone(), "JSON:\n{}", json);

            let yaml = yaml_document(&value, &mut Rng(seed));
            let from_yaml = yaml_canonical(&yaml);
            prop_assert_eq!(
                String::from_utf8_lossy(&from_yaml),
                String::from_utf8_lossy(&canonical),
                "YAML:\n{}",
                yaml
            );
        }
    }

    #[test]
    fn yaml_and_json_manifests_have_one_digest(
        data in json_value(),
        seed in any::<u64>(),
    ) {
        let object = manifest(data);
        let expected = Digest::of(&to_canonical_bytes(&object));
        let mut rng = Rng(seed);
        let yaml = yaml_document(&object, &mut rng);
        let mut json = String::new();
        json_text(&object, &mut rng, FLOW_SPACE, &mut json);

        let from_yaml = parse_documents("m.yaml", &yaml)
            .unwrap_or_else(|e| panic!("{e}\n--- YAML ---\n{yaml}"));
        let from_json = parse_documents("m.json", &json)
            .unwrap_or_else(|e| panic!("{e}\n--- JSON ---\n{json}"));
        // And both in one stream, JSON as the second document.
        let stream = format!("{yaml}---\n{json}\n");
        let from_stream = parse_documents("m.yaml", &stream)
            .unwrap_or_else(|e| panic!("{e}\n--- stream ---\n{stream}"));

        prop_assert_eq!(from_yaml.len(), 1);
        prop_assert_eq!(from_json.len(), 1);
        prop_assert_eq!(from_stream.len(), 2);
        for resource in from_yaml.iter().chain(&from_json).chain(&from_stream) {
            prop_assert_eq!(resource.digest, expected);
            prop_assert_eq!(&resource.canonical, &from_yaml[0].canonical);
            prop_assert_eq!(&resource.id, &from_yaml[0].id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Random entry sets.
// ---------------------------------------------------------------------------------------------

/// The entry and blob of resource number `n` at version `v`. Versions also vary the selector and
/// the wave, so a change may touch any field of an entry.
fn resource(n: u16, v: u8) -> (Entry, Vec<u8>) {
    let (group, kind, namespace) = match n % 3 {
        0 => ("", "ConfigMap", "shop"),
        1 => ("apps", "Deployment", "shop"),
        _ => ("", "Namespace", ""),
    };
    let blob = format!(r#"{{"kind":"{kind}","n":{n},"v":{v}}}"#).into_bytes();
    let entry = Entry {
        id: ResourceId {
            group: group.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: format!("r-{n}"),
        },
        blob: Digest::of(&blob),
        size: blob.len() as u64,
        selector: (v == 3).then(|| "env=prod,tier in (a,b)".parse().unwrap()),
        wave: (v == 2).then_some(i32::from(n % 4) - 1),
    };
    (entry, blob)
}

fn entry_set(versions: &BTreeMap<u16, u8>) -> EntrySet {
    versions
        .iter()
        .map(|(&n, &v)| {
            let (entry, _) = resource(n, v);
            (entry.id.clone(), entry)
        })
        .collect()
}

/// Resource numbers and versions of a base set.
fn base_versions(max: usize) -> impl Strategy<Value = BTreeMap<u16, u8>> {
    prop::collection::btree_map(0u16..20_000, 0u8..4, 0..max)
}

/// A base set and a target derived from it by random removes, changes (or no-op rewrites) and
/// additions.
fn base_and_target(
    max: usize,
    edits: usize,
) -> impl Strategy<Value = (BTreeMap<u16, u8>, BTreeMap<u16, u8>)> {
    (
        base_versions(max),
        prop::collection::vec((any::<Pick>(), 0u8..5), 0..edits),
        prop::collection::btree_map(20_000u16..40_000, 0u8..4, 0..edits / 2 + 1),
    )
        .prop_map(|(base, edits, additions)| {
            let mut target = base.clone();
            if !base.is_empty() {
                let keys: Vec<u16> = base.keys().copied().collect();
                for (pick, op) in edits {
                    let n = *pick.get(&keys);
                    match op {
                        0 => {
                            target.remove(&n);
                        }
                        v => {
                            target.insert(n, v - 1);
                        }
                    }
                }
            }
            target.extend(additions);
            (base, target)
        })
}

fn ids(changes: &[Change]) -> BTreeSet<ResourceId> {
    changes.iter().map(|c| c.id().clone()).collect()
}

/// Identities whose entries differ between the two sets, computed without any diff function.
fn differing_ids(a: &EntrySet, b: &EntrySet) -> BTreeSet<ResourceId> {
    a.keys()
        .chain(b.keys())
        .filter(|id| a.get(*id) != b.get(*id))
        .cloned()
        .collect()
}

/// Encodes the delta from `a` to `b`, applies it to `a`, and checks the result is exactly `b`.
fn check_delta_round_trip(a: &BTreeMap<u16, u8>, b: &BTreeMap<u16, u8>) {
    let (set_a, set_b) = (entry_set(a), entry_set(b));
    let (snap_a, snap_b) = (Snapshot::build(&set_a).0, Snapshot::build(&set_b).0);
    let blobs: BTreeMap<Digest, Vec<u8>> = b
        .iter()
        .map(|(&n, &v)| {
            let (entry, blob) = resource(n, v);
            (entry.blob, blob)
        })
        .collect();
    let changes = diff_entries(&set_a, &set_b);
    let pack = encode_delta(&snap_a.digest(), &snap_b.digest(), &changes, |d| {
        blobs.get(d).cloned()
    })
    .unwrap();
    let applied = apply_delta(&set_a, &snap_a.digest(), pack.as_slice()).unwrap();
    assert_eq!(applied.entries, set_b);
    assert_eq!(applied.snapshot, snap_b);
    let carried: BTreeSet<Digest> = applied.blobs.iter().map(|(d, _)| *d).collect();
    let put: BTreeSet<Digest> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Added(e) | Change::Changed { new: e, .. } => Some(e.blob),
            Change::Removed(_) => None,
        })
        .collect();
    assert_eq!(carried, put);
    for (digest, blob) in &applied.blobs {
        assert_eq!(Digest::of(blob), *digest);
    }
}

/// Checks `diff_indexes` against `diff_entries` and against a direct comparison.
fn check_index_diff(set_a: &EntrySet, set_b: &EntrySet) {
    let (index_a, index_b) = (Index::build(set_a), Index::build(set_b));
    let by_index = diff_indexes(&index_a, &index_a.root(), &index_b, &index_b.root()).unwrap();
    let by_entries = diff_entries(set_a, set_b);
    assert_eq!(by_index, by_entries);
    assert_eq!(ids(&by_index), differing_ids(set_a, set_b));
    // And the other way round: every change turns into its opposite.
    let back = diff_indexes(&index_b, &index_b.root(), &index_a, &index_a.root()).unwrap();
    assert_eq!(back, diff_entries(set_b, set_a));
    assert_eq!(ids(&back), ids(&by_index));
}

/// The index invariants: nodes hash to their names, every entry sits once in the slot its
/// identity hash chooses, counts add up, and a node is a branch only when a leaf would overflow.
/// Returns the depth of the tree (1 for a lone leaf).
fn check_index(set: &EntrySet, index: &Index) -> usize {
    for digest in index.digests() {
        let (node, canonical) = index.node(digest).unwrap();
        assert_eq!(Digest::of(canonical), *digest);
        assert_eq!(node.canonical(), canonical);
    }
    let mut collected = EntrySet::new();
    collect_entries(index, &index.root(), &mut collected).unwrap();
    assert_eq!(&collected, set);
    let (count, depth) = check_node(index, &index.root(), "");
    assert_eq!(count, set.len() as u64);
    depth
}

fn check_node(index: &Index, digest: &Digest, path: &str) -> (u64, usize) {
    match index.get_node(digest).unwrap() {
        Node::Leaf(entries) => {
            assert!(
                entries.len() <= LEAF_CAPACITY,
                "leaf of {} at {path:?}",
                entries.len()
            );
            for entry in entries {
                assert!(
                    entry.id.index_key().hex().starts_with(path),
                    "{} not under {path:?}",
                    entry.id
                );
            }
            (entries.len() as u64, 1)
        }
        Node::Branch(children) => {
            let (mut total, mut deepest) = (0, 0);
            for (slot, child) in children.iter().enumerate() {
                let Some(child) = child else { continue };
                let path = format!("{path}{slot:x}");
                let (count, depth) = check_node(index, &child.node, &path);
                assert!(count > 0, "empty child at {path:?}");
                assert_eq!(child.entries, count, "count at {path:?}");
                total += count;
                deepest = deepest.max(depth);
            }
            assert!(
                total > LEAF_CAPACITY as u64,
                "a branch of {total} entries at {path:?}"
            );
            (total, deepest + 1)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn applying_the_delta_from_a_to_b_gives_b((a, b) in base_and_target(300, 60)) {
        check_delta_round_trip(&a, &b);
    }

    #[test]
    fn applying_the_delta_between_unrelated_sets_gives_the_target(
        a in base_versions(100),
        b in base_versions(100),
    ) {
        check_delta_round_trip(&a, &b);
    }

    #[test]
    fn index_diff_finds_exactly_the_entry_diff((a, b) in base_and_target(300, 60)) {
        check_index_diff(&entry_set(&a), &entry_set(&b));
    }

    #[test]
    fn index_root_is_independent_of_insertion_order(
        entries in base_versions(300)
            .prop_map(|v| entry_set(&v).into_values().collect::<Vec<_>>())
            .prop_flat_map(|entries| (Just(entries.clone()), Just(entries).prop_shuffle())),
    ) {
        let (sorted, shuffled) = entries;
        let from_sorted: EntrySet = sorted.into_iter().map(|e| (e.id.clone(), e)).collect();
        let mut from_shuffled = EntrySet::new();
        for entry in shuffled {
            from_shuffled.insert(entry.id.clone(), entry);
        }
        let (a, b) = (Index::build(&from_sorted), Index::build(&from_shuffled));
        prop_assert_eq!(a.root(), b.root());
        prop_assert_eq!(a.len(), b.len());
        check_index(&from_sorted, &a);
        // The root survives storage.
        let (node, canonical) = a.node(&a.root()).unwrap();
        prop_assert_eq!(&Node::decode(&Node::encode(canonical), &a.root()).unwrap(), node);
    }
}

/// Updates `a`'s index into `b`'s with `update_index`, starting from a source that knows no
/// node and adding each node it asks for (as a writer fetching from a store does), and checks
/// the result against a full build of `b`.
fn check_update(a: &EntrySet, b: &EntrySet) {
    let (index_a, index_b) = (Index::build(a), Index::build(b));
    let mut upserts: Vec<Entry> = b
        .values()
        .filter(|e| a.get(&e.id) != Some(*e) || e.id.name.ends_with("77"))
        .cloned()
        .collect();
    upserts.reverse();
    let mut removals: Vec<ResourceId> = a
        .keys()
        .filter(|id| !b.contains_key(*id))
        .cloned()
        .collect();
    // Removing what is not there is no change.
    removals.push(ResourceId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: "absent".into(),
        name: "never-there".into(),
    });
    let mut known: std::collections::HashMap<Digest, Node> = std::collections::HashMap::new();
    let mut rounds = 0;
    let updated = loop {
        match update_index(&known, &index_a.root(), upserts.clone(), removals.clone()) {
            Ok(updated) => break updated,
            Err(missing) => {
                rounds += 1;
                for digest in missing.0 {
                    let node = index_a.get_node(&digest).expect("asks only for nodes of a");
                    assert!(known.insert(digest, node.clone()).is_none(), "asked twice");
                }
            }
        }
    };
    assert_eq!(updated.root, index_b.root());
    assert_eq!(updated.changes, diff_entries(a, b));
    let written: BTreeSet<Digest> = updated.nodes.iter().map(|(d, _, _)| *d).collect();
    // Everything the new index has and the old lacks, and nothing outside the new index (a
    // rebuilt node may equal an old one the update never read).
    let fresh: BTreeSet<Digest> = index_b
        .digests()
        .filter(|d| index_a.get_node(d).is_none())
        .copied()
        .collect();
    assert!(written.is_superset(&fresh), "{written:?} ⊉ {fresh:?}");
    assert!(written.iter().all(|d| index_b.get_node(d).is_some()));
    for (digest, node, canonical) in &updated.nodes {
        assert_eq!(Digest::of(canonical), *digest);
        assert_eq!(&node.canonical(), canonical);
    }
    // About one round of fetches per level (collapsing branches may need a few more).
    assert!(
        rounds <= 2 * check_node(&index_a, &index_a.root(), "").1 + 1,
        "{rounds} rounds"
    );
    // Reading is bounded by the change: never the whole old index when little changed.
    let changed = updated.changes.len();
    if changed <= 2 && index_a.len() > 40 {
        assert!(
            known.len() < index_a.len(),
            "read {} of {} nodes",
            known.len(),
            index_a.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn updating_an_index_gives_the_full_build((a, b) in base_and_target(300, 60)) {
        check_update(&entry_set(&a), &entry_set(&b));
    }

    #[test]
    fn updating_across_leaf_splits_and_collapses(a in base_versions(60), b in base_versions(60)) {
        // Small unrelated sets cross the leaf capacity both ways.
        check_update(&entry_set(&a), &entry_set(&b));
        check_update(&entry_set(&b), &entry_set(&a));
    }
}

proptest! {
    // One case with thousands of entries, so that the index has branches below branches.
    #![proptest_config(ProptestConfig::with_cases(1))]

    #[test]
    fn a_large_set_diffs_and_applies_like_small_ones(
        (a, b) in prop::collection::btree_map(0u16..20_000, 0u8..4, 2_000..3_000)
            .prop_flat_map(|base| {
                let keys: Vec<u16> = base.keys().copied().collect();
                (
                    Just(base),
                    prop::collection::vec((prop::sample::select(keys), 0u8..5), 0..40),
                    prop::collection::btree_map(20_000u16..40_000, 0u8..4, 0..20),
                )
            })
            .prop_map(|(base, edits, additions)| {
                let mut target = base.clone();
                for (n, op) in edits {
                    match op {
                        0 => { target.remove(&n); }
                        v => { target.insert(n, v - 1); }
                    }
                }
                target.extend(additions);
                (base, target)
            }),
    ) {
        let (set_a, set_b) = (entry_set(&a), entry_set(&b));
        let depth = check_index(&set_a, &Index::build(&set_a));
        prop_assert!(depth >= 3, "{} entries gave a tree of depth {}", set_a.len(), depth);
        check_index(&set_b, &Index::build(&set_b));
        check_index_diff(&set_a, &set_b);
        check_delta_round_trip(&a, &b);
        check_update(&set_a, &set_b);
    }
}

#[test]
fn equal_sets_give_an_empty_delta_and_no_changes() {
    let versions: BTreeMap<u16, u8> = (0..50).map(|n| (n, (n % 4) as u8)).collect();
    let set = entry_set(&versions);
    let index = Index::build(&set);
    assert!(
        diff_indexes(&index, &index.root(), &index, &index.root())
            .unwrap()
            .is_empty()
    );
    check_delta_round_trip(&versions, &versions);
    check_delta_round_trip(&BTreeMap::new(), &BTreeMap::new());
    check_delta_round_trip(&BTreeMap::new(), &versions);
    check_delta_round_trip(&versions, &BTreeMap::new());
}
