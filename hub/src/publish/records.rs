//! A file's records as the caches keep them: the source map's [`FileRecord`] (one definition for
//! the local publish cache and the store's source map), encoded from and decoded into the
//! [`Manifest`]s publishing works on, or read as borrowed [`ObjectView`]s by the checks across
//! files, which need no copy of anything; and the digest of how files were read.

use std::borrow::Cow;

use cairn_state_format::{
    DefinedKind, Digest, Entry, FileContent, FileRecord, Origin, Placed, ResourceId, SourceObject,
};

use super::kinds::{CustomKind, Scope, builtin};
use super::manifests::{Manifest, ReadOptions};

/// Bumped whenever what a record means changes (what parsing puts in it, how it is checked).
const RECORD_RULES: u32 = 3;

/// How files are read, as a digest: the record rules, the built-in kinds table (where
/// `--namespace` puts objects) and `--namespace`. Records made another way are of no use.
pub fn reader(options: &ReadOptions) -> Digest {
    let mut text = format!(
        "cairn records {RECORD_RULES}\0namespace={}\n",
        options.namespace.as_deref().unwrap_or("")
    );
    for k in builtin::all() {
        text.push_str(&format!("{}\0{}\0{:?}\n", k.group, k.kind, k.scope));
    }
    Digest::of(text.as_bytes())
}

/// Appends the record of the file `source`, whose bytes were `content`, to `out`.
pub fn encode(source: &str, content: &FileContent, manifests: &[Manifest], out: &mut Vec<u8>) {
    let objects: Vec<SourceObject<Cow<'_, str>>> = manifests.iter().map(to_object).collect();
    FileRecord::encode(source, content, &objects, out);
}

fn to_object(m: &Manifest) -> SourceObject<Cow<'_, str>> {
    let id = &m.entry.id;
    SourceObject {
        group: Cow::Borrowed(id.group.as_str()),
        kind: Cow::Borrowed(id.kind.as_str()),
        namespace: Cow::Borrowed(id.namespace.as_str()),
        name: Cow::Borrowed(id.name.as_str()),
        blob: m.entry.blob,
        size: m.entry.size,
        selector: m.entry.selector.as_ref().map(|s| Cow::Owned(s.to_string())),
        wave: m.entry.wave,
        document: m.document,
        item: m.item,
        plain_secret: m.plain_secret,
        placed: m.in_namespace.as_ref().map(|e| Placed {
            blob: e.blob,
            size: e.size,
        }),
        defines: m.defines.as_deref().map(|k| DefinedKind {
            group: Cow::Borrowed(k.group.as_str()),
            kind: Cow::Borrowed(k.kind.as_str()),
            namespaced: k.scope == Scope::Namespaced,
        }),
    }
}

/// The records of a stored file, read as `options` say (whose `--namespace` placed copies are
/// in); `None` if one does not hold (damaged, a selector that no longer parses, a placed copy
/// without `--namespace`).
pub fn decode(record: &FileRecord<'_>, options: &ReadOptions) -> Option<Vec<Manifest>> {
    let objects: Vec<SourceObject<&str>> = record.objects().ok()?;
    objects
        .into_iter()
        .map(|o| from_object(o, options.namespace.as_deref()))
        .collect()
}

fn from_object(o: SourceObject<&str>, namespace: Option<&str>) -> Option<Manifest> {
    let selector = match o.selector {
        Some(text) => Some(text.parse().ok()?),
        None => None,
    };
    let id = ResourceId {
        group: o.group.to_owned(),
        kind: o.kind.to_owned(),
        namespace: o.namespace.to_owned(),
        name: o.name.to_owned(),
    };
    let in_namespace = match (o.placed, namespace) {
        (None, _) => None,
        (Some(placed), Some(namespace)) => Some(Box::new(Entry {
            id: ResourceId {
                namespace: namespace.to_owned(),
                ..id.clone()
            },
            blob: placed.blob,
            size: placed.size,
            selector: selector.clone(),
            wave: o.wave,
        })),
        (Some(_), None) => return None,
    };
    Some(Manifest {
        entry: Entry {
            id,
            blob: o.blob,
            size: o.size,
            selector,
            wave: o.wave,
        },
        document: o.document,
        item: o.item,
        plain_secret: o.plain_secret,
        in_namespace,
        defines: o.defines.map(|k| Box::new(custom_kind(&k))),
    })
}

/// The kind a stored CustomResourceDefinition defines.
pub fn custom_kind(k: &DefinedKind<&str>) -> CustomKind {
    CustomKind {
        group: k.group.to_owned(),
        kind: k.kind.to_owned(),
        scope: if k.namespaced {
            Scope::Namespaced
        } else {
            Scope::Cluster
        },
    }
}

/// An object as the checks across files read it: borrowed from a parsed [`Manifest`] or from a
/// stored record, so that checking 100,000 unchanged objects copies nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectView<'a> {
    /// Its identity as written (or placed in `--namespace`, for a built-in kind).
    pub id: IdView<'a>,
    /// Its namespace when placed in `--namespace` once its kind's scope is known.
    pub placed_in: Option<&'a str>,
    /// 1-based document number in its file.
    pub document: u32,
    /// 1-based position in the document's `items`.
    pub item: Option<u32>,
    /// A plain-text Secret.
    pub plain_secret: bool,
}

/// A file's objects, as the checks read them.
#[derive(Debug)]
pub struct FileObjects<'a> {
    /// The file's path.
    pub source: &'a str,
    /// Its objects, in file order.
    pub objects: Vec<ObjectView<'a>>,
}

/// A borrowed resource identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IdView<'a> {
    /// API group.
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
}

impl<'a> IdView<'a> {
    /// The view of `id`.
    pub fn of(id: &'a ResourceId) -> IdView<'a> {
        IdView {
            group: &id.group,
            kind: &id.kind,
            namespace: &id.namespace,
            name: &id.name,
        }
    }

    /// The identity, owned.
    pub fn to_id(self) -> ResourceId {
        ResourceId {
            group: self.group.to_owned(),
            kind: self.kind.to_owned(),
            namespace: self.namespace.to_owned(),
            name: self.name.to_owned(),
        }
    }
}

impl<'a> ObjectView<'a> {
    /// The view of a parsed object.
    pub fn of(m: &'a Manifest) -> ObjectView<'a> {
        ObjectView {
            id: IdView::of(&m.entry.id),
            placed_in: m.in_namespace.as_ref().map(|e| e.id.namespace.as_str()),
            document: m.document,
            item: m.item,
            plain_secret: m.plain_secret,
        }
    }

    /// The identity published once the kind's `scope` is known (`Manifest::published`).
    pub fn published(&self, scope: Option<Scope>) -> IdView<'a> {
        match self.placed_in {
            Some(namespace) if scope == Some(Scope::Namespaced) => IdView {
                namespace,
                ..self.id
            },
            _ => self.id,
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

    /// The views of a stored record's objects, read as `options` say; `None` if it is damaged.
    pub fn stored(
        record: &FileRecord<'a>,
        options: &'a ReadOptions,
    ) -> Option<Vec<ObjectView<'a>>> {
        let objects: Vec<SourceObject<&'a str>> = record.objects().ok()?;
        let namespace = options.namespace.as_deref();
        let view = |o: SourceObject<&'a str>| ObjectView {
            id: IdView {
                group: o.group,
                kind: o.kind,
                namespace: o.namespace,
                name: o.name,
            },
            placed_in: o.placed.and(namespace),
            document: o.document,
            item: o.item,
            plain_secret: o.plain_secret,
        };
        Some(objects.into_iter().map(view).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::manifests::parse_file;

    #[test]
    fn records_survive_the_stored_form() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations: {cairn.dev/cluster-selector: 'env=prod', cairn.dev/wave: '2'}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: dg==}\n---\napiVersion: example.com/v1\nkind: WidgetList\nitems:\n- {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n";
        let options = ReadOptions {
            namespace: Some("shop".into()),
        };
        let parsed = parse_file("a.yaml", text, &options).ok().unwrap();
        let manifests = &parsed.file.manifests;
        assert!(manifests.iter().any(|m| m.in_namespace.is_some()));
        assert!(manifests.iter().any(|m| m.defines.is_some()));
        assert!(manifests.iter().any(|m| m.plain_secret));

        let mut bytes = Vec::new();
        let content = FileContent {
            sha256: Digest::of(text.as_bytes()),
            size: text.len() as u64,
            git: None,
        };
        encode("a.yaml", &content, manifests, &mut bytes);
        let (record, rest) = FileRecord::take(&bytes).unwrap();
        assert!(rest.is_empty());
        assert_eq!(decode(&record, &options).as_ref(), Some(manifests));
        let views: Vec<ObjectView<'_>> = manifests.iter().map(ObjectView::of).collect();
        assert_eq!(ObjectView::stored(&record, &options), Some(views));

        let without = ReadOptions::default();
        assert_eq!(decode(&record, &without), None);
        assert_ne!(reader(&options), reader(&without));
    }
}
