//! `--scopes FILE`: what each channel may do in the simple mode (`--trust KEY`), for users
//! without a trust root. The file is YAML or JSON, a list of entries; the first entry whose
//! patterns match a channel decides, and a channel no entry names is refused as not delegated:
//!
//! ```yaml
//! - channels: ["team-a-*"]
//!   scope:
//!     cluster_scoped: false
//!     deny_kinds: ["*.rbac.authorization.k8s.io"]
//!     kinds: ["*.*"]
//!     namespaces: ["$channel"]
//!     service_account: {namespace: team-a, name: cairn}
//! ```
//!
//! The scope is read through the same types as a trust root's delegation, so a field this
//! agent does not know is refused, never ignored.

use std::path::Path;

use cairn_state_format::{ChannelPattern, Scope};
use serde::Deserialize;

use crate::error::ConfigError;

const SETTING: &str = "--scopes";

/// Channels and what they may do.
pub type ScopedChannels = Vec<(Vec<ChannelPattern>, Scope)>;

/// One entry of the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    channels: Vec<ChannelPattern>,
    scope: Scope,
}

/// Reads the scopes file at `path`; errors name the file and the entry (counted from 1).
pub fn read(path: &Path) -> Result<ScopedChannels, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        setting: SETTING,
        path: path.to_owned(),
        source,
    })?;
    parse(&text)
        .map_err(|reason| ConfigError::invalid(SETTING, format!("{}: {reason}", path.display())))
}

/// Parses the text of a scopes file (YAML, of which JSON is a part).
fn parse(text: &str) -> Result<ScopedChannels, String> {
    let entries: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("not a list of {{channels, scope}} entries: {e}"))?;
    if entries.is_empty() {
        return Err("lists no entry: every channel would be refused".to_owned());
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let at = |reason: String| format!("entry {}: {reason}", i + 1);
            let entry: Entry = serde_yaml_ng::from_value(value).map_err(|e| at(e.to_string()))?;
            if entry.channels.is_empty() {
                return Err(at("channels: names no channel pattern".to_owned()));
            }
            let scope = entry.scope.normalized();
            scope.validate().map_err(|e| at(format!("scope.{e}")))?;
            Ok((entry.channels, scope))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use cairn_state_format::{Placement, ScopedObject};

    use super::*;

    #[test]
    fn yaml_and_json_give_the_same_scopes() {
        let yaml = r#"
- channels: ["team-a-*"]
  scope:
    cluster_scoped: false
    deny_kinds: ["*.rbac.authorization.k8s.io"]
    kinds: ["*.*"]
    namespaces: [team-a, "$channel"]
    service_account: {namespace: team-a, name: cairn}
"#;
        let json = r#"[{"channels":["team-a-*"],"scope":{"cluster_scoped":false,
            "deny_kinds":["*.rbac.authorization.k8s.io"],"kinds":["*.*"],
            "namespaces":["$channel","team-a"],
            "service_account":{"name":"cairn","namespace":"team-a"}}}]"#;
        let (from_yaml, from_json) = (parse(yaml).unwrap(), parse(json).unwrap());
        assert_eq!(from_yaml, from_json);
        let scope = &from_yaml[0].1;
        let web = ScopedObject::new("", "ConfigMap", Placement::Namespaced("team-a-web"), "x");
        assert!(scope.check("team-a-web", &web).is_ok());
        let other = ScopedObject::new("", "ConfigMap", Placement::Namespaced("team-b"), "x");
        assert!(scope.check("team-a-web", &other).is_err());
    }

    #[test]
    fn errors_name_the_entry_and_the_field() {
        let unknown = r#"[{"channels":["a"],"scope":{"cluster_scoped":false,"deny_kinds":[],"kinds":["*.*"],"namespaces":[]}},
            {"channels":["b"],"scope":{"cluster_scoped":false,"deny_kinds":[],"kinds":["*.*"],"namespaces":[],"verbs":[]}}]"#;
        let e = parse(unknown).unwrap_err();
        assert!(e.starts_with("entry 2:") && e.contains("verbs"), "{e}");
        let no_kind = r#"[{"channels":["a"],"scope":{"cluster_scoped":false,"deny_kinds":[],"kinds":[],"namespaces":[]}}]"#;
        let e = parse(no_kind).unwrap_err();
        assert!(e.starts_with("entry 1: scope.kinds"), "{e}");
        let no_channel = r#"[{"channels":[],"scope":{"cluster_scoped":false,"deny_kinds":[],"kinds":["*.*"],"namespaces":[]}}]"#;
        assert!(parse(no_channel).unwrap_err().contains("channels"));
        assert!(parse("[]").unwrap_err().contains("no entry"));
        assert!(parse("channels: a").unwrap_err().contains("not a list"));
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let e = read(Path::new("/nonexistent/scopes.yaml")).unwrap_err();
        assert!(e.to_string().contains("scopes.yaml"), "{e}");
    }
}
