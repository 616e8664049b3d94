//! Arbitrary UTF-8 as a YAML manifest stream: `parse_documents` never panics, and every resource
//! it returns has canonical bytes that hash to its digest and are a fixed point when read back as
//! JSON (what an agent does with a blob).
#![no_main]

use cairn_state_format::{Digest, Resource, parse_documents, to_canonical_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(resources) = parse_documents("fuzz.yaml", text) else {
        return;
    };
    for resource in resources {
        assert_eq!(Digest::of(&resource.canonical), resource.digest);
        let json: serde_json::Value =
            serde_json::from_slice(&resource.canonical).expect("canonical bytes are JSON");
        assert_eq!(json, resource.object);
        assert_eq!(to_canonical_bytes(&json), resource.canonical);
        let again = Resource::from_value(json, resource.origin.clone())
            .expect("a resource's canonical form is a valid resource");
        assert_eq!(again.id, resource.id);
        assert_eq!(again.entry(), resource.entry());
    }
});
