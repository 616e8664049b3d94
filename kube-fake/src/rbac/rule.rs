//! One RBAC `PolicyRule` and the two questions RBAC asks of it: does it allow a request
//! (`rbac.go`'s `RuleAllows`), and which parts of another rule does a set of rules not cover
//! (`validation/policy_comparator.go`'s `Covers`, used by the escalation check).

use serde_json::{Value, json};

use super::Attributes;

/// A `PolicyRule`: `*` in any list matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub groups: Vec<String>,
    pub resources: Vec<String>,
    /// Empty: every name.
    pub names: Vec<String>,
    pub urls: Vec<String>,
}

fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|l| l == "*" || l == item)
}

/// `nonResourceURLs` matching: exact, `*`, or a prefix ending in `*`.
fn url_matches(pattern: &str, path: &str) -> bool {
    pattern == "*"
        || pattern == path
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix))
}

fn list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Rule {
    /// A rule read from a Role's or ClusterRole's `rules` item.
    pub fn from_json(rule: &Value) -> Rule {
        Rule {
            verbs: list(&rule["verbs"]),
            groups: list(&rule["apiGroups"]),
            resources: list(&rule["resources"]),
            names: list(&rule["resourceNames"]),
            urls: list(&rule["nonResourceURLs"]),
        }
    }

    /// The rules of a Role or ClusterRole object.
    pub fn all_of(role: &Value) -> Vec<Rule> {
        role["rules"]
            .as_array()
            .map(|rules| rules.iter().map(Rule::from_json).collect())
            .unwrap_or_default()
    }

    /// Whether the rule allows the request.
    pub fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if let Some(path) = &a.path {
            return self.urls.iter().any(|u| url_matches(u, path));
        }
        has(&self.groups, &a.group)
            && has(&self.resources, &a.resource)
            && (self.names.is_empty() || self.names.contains(&a.name))
    }

    /// The rule as a review's `resourceRules` / `nonResourceRules` item.
    pub fn to_json(&self) -> Value {
        if !self.urls.is_empty() {
            return json!({"verbs": self.verbs, "nonResourceURLs": self.urls});
        }
        let mut rule = json!({"verbs": self.verbs, "apiGroups": self.groups,
                              "resources": self.resources});
        if !self.names.is_empty() {
            rule["resourceNames"] = json!(self.names);
        }
        rule
    }

    /// The parts of this rule, one verb, group, resource and name (or URL) each, that none of
    /// `owner` covers; empty when `owner` holds every right this rule grants.
    pub fn uncovered_by(&self, owner: &[Rule]) -> Vec<Rule> {
        self.atoms()
            .into_iter()
            .filter(|atom| !owner.iter().any(|o| o.covers_atom(atom)))
            .collect()
    }

    fn atoms(&self) -> Vec<Rule> {
        let one = |s: &String| vec![s.clone()];
        let mut out = Vec::new();
        for verb in &self.verbs {
            for url in &self.urls {
                out.push(Rule {
                    verbs: one(verb),
                    urls: one(url),
                    ..Rule::default()
                });
            }
            for group in &self.groups {
                for resource in &self.resources {
                    let atom = |names: Vec<String>| Rule {
                        verbs: one(verb),
                        groups: one(group),
                        resources: one(resource),
                        names,
                        urls: Vec::new(),
                    };
                    if self.names.is_empty() {
                        out.push(atom(Vec::new()));
                    }
                    out.extend(self.names.iter().map(|n| atom(one(n))));
                }
            }
        }
        out
    }

    /// Whether this rule covers an atom: a `*` in the atom is covered only by a `*`.
    fn covers_atom(&self, atom: &Rule) -> bool {
        if !atom.verbs.iter().all(|v| has(&self.verbs, v)) {
            return false;
        }
        if let Some(url) = atom.urls.first() {
            return self.urls.iter().any(|u| url_matches(u, url));
        }
        atom.groups.iter().all(|g| has(&self.groups, g))
            && atom.resources.iter().all(|r| has(&self.resources, r))
            && (self.names.is_empty()
                || (!atom.names.is_empty() && atom.names.iter().all(|n| self.names.contains(n))))
    }

    /// As the API server prints a rule it refuses to let someone grant.
    pub fn describe(&self) -> String {
        let quoted = |l: &[String]| {
            l.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut parts = Vec::new();
        if !self.groups.is_empty() {
            parts.push(format!("APIGroups:[{}]", quoted(&self.groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:[{}]", quoted(&self.resources)));
        }
        if !self.names.is_empty() {
            parts.push(format!("ResourceNames:[{}]", quoted(&self.names)));
        }
        if !self.urls.is_empty() {
            parts.push(format!("NonResourceURLs:[{}]", quoted(&self.urls)));
        }
        parts.push(format!("Verbs:[{}]", quoted(&self.verbs)));
        format!("{{{}}}", parts.join(", "))
    }
}
