//! Reading manifests from files, directories and stdin, and the checks done before any upload.
//!
//! A file is parsed into [`FileManifests`]: per resource its index entry, where it was and the
//! facts the policy needs (is it a plain Secret). Those records are all the later steps use, so
//! they can come from the publish cache ([`crate::scan`]) instead of a parse, and the checks
//! across files ([`validate`]) run on them either way.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use cairn_state_format::{Digest, Entry, EntrySet, Resource, ResourceId, parse_documents};
use serde_json::Value;

use crate::error::{Error, Result};

/// The source name standard input's manifests are reported under.
pub const STDIN: &str = "<stdin>";

/// One resource of a manifest file, as publishing needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// Its index entry.
    pub entry: Entry,
    /// 1-based document number within the file.
    pub document: u32,
    /// A `kind: Secret` carrying data in plain text (refused unless allowed).
    pub plain_secret: bool,
}

/// The manifests of one file (or of standard input).
#[derive(Clone, Debug, PartialEq)]
pub struct FileManifests {
    /// The path as given or found (or [`STDIN`]).
    pub source: String,
    /// Its resources in file order.
    pub manifests: Vec<Manifest>,
}

/// A parsed file: its records and the canonical bytes of each resource.
pub struct Parsed {
    /// The records.
    pub file: FileManifests,
    /// Canonical bytes by digest.
    pub blobs: Vec<(Digest, Bytes)>,
}

/// Parses `text` read from `source`. Problems that concern single resources (a parse error, a
/// missing field, a YAML 1.1 octal mode) are all returned, so one run shows every mistake.
pub fn parse_file(source: &str, text: &str) -> Result<Parsed, Vec<String>> {
    let resources = parse_documents(source, text).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let mut manifests = Vec::with_capacity(resources.len());
    let mut blobs = Vec::with_capacity(resources.len());
    for resource in resources {
        if let Some(field) = octal_looking_mode(&resource.object) {
            problems.push(format!(
                "{}: {} has {field}, a string: YAML 1.2 reads an unquoted 0644 as text, not octal. \
                 Write the mode as 0o644 or as the decimal 420",
                resource.origin, resource.id
            ));
        }
        manifests.push(Manifest {
            entry: resource.entry(),
            document: u32::try_from(resource.origin.document).unwrap_or(u32::MAX),
            plain_secret: is_plain_secret(&resource),
        });
        let Resource {
            digest, canonical, ..
        } = resource;
        blobs.push((digest, Bytes::from(canonical)));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Parsed {
        file: FileManifests {
            source: source.to_owned(),
            manifests,
        },
        blobs,
    })
}

/// Reads and parses one file.
pub fn read_file(path: &Path) -> Result<Parsed, Vec<String>> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{source}: {e}")])?;
    parse_file(&source, &text)
}

/// Reads and parses standard input.
pub fn read_stdin() -> Result<Parsed> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(Error::io(STDIN))?;
    parse_file(STDIN, &text).map_err(problems_error)
}

/// The manifest files named by `paths`, each with its metadata: files as given, directories
/// searched recursively for `.yaml`, `.yml` and `.json` (hidden entries skipped), sorted so that
/// errors and ordering are reproducible. `-` (standard input) is left out.
pub fn list_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Metadata)>> {
    let mut files = Vec::new();
    for path in paths.iter().filter(|p| p.as_os_str() != "-") {
        let meta = std::fs::metadata(path).map_err(Error::io(path.display()))?;
        if meta.is_dir() {
            files.extend(manifest_files(path)?);
        } else {
            files.push((path.clone(), meta));
        }
    }
    Ok(files)
}

fn manifest_files(dir: &Path) -> Result<Vec<(PathBuf, Metadata)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for item in std::fs::read_dir(&dir).map_err(Error::io(dir.display()))? {
            let item = item.map_err(Error::io(dir.display()))?;
            if item.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = item.path();
            // Stat through the directory (no path walk from the root), following symlinks.
            let meta = match item.metadata().map_err(Error::io(path.display()))? {
                meta if meta.is_symlink() => {
                    std::fs::metadata(&path).map_err(Error::io(path.display()))?
                }
                meta => meta,
            };
            if meta.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push((path, meta));
            }
        }
    }
    // Byte order of the whole path: as reproducible as component order, and much cheaper.
    out.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Ok(out)
}

/// Policy applied to every resource before anything is uploaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Let plain `kind: Secret` objects with data through.
    pub allow_secrets: bool,
}

/// Checks identities are unique across all files and every resource passes the policy. All
/// problems are reported together, so a CI run shows every mistake at once.
pub fn validate(files: &[FileManifests], policy: Policy) -> Result<()> {
    let mut problems = Vec::new();
    let count: usize = files.iter().map(|f| f.manifests.len()).sum();
    let mut seen: HashMap<&ResourceId, (&str, u32)> = HashMap::with_capacity(count);
    for file in files {
        for m in &file.manifests {
            let id = &m.entry.id;
            if let Some((first, document)) = seen.insert(id, (&file.source, m.document)) {
                problems.push(format!(
                    "{id} is declared twice: in {first}, document {document} and in {}, document {}",
                    file.source, m.document
                ));
            }
            if m.plain_secret && !policy.allow_secrets {
                problems.push(format!(
                    "{}, document {}: {id} carries secret data in plain text; snapshots are readable by every \
                     agent and kept in the store's history. Reference secrets from an external store (External \
                     Secrets Operator, CSI secrets driver) or commit them encrypted (Sealed Secrets, SOPS), or \
                     pass --allow-secrets if this is really what you want",
                    file.source, m.document
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems_error(problems))
    }
}

/// The entry set of all files (identities must be unique: run [`validate`] first).
pub fn entry_set(files: &[FileManifests]) -> EntrySet {
    files
        .iter()
        .flat_map(|f| &f.manifests)
        .map(|m| (m.entry.id.clone(), m.entry.clone()))
        .collect()
}

/// One input error listing every problem (and how many, when there are several).
pub fn problems_error(problems: Vec<String>) -> Error {
    let count = problems.len();
    let mut message = problems.join("\n");
    if count > 1 {
        message.push_str(&format!("\n{count} problems; nothing was published"));
    }
    Error::Input(message)
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

    fn file(source: &str, text: &str) -> FileManifests {
        parse_file(source, text).unwrap().file
    }

    #[test]
    fn duplicates_name_both_places() {
        let files = [
            file(
                "m.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            ),
            file(
                "n.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            ),
        ];
        let err = validate(&files, Policy::default()).unwrap_err().to_string();
        assert!(
            err.contains("m.yaml, document 1") && err.contains("n.yaml, document 1"),
            "{err}"
        );
    }

    #[test]
    fn plain_secrets_are_refused_unless_allowed() {
        let files = [file(
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
        )];
        let err = validate(&files, Policy::default()).unwrap_err().to_string();
        assert!(
            err.contains("Secret s") && err.contains("--allow-secrets"),
            "{err}"
        );
        validate(
            &files,
            Policy {
                allow_secrets: true,
            },
        )
        .unwrap();
        let empty = [file(
            "t.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/service-account-token\n",
        )];
        validate(&empty, Policy::default()).unwrap();
    }

    #[test]
    fn yaml_1_1_octal_modes_are_caught() {
        let problems = parse_file(
            "p.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: 0644}\n",
        )
        .err()
        .unwrap();
        assert!(
            problems[0].contains("spec.volumes.[0].configMap.defaultMode"),
            "{problems:?}"
        );
        parse_file(
            "p.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, configMap: {name: c, defaultMode: 0o644}}]}\n",
        )
        .unwrap();
    }
}
