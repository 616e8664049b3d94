//! Reading manifests from files and stdin into records, the part of publishing that is done
//! file by file (in parallel, and skipped for files the publish cache knows).
//!
//! A file is parsed into [`FileManifests`]: per object its index entry, where it was and the
//! facts the checks across files need (is it a plain Secret, which kind does it define, where
//! would `--namespace` put it). Those records are all the later steps use, so they can come
//! from the publish cache (`scan`) instead of a parse, and the checks across files
//! (`validate`) run on them either way. What one object can be checked for alone
//! (syntax, labels and annotations, a CRD's name) is checked here, every problem of every
//! object at once.

use std::io::Read;
use std::path::Path;

use bytes::Bytes;
use cairn_state_format::{Digest, Document, Entry, FileContent, Origin, Resource, parse_objects};
use serde_json::Value;

use super::kinds::{CustomKind, Kinds, Scope, crd};
use super::object_meta::{self, FieldProblem};
use super::placement::{Placement, place, placed_copy};
use crate::error::{Error, Result};

/// The source name standard input's manifests are reported under.
pub const STDIN: &str = "<stdin>";

/// How files are read: what changes what a file turns into besides its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `--namespace`: where namespace-less objects of namespaced kinds go.
    pub namespace: Option<String>,
}

/// One object of a manifest file, as publishing needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// Its index entry, as written (or placed in `--namespace`, for a built-in kind).
    pub entry: Entry,
    /// 1-based document number within the file.
    pub document: u32,
    /// 1-based position in the document's `items`, for an item of a list document.
    pub item: Option<u32>,
    /// A `kind: Secret` carrying data in plain text (refused unless allowed).
    pub plain_secret: bool,
    /// Read with `--namespace`, a namespace-less object of a kind that is not built-in: its
    /// entry in that namespace, published instead of `entry` if a CustomResourceDefinition of
    /// the snapshot makes the kind namespaced. (Boxed, as most objects have none.)
    pub in_namespace: Option<Box<Entry>>,
    /// For a CustomResourceDefinition: the kind it defines.
    pub defines: Option<Box<CustomKind>>,
}

impl Manifest {
    /// The entry published for this object, once the snapshot's `kinds` are known.
    pub fn published(&self, kinds: &Kinds) -> &Entry {
        let id = &self.entry.id;
        match &self.in_namespace {
            Some(placed) if kinds.scope(&id.group, &id.kind) == Some(Scope::Namespaced) => placed,
            _ => &self.entry,
        }
    }

    /// Where it was read, for messages.
    pub fn origin(&self, source: &str) -> Origin {
        let document = Origin::new(source, self.document as usize);
        match self.item {
            Some(item) => document.item(item as usize),
            None => document,
        }
    }
}

/// The manifests of one file (or of standard input).
#[derive(Clone, Debug, PartialEq)]
pub struct FileManifests {
    /// The path as given or found (or [`STDIN`]).
    pub source: String,
    /// Its resources in file order.
    pub manifests: Vec<Manifest>,
}

/// A parsed file: the records and canonical bytes of the objects that could be read, and the
/// problems of those that could not.
pub struct Parsed {
    /// The records.
    pub file: FileManifests,
    /// Canonical bytes by digest.
    pub blobs: Blobs,
    /// What is wrong with the file, one message per problem (none: every object was read).
    pub problems: Vec<String>,
}

impl Parsed {
    /// The parse, if the file had no problem.
    pub fn ok(self) -> Result<Parsed, Vec<String>> {
        if self.problems.is_empty() {
            Ok(self)
        } else {
            Err(self.problems)
        }
    }
}

/// Parses `text` read from `source`. Every problem of every object is returned, so one run
/// shows every mistake, with the records of the objects that were read (the checks across
/// files run on them too); a YAML syntax error ends the file.
pub fn parse_file(source: &str, text: &str, options: &ReadOptions) -> Parsed {
    let documents = match parse_objects(source, text) {
        Ok(documents) => documents,
        Err(e) => return Parsed::failed(source, vec![e.to_string()]),
    };
    let mut problems = Vec::new();
    let mut manifests = Vec::with_capacity(documents.len());
    let mut blobs = Vec::with_capacity(documents.len());
    for document in documents {
        let read = read_object(document, options);
        if let Some((manifest, bytes)) = read.record {
            manifests.push(manifest);
            blobs.extend(bytes);
        }
        problems.extend(read.problems);
    }
    let source = source.to_owned();
    Parsed {
        file: FileManifests { source, manifests },
        blobs,
        problems,
    }
}

impl Parsed {
    /// A file none of whose objects could be read.
    pub fn failed(source: &str, problems: Vec<String>) -> Parsed {
        let file = FileManifests {
            source: source.to_owned(),
            manifests: Vec::new(),
        };
        Parsed {
            file,
            blobs: Vec::new(),
            problems,
        }
    }
}

/// Canonical bytes by digest.
type Blobs = Vec<(Digest, Bytes)>;

/// What reading one object gave.
struct ReadObject {
    /// Its record and canonical bytes (two of each for a deferred placement), if it has an
    /// identity: kept even with problems, so the checks across files report theirs too.
    record: Option<(Manifest, Blobs)>,
    /// What is wrong with it.
    problems: Vec<String>,
}

/// Reads one object.
fn read_object(document: Document, options: &ReadOptions) -> ReadObject {
    let Document { origin, mut object } = document;
    let mut problems: Vec<FieldProblem> = object_meta::check(&object);
    let defines = defined_kind(&object, &mut problems);
    let deferred = place_object(&mut object, options.namespace.as_deref(), &origin);
    let mut problems: Vec<String> = problems.iter().map(|p| p.at(&origin)).collect();
    let resource = match Resource::from_value(object, origin.clone()) {
        Ok(resource) => resource,
        Err(e) => {
            problems.push(e.to_string());
            return ReadObject {
                record: None,
                problems,
            };
        }
    };
    if let Some(field) = octal_looking_mode(&resource.object) {
        problems.push(format!(
            "{origin}: {} has {field}, a string: YAML 1.2 reads an unquoted 0644 as text, not octal. \
             Write the mode as 0o644 or as the decimal 420",
            resource.id
        ));
    }
    // The placed copy differs by its namespace only, which was checked to be a valid one.
    let in_namespace = deferred.and_then(|object| {
        Resource::from_value(object, origin.clone())
            .map_err(|e| problems.push(e.to_string()))
            .ok()
    });
    let manifest = Manifest {
        entry: resource.entry(),
        document: u32::try_from(origin.document).unwrap_or(u32::MAX),
        item: origin.item.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
        plain_secret: is_plain_secret(&resource),
        in_namespace: in_namespace.as_ref().map(|r| Box::new(r.entry())),
        defines: defines.map(Box::new),
    };
    let blobs = [Some(resource), in_namespace]
        .into_iter()
        .flatten()
        .map(|r| (r.digest, Bytes::from(r.canonical)))
        .collect();
    ReadObject {
        record: Some((manifest, blobs)),
        problems,
    }
}

/// Places `object` as `--namespace` asks (see [`place`]); returns its copy in the namespace when
/// the choice waits for the snapshot's kinds.
fn place_object(object: &mut Value, namespace: Option<&str>, origin: &Origin) -> Option<Value> {
    match place(object, namespace) {
        Placement::Deferred => namespace.map(|ns| placed_copy(object, ns)),
        Placement::Cleared => {
            tracing::warn!(
                "{origin}: metadata.namespace dropped: the kind is cluster-scoped (the API server \
                 drops it too)"
            );
            None
        }
        Placement::AsWritten | Placement::Placed => None,
    }
}

/// The kind a CustomResourceDefinition defines (and an APIService's name checked against its
/// spec: the other kind whose name its spec dictates).
fn defined_kind(object: &Value, problems: &mut Vec<FieldProblem>) -> Option<CustomKind> {
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map(|(group, _)| group);
    match (group, object.get("kind").and_then(Value::as_str)) {
        (Some(crd::GROUP), Some(crd::KIND)) => match crd::read(object) {
            Ok(kind) => Some(kind),
            Err(p) => {
                problems.extend(p);
                None
            }
        },
        (Some("apiregistration.k8s.io"), Some("APIService")) => {
            problems.extend(object_meta::check_api_service(object));
            None
        }
        _ => None,
    }
}

/// Reads and parses one file.
pub fn read_file(path: &Path, options: &ReadOptions) -> Parsed {
    let source = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(&source, bytes, options),
        Err(e) => Parsed::failed(&source, vec![format!("{source}: {e}")]),
    }
}

/// Parses the bytes read from `source`, which must be UTF-8.
pub fn parse_bytes(source: &str, bytes: Vec<u8>, options: &ReadOptions) -> Parsed {
    match String::from_utf8(bytes) {
        Ok(text) => parse_file(source, &text, options),
        Err(e) => Parsed::failed(source, vec![format!("{source}: not UTF-8 text: {e}")]),
    }
}

/// Reads and parses standard input; also gives what was read.
pub fn read_stdin(options: &ReadOptions) -> Result<(Parsed, FileContent)> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(Error::io(STDIN))?;
    let content = FileContent {
        sha256: Digest::of(&bytes),
        size: bytes.len() as u64,
        git: None,
    };
    Ok((parse_bytes(STDIN, bytes, options), content))
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

    fn parse(text: &str, namespace: Option<&str>) -> Result<Parsed, Vec<String>> {
        let options = ReadOptions {
            namespace: namespace.map(str::to_owned),
        };
        parse_file("f.yaml", text, &options).ok()
    }

    #[test]
    fn every_problem_of_every_object_is_reported() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {'bad key': x}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, annotations: {port: 8080}}}\n";
        let problems = parse(text, None).err().unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("f.yaml, document 1: field metadata.labels.bad key:"));
        assert!(problems[1].starts_with("f.yaml, document 2: field metadata.name: is missing"));
        assert!(
            problems[2].starts_with("f.yaml, document 3, item 1: field metadata.annotations.port:"),
            "{problems:?}"
        );
    }

    #[test]
    fn namespace_places_built_in_kinds_now_and_others_both_ways() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        let parsed = parse(text, Some("shop")).unwrap();
        let [cm, widget, ns] = &parsed.file.manifests[..] else {
            panic!("three objects");
        };
        assert_eq!(cm.entry.id.to_string(), "ConfigMap shop/a");
        assert!(cm.in_namespace.is_none());
        assert_eq!(widget.entry.id.to_string(), "Widget.example.com w");
        let placed = widget.in_namespace.as_ref().unwrap();
        assert_eq!(placed.id.to_string(), "Widget.example.com shop/w");
        assert_eq!(ns.entry.id.to_string(), "Namespace shop");
        // Both forms of the widget have their bytes, whichever is published.
        assert_eq!(parsed.blobs.len(), 4);
        assert!(parsed.blobs.iter().any(|(d, _)| *d == placed.blob));
    }

    #[test]
    fn crds_say_which_kind_they_define() {
        let text = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n";
        let parsed = parse(text, None).unwrap();
        let defines = parsed.file.manifests[0].defines.as_ref().unwrap();
        assert_eq!(
            (defines.kind.as_str(), defines.scope),
            ("Widget", Scope::Namespaced)
        );
        let wrong = text.replace("name: widgets.example.com", "name: widgets");
        let problems = parse(&wrong, None).err().unwrap();
        assert!(problems[0].contains("field metadata.name"), "{problems:?}");
    }

    #[test]
    fn yaml_1_1_octal_modes_are_caught() {
        let problems = parse(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: v\n    configMap: {name: c, defaultMode: 0644}\n",
            None,
        )
        .err()
        .unwrap();
        assert!(
            problems[0].contains("spec.volumes.[0].configMap.defaultMode"),
            "{problems:?}"
        );
        parse(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, configMap: {name: c, defaultMode: 0o644}}]}\n",
            None,
        )
        .unwrap();
    }
}
