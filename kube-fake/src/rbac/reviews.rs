//! `SelfSubjectRulesReview` and `SelfSubjectAccessReview`, answered for whoever asks (the caller
//! or the user it impersonates) from the same rules that authorize its requests.

use serde_json::{Value, json};

use super::{Attributes, Requester, allows, rules};
use crate::world::World;

/// The status of a `SelfSubjectRulesReview` for `namespace`.
pub fn rules_review(world: &World, who: &Requester, namespace: &str) -> Value {
    let Some(rules) = rules(world, who, namespace) else {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
    };
    let (urls, resources): (Vec<_>, Vec<_>) = rules.iter().partition(|r| !r.urls.is_empty());
    let as_json =
        |rules: Vec<&super::Rule>| rules.into_iter().map(|r| r.to_json()).collect::<Vec<_>>();
    json!({"resourceRules": as_json(resources), "nonResourceRules": as_json(urls),
           "incomplete": false})
}

/// The status of a `SelfSubjectAccessReview` of `spec`.
pub fn access_review(world: &World, who: &Requester, spec: &Value) -> Value {
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let asked = if spec["nonResourceAttributes"].is_object() {
        let attrs = &spec["nonResourceAttributes"];
        Attributes {
            verb: text(attrs, "verb"),
            path: Some(text(attrs, "path")),
            ..Attributes::default()
        }
    } else {
        let attrs = &spec["resourceAttributes"];
        Attributes {
            verb: text(attrs, "verb"),
            group: text(attrs, "group"),
            resource: text(attrs, "resource"),
            namespace: text(attrs, "namespace"),
            name: text(attrs, "name"),
            path: None,
        }
    };
    json!({"allowed": allows(world, who, &asked)})
}
