//! Cluster selectors: parsing arbitrary text never panics, and a parsed selector's text form
//! parses back to the same selector, which matches the same clusters.
#![no_main]

use std::collections::BTreeMap;

use cairn_state_format::ClusterSelector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(selector) = text.parse::<ClusterSelector>() else {
        return;
    };
    let shown = selector.to_string();
    let again: ClusterSelector = shown
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} displays as {shown:?}, which does not parse: {e}"));
    assert_eq!(again, selector, "{text:?} displays as {shown:?}");

    // Clusters labelled after the selector's own keys and values.
    let mut labels = BTreeMap::new();
    for (k, v) in &selector.match_labels {
        labels.insert(k.clone(), v.clone());
    }
    for r in &selector.match_expressions {
        let value = r.values.first().cloned().unwrap_or_default();
        labels.insert(r.key.clone(), value);
        assert_eq!(again.matches(&labels), selector.matches(&labels));
    }
    assert_eq!(
        again.matches(&BTreeMap::new()),
        selector.matches(&BTreeMap::new())
    );
});
