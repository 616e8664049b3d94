//! The checks across all of a publish's files, run on every object's record (parsed, or as
//! the publish cache or source map stored it, read in place) before anything is uploaded: what
//! the snapshot's CustomResourceDefinitions decide (where `--namespace` puts custom resources),
//! names and namespaces as the API server checks them for each kind, unique identities, and the
//! plain-Secret policy. Every problem is reported at once, each naming its file, document and
//! field.

use std::collections::hash_map::Entry;

use cairn_state_format::{Origin, names};
use rustc_hash::FxHashMap;

use super::kinds::{CustomKind, Kinds, Scope};
use super::manifests::problems_error;
use super::object_meta::{self, FieldProblem};
use super::records::{FileObjects, IdView, ObjectView};
use crate::error::Result;

/// Policy applied to every resource before anything is uploaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Let plain `kind: Secret` objects with data through.
    pub allow_secrets: bool,
}

/// What passed validation tells the caller.
#[derive(Debug)]
pub struct Checked {
    /// Objects of namespaced kinds without a namespace: agents apply them to their target's
    /// default namespace (only without `--namespace`, which places them).
    pub without_namespace: usize,
}

/// Checks every object of `files`, whose CustomResourceDefinitions define `defined`; all
/// problems are reported together, after `earlier` ones (those found while parsing). Files are
/// checked one by one, as they come.
pub fn validate<'a>(
    defined: impl IntoIterator<Item = &'a CustomKind>,
    files: impl IntoIterator<Item = Result<FileObjects<'a>>>,
    policy: Policy,
    earlier: &[String],
) -> Result<Checked> {
    let (kinds, conflicts) = Kinds::with_custom(defined);
    let mut problems = earlier.to_vec();
    problems.extend(conflicts.iter().map(|k| {
        format!(
            "{}.{} is defined twice with different scopes (one CustomResourceDefinition says {:?})",
            k.kind, k.group, k.scope
        )
    }));
    let files = files.into_iter();
    // About one object per file: reserved at once rather than grown by doubling.
    let mut seen: FxHashMap<IdView<'a>, Place<'a>> = FxHashMap::default();
    seen.reserve(files.size_hint().0);
    let mut without_namespace = 0;
    for file in files {
        let FileObjects { source, objects } = file?;
        for o in &objects {
            let scope = kinds.scope(o.id.group, o.id.kind);
            let id = o.published(scope);
            let origin = || o.origin(source);
            match seen.entry(id) {
                Entry::Occupied(first) => problems.push(format!(
                    "{} is declared twice: in {} and in {}",
                    id.to_id(),
                    first.get().origin(),
                    origin()
                )),
                Entry::Vacant(first) => {
                    first.insert(Place {
                        source,
                        document: o.document,
                        item: o.item,
                    });
                }
            }
            if o.plain_secret && !policy.allow_secrets {
                problems.push(plain_secret(&origin(), id));
            }
            if o.placed_in.is_some() && scope.is_none() {
                problems.push(unplaceable(&origin(), id));
            }
            let identity = check_identity(id, &kinds);
            if !identity.is_empty() {
                let at = origin();
                problems.extend(identity.iter().map(|p| p.at(&at)));
            }
            if id.namespace.is_empty() && scope == Some(Scope::Namespaced) {
                without_namespace += 1;
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    Ok(Checked { without_namespace })
}

/// Where an object was read, kept for the message about a duplicate of it.
struct Place<'a> {
    source: &'a str,
    document: u32,
    item: Option<u32>,
}

impl Place<'_> {
    fn origin(&self) -> Origin {
        let view = ObjectView {
            document: self.document,
            item: self.item,
            ..ObjectView::default()
        };
        view.origin(self.source)
    }
}

/// What the API server would refuse of `id`'s name and namespace, given its kind.
pub fn check_identity(id: IdView<'_>, kinds: &Kinds) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let scope = kinds.scope(id.group, id.kind);
    if !id.namespace.is_empty() {
        if scope == Some(Scope::Cluster) {
            problems.push(FieldProblem::new(
                "metadata.namespace",
                format!(
                    "{} is cluster-scoped (its CustomResourceDefinition says so): remove the \
                     namespace, or cairn would track the object under a name it does not have",
                    kind_name(id)
                ),
            ));
        } else if let Err(why) = names::dns1123_label(id.namespace) {
            let ns = id.namespace;
            problems.push(FieldProblem::new(
                "metadata.namespace",
                format!("{ns:?} is not a valid namespace: {why}"),
            ));
        }
    }
    if let Err(why) = kinds.name_rule(id.group, id.kind).check(id.name) {
        let name = id.name;
        problems.push(FieldProblem::new(
            "metadata.name",
            format!("{name:?} is not a valid {} name: {why}", kind_name(id)),
        ));
    }
    problems
}

/// A namespace-less object that `--namespace` could not place: its kind is neither built in
/// nor defined by a CustomResourceDefinition of the snapshot. Guessing could put a
/// cluster-scoped object in a namespace or leave a namespaced one in `default`.
fn unplaceable(origin: &Origin, id: IdView<'_>) -> String {
    format!(
        "{origin}: {} has no metadata.namespace, and cairn cannot tell whether {kind} \
         objects are namespaced: it is not a built-in kind and no CustomResourceDefinition \
         among the inputs defines it, so --namespace cannot place it. Set metadata.namespace \
         (or publish the CRD with it)",
        id.to_id(),
        kind = kind_name(id)
    )
}

fn plain_secret(origin: &Origin, id: IdView<'_>) -> String {
    format!(
        "{origin}: {} carries secret data in plain text; snapshots are readable by every agent \
         and kept in the store's history. Reference secrets from an external store (External \
         Secrets Operator, CSI secrets driver) or commit them encrypted (Sealed Secrets, SOPS), \
         or pass --allow-secrets if this is really what you want",
        id.to_id()
    )
}

/// `Kind` or `Kind.group`, as `kubectl` names kinds.
fn kind_name(id: IdView<'_>) -> String {
    if id.group.is_empty() {
        id.kind.to_owned()
    } else {
        format!("{}.{}", id.kind, id.group)
    }
}

/// A record-level check turned into the hub's input error.
pub fn refuse(problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems_error(problems))
    }
}

/// An input error ([`Error::Input`](crate::error::Error::Input)) for one object checked on its own (a flag document): its metadata and its
/// name and namespace against the built-in kinds.
pub fn check_object(resource: &cairn_state_format::Resource) -> Result<()> {
    let origin = &resource.origin;
    let mut problems: Vec<String> = object_meta::check(&resource.object)
        .iter()
        .map(|p| p.at(origin))
        .collect();
    let identity = check_identity(IdView::of(&resource.id), &Kinds::builtin_only());
    problems.extend(identity.iter().map(|p| p.at(origin)));
    refuse(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::ResourceId;

    use crate::publish::manifests::{FileManifests, ReadOptions, parse_file};

    fn file(source: &str, text: &str, namespace: Option<&str>) -> FileManifests {
        let options = ReadOptions {
            namespace: namespace.map(str::to_owned),
        };
        parse_file(source, text, &options).ok().unwrap().file
    }

    fn problems(files: &[FileManifests]) -> String {
        check(files, Policy::default()).unwrap_err().to_string()
    }

    fn check(files: &[FileManifests], policy: Policy) -> Result<Checked> {
        let manifests = files.iter().flat_map(|f| &f.manifests);
        let defined = manifests.filter_map(|m| m.defines.as_deref());
        let objects = files.iter().map(|f| {
            Ok(FileObjects {
                source: &f.source,
                objects: f.manifests.iter().map(ObjectView::of).collect(),
            })
        });
        validate(defined, objects, policy, &[])
    }

    /// The identities `files` publish.
    fn published(files: &[FileManifests]) -> Vec<ResourceId> {
        let manifests = files.iter().flat_map(|f| &f.manifests);
        let kinds = Kinds::with_custom(manifests.clone().filter_map(|m| m.defines.as_deref())).0;
        manifests.map(|m| m.published(&kinds).id.clone()).collect()
    }

    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: SCOPE, names: {kind: Widget, plural: widgets}}\n";
    const WIDGET: &str = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n";

    #[test]
    fn duplicates_name_both_places() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
        let files = [file("m.yaml", cm, None), file("n.yaml", cm, None)];
        let err = problems(&files);
        assert!(
            err.contains("in m.yaml, document 1 and in n.yaml, document 1"),
            "{err}"
        );
    }

    #[test]
    fn plain_secrets_are_refused_unless_allowed() {
        let secret =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n";
        let files = [file("s.yaml", secret, None)];
        let err = problems(&files);
        assert!(
            err.contains("Secret s") && err.contains("--allow-secrets"),
            "{err}"
        );
        let allowed = Policy {
            allow_secrets: true,
        };
        check(&files, allowed).unwrap();
        let token = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/service-account-token\n";
        check(&[file("t.yaml", token, None)], Policy::default()).unwrap();
    }

    #[test]
    fn names_and_namespaces_are_checked_per_kind_every_problem_at_once() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ../../../../escape, namespace: ../..}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: 1web, namespace: shop}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: 'system:reader', namespace: shop}\n";
        let crd = file("crd.yaml", &CRD.replace("SCOPE", "Cluster"), None);
        let err = problems(&[crd, file("bad.yaml", text, None)]);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 5, "{err}");
        assert!(
            lines[0].starts_with("bad.yaml, document 1: field metadata.namespace: \"../..\""),
            "{err}"
        );
        assert!(lines[1].starts_with("bad.yaml, document 1: field metadata.name: \"../../../../escape\" is not a valid ConfigMap name"), "{err}");
        assert!(
            lines[2].starts_with(
                "bad.yaml, document 2: field metadata.name: \"1web\" is not a valid Service name"
            ),
            "{err}"
        );
        assert!(lines[3].starts_with("bad.yaml, document 3: field metadata.namespace: Widget.example.com is cluster-scoped"), "{err}");
        // A built-in cluster-scoped kind loses its namespace, as on the API server: no problem.
        assert_eq!(lines[4], "4 problems; nothing was published");
    }

    #[test]
    fn crds_of_the_snapshot_place_custom_resources() {
        let crd = |scope| file("crd.yaml", &CRD.replace("SCOPE", scope), None);
        let widget = file("w.yaml", WIDGET, Some("shop"));
        let files = [crd("Namespaced"), widget.clone()];
        check(&files, Policy::default()).unwrap();
        let ids: Vec<String> = published(&files).iter().map(|id| id.to_string()).collect();
        assert!(
            ids.contains(&"Widget.example.com shop/w".to_owned()),
            "{ids:?}"
        );

        let files = [crd("Cluster"), widget.clone()];
        check(&files, Policy::default()).unwrap();
        assert!(
            published(&files)
                .iter()
                .any(|id| id.to_string() == "Widget.example.com w")
        );

        let err = problems(&[widget]);
        assert!(
            err.starts_with("w.yaml, document 1: Widget.example.com w has no metadata.namespace"),
            "{err}"
        );
        assert!(err.contains("--namespace"), "{err}");
    }

    #[test]
    fn namespace_less_objects_of_namespaced_kinds_are_counted() {
        let text = format!(
            "{WIDGET}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: n}}\n"
        );
        let files = [
            file("crd.yaml", &CRD.replace("SCOPE", "Namespaced"), None),
            file("m.yaml", &text, None),
        ];
        assert_eq!(
            check(&files, Policy::default()).unwrap().without_namespace,
            2
        );
        let placed = [
            file(
                "crd.yaml",
                &CRD.replace("SCOPE", "Namespaced"),
                Some("shop"),
            ),
            file("m.yaml", &text, Some("shop")),
        ];
        assert_eq!(
            check(&placed, Policy::default()).unwrap().without_namespace,
            0
        );
    }

    #[test]
    fn contradicting_crds_are_refused() {
        let files = [
            file("a.yaml", &CRD.replace("SCOPE", "Namespaced"), None),
            file("b.yaml", &CRD.replace("SCOPE", "Cluster"), None),
        ];
        let err = problems(&files);
        assert!(err.contains("Widget.example.com is defined twice"), "{err}");
    }
}
