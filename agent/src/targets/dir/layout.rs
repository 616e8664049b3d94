//! Where the directory target puts each object: a stable path from its identity.
//!
//! `<namespace>/<Kind>[.<group>]/<name>.yaml`, with `_cluster` for cluster-scoped objects (no
//! namespace can start with `_`). Characters a path cannot hold are percent-encoded.

use cairn_state_format::ResourceId;

/// The path of `id`, relative to the target root, with `/` separators.
pub fn relative_path(id: &ResourceId) -> String {
    let namespace = if id.namespace.is_empty() {
        "_cluster".to_owned()
    } else {
        component(&id.namespace)
    };
    let kind = if id.group.is_empty() {
        component(&id.kind)
    } else {
        component(&format!("{}.{}", id.kind, id.group))
    };
    format!("{namespace}/{kind}/{}.yaml", component(&id.name))
}

/// One path component: `/`, `\`, `%`, NUL and a leading `.` are percent-encoded, so no name can
/// climb out of the root or hide as a dotfile.
fn component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '/' | '\\' | '%' | '\0' => out.push_str(&format!("%{:02X}", c as u32)),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(group: &str, kind: &str, ns: &str, name: &str) -> ResourceId {
        ResourceId {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn paths_are_stable_and_contained() {
        assert_eq!(
            relative_path(&id("apps", "Deployment", "shop", "web")),
            String::from("shop/Deployment.apps/web.yaml")
        );
        assert_eq!(
            relative_path(&id("", "Namespace", "", "shop")),
            String::from("_cluster/Namespace/shop.yaml")
        );
        assert_eq!(
            relative_path(&id("", "ConfigMap", "..", "../x")),
            String::from("%2E./ConfigMap/%2E.%2Fx.yaml")
        );
    }
}
