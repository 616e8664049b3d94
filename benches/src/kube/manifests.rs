//! The manifest set the Kubernetes benchmark applies: `n` objects of 10 kinds in one
//! namespace, two of them custom kinds whose CustomResourceDefinitions are in the same set.

use std::path::Path;

use crate::error::{Error, Result};

/// The namespace every namespaced object lives in.
pub const NAMESPACE: &str = "bench";

/// Kinds of the set: the Namespace, the CRDs, and these eight, spread evenly.
const SPREAD: [&str; 8] = [
    "ConfigMap",
    "Role",
    "Service",
    "ServiceAccount",
    "Deployment",
    "NetworkPolicy",
    "Widget",
    "Gadget",
];

/// Objects that are not spread evenly: the Namespace and two CRDs.
const FIXED: usize = 3;

/// Writes the set of `n` objects (at least 11) into `dir`, one file per kind; the first
/// `changed` ConfigMaps carry `revision` instead of the initial value.
pub fn write(dir: &Path, n: usize, changed: usize, revision: u32) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let per_kind = n.saturating_sub(FIXED) / SPREAD.len();
    let extra = n.saturating_sub(FIXED) % SPREAD.len();
    let mut fixed = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n");
    for (plural, kind) in [("widgets", "Widget"), ("gadgets", "Gadget")] {
        fixed.push_str(&crd(plural, kind));
    }
    write_file(&dir.join("00-fixed.yaml"), &fixed)?;
    for (k, kind) in SPREAD.iter().enumerate() {
        let count = per_kind + usize::from(k < extra);
        let mut yaml = String::new();
        for i in 0..count {
            let value = if *kind == "ConfigMap" && i < changed {
                revision
            } else {
                0
            };
            yaml.push_str("---\n");
            yaml.push_str(&object(kind, i, value));
        }
        write_file(&dir.join(format!("{k:02}-{kind}.yaml")), &yaml)?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io("write", path))
}

fn crd(plural: &str, kind: &str) -> String {
    format!(
        "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata:\n  name: {plural}.bench.example.com\nspec:\n  group: bench.example.com\n  \
         scope: Namespaced\n  names: {{plural: {plural}, singular: {singular}, kind: {kind}}}\n  \
         versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
         openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
        singular = plural.trim_end_matches('s'),
    )
}

/// One object of `kind`, number `i`; `value` goes into its content.
fn object(kind: &str, i: usize, value: u32) -> String {
    let name = format!("{}-{i:05}", kind.to_lowercase());
    let meta = format!("metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n");
    match kind {
        "ConfigMap" => {
            format!("apiVersion: v1\nkind: ConfigMap\n{meta}data:\n  value: \"{value}\"\n")
        }
        "Role" => format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n{meta}\
             rules: [{{apiGroups: [''], resources: [configmaps], verbs: [get]}}]\n"
        ),
        "Service" => format!(
            "apiVersion: v1\nkind: Service\n{meta}spec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n"
        ),
        "ServiceAccount" => format!("apiVersion: v1\nkind: ServiceAccount\n{meta}"),
        "Deployment" => format!(
            "apiVersion: apps/v1\nkind: Deployment\n{meta}spec:\n  replicas: 1\n  \
             selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    \
             spec: {{containers: [{{name: app, image: 'registry.example.com/app:1'}}]}}\n"
        ),
        "NetworkPolicy" => format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n{meta}spec:\n  \
             podSelector: {{matchLabels: {{app: {name}}}}}\n  policyTypes: [Ingress]\n"
        ),
        custom => {
            format!("apiVersion: bench.example.com/v1\nkind: {custom}\n{meta}spec:\n  size: {i}\n")
        }
    }
}
