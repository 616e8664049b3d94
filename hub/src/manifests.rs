//! Reading manifests from files, directories and stdin, and the checks done before any upload.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use cairn_state_format::{EntrySet, Resource, ResourceId, parse_documents};
use serde_json::Value;

use crate::error::{Error, Result};

/// Where manifests come from: paths (files or directories, searched recursively for `.yaml`,
/// `.yml` and `.json`), and `-` for standard input.
pub fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Resource>> {
    if paths.is_empty() {
        return Err(Error::Usage(
            "no manifests given: name files or directories, or `-f -` for standard input".into(),
        ));
    }
    let mut resources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(Error::io("<stdin>"))?;
            resources.extend(parse(&text, "<stdin>")?);
            continue;
        }
        let meta = std::fs::metadata(path).map_err(Error::io(path.display()))?;
        let files = if meta.is_dir() {
            manifest_files(path)?
        } else {
            vec![path.clone()]
        };
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(Error::io(file.display()))?;
            resources.extend(parse(&text, &file.display().to_string())?);
        }
    }
    Ok(resources)
}

fn parse(text: &str, source: &str) -> Result<Vec<Resource>> {
    parse_documents(source, text).map_err(|e| Error::Input(e.to_string()))
}

/// Manifest files under `dir`, sorted so that errors and ordering are reproducible.
fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).map_err(Error::io(dir.display()))? {
            let path = item.map_err(Error::io(dir.display()))?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Policy applied to every resource before anything is uploaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Let plain `kind: Secret` objects with data through.
    pub allow_secrets: bool,
}

/// Checks identities are unique and every resource passes the policy; returns the entry set.
/// All problems are reported together, so a CI run shows every mistake at once.
pub fn validate(resources: &[Resource], policy: Policy) -> Result<EntrySet> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&ResourceId, &Resource> = BTreeMap::new();
    for r in resources {
        if let Some(first) = seen.insert(&r.id, r) {
            problems.push(format!(
                "{} is declared twice: in {} and in {}",
                r.id, first.origin, r.origin
            ));
        }
        if !policy.allow_secrets && is_plain_secret(r) {
            problems.push(format!(
                "{}: {} carries secret data in plain text; snapshots are readable by every agent and kept in \
                 the store's history. Reference secrets from an external store (External Secrets Operator, \
                 CSI secrets driver) or commit them encrypted (Sealed Secrets, SOPS), or pass --allow-secrets \
                 if this is really what you want",
                r.origin, r.id
            ));
        }
        if let Some(field) = octal_looking_mode(&r.object) {
            problems.push(format!(
                "{}: {} has {field}, a string: YAML 1.2 reads an unquoted 0644 as text, not octal. \
                 Write the mode as 0o644 or as the decimal 420",
                r.origin, r.id
            ));
        }
    }
    if !problems.is_empty() {
        let count = problems.len();
        let mut message = problems.join("\n");
        if count > 1 {
            message.push_str(&format!("\n{count} problems; nothing was published"));
        }
        return Err(Error::Input(message));
    }
    Ok(resources
        .iter()
        .map(|r| (r.id.clone(), r.entry()))
        .collect())
}

fn is_plain_secret(r: &Resource) -> bool {
    let has = |field: &str| {
        r.object
            .get(field)
            .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    };
    r.id.group.is_empty() && r.id.kind == "Secret" && (has("data") || has("stringData"))
}

/// Finds `mode`/`defaultMode` fields holding a string like "0644": the most common way a YAML 1.1
/// habit turns into an object the API server rejects.
fn octal_looking_mode(value: &Value) -> Option<String> {
    fn looks_octal(s: &str) -> bool {
        s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| (b'0'..=b'7').contains(&b))
    }
    fn walk(value: &Value, path: &mut Vec<String>) -> Option<String> {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    let is_mode = key == "mode" || key == "defaultMode";
                    if let (true, Value::String(s)) = (is_mode, item)
                        && looks_octal(s)
                    {
                        path.push(key.clone());
                        return Some(format!("{} = {s:?}", path.join(".")));
                    }
                    path.push(key.clone());
                    let found = walk(item, path);
                    path.pop();
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push(format!("[{i}]"));
                let found = walk(item, path);
                path.pop();
                found
            }),
            _ => None,
        }
    }
    walk(value, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(text: &str) -> Vec<Resource> {
        parse_documents("m.yaml", text).unwrap()
    }

    #[test]
    fn duplicates_name_both_places() {
        let mut rs = resources("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
        rs.extend(
            parse_documents(
                "n.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            )
            .unwrap(),
        );
        let err = validate(&rs, Policy::default()).unwrap_err().to_string();
        assert!(
            err.contains("m.yaml, document 1") && err.contains("n.yaml, document 1"),
            "{err}"
        );
    }

    #[test]
    fn plain_secrets_are_refused_unless_allowed() {
        let rs = resources(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
        );
        let err = validate(&rs, Policy::default()).unwrap_err().to_string();
        assert!(
            err.contains("Secret s") && err.contains("--allow-secrets"),
            "{err}"
        );
        validate(
            &rs,
            Policy {
                allow_secrets: true,
            },
        )
        .unwrap();
        let empty = resources(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/service-account-token\n",
        );
        validate(&empty, Policy::default()).unwrap();
    }

    #[test]
    fn yaml_1_1_octal_modes_are_caught() {
        let rs = resources(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: 0644}\n",
        );
        let err = validate(&rs, Policy::default()).unwrap_err().to_string();
        assert!(
            err.contains("spec.volumes.[0].configMap.defaultMode"),
            "{err}"
        );
        let ok = resources(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, configMap: {name: c, defaultMode: 0o644}}]}\n",
        );
        validate(&ok, Policy::default()).unwrap();
    }
}
