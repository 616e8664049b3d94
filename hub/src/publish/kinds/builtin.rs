//! The built-in kinds of the Kubernetes API, from k8s-openapi (generated from the API's own
//! OpenAPI document): group, kind and scope of each, and the name rule of those whose names
//! the API server checks with something other than an RFC 1123 subdomain.

use std::sync::LazyLock;

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use rustc_hash::FxHashMap;

use super::{NameRule, Scope};

/// A built-in kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinKind {
    /// API group (empty for the core group).
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Where its objects live.
    pub scope: Scope,
}

/// The scope a k8s-openapi scope type stands for. Subresources (`SubResourceScope`) have none,
/// so listing one in `builtin_list.rs` does not compile.
trait KnownScope {
    const SCOPE: Scope;
}

impl KnownScope for NamespaceResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
}

impl KnownScope for ClusterResourceScope {
    const SCOPE: Scope = Scope::Cluster;
}

macro_rules! kinds {
    ($($path:path),* $(,)?) => {
        &[$(BuiltinKind {
            group: <$path as Resource>::GROUP,
            kind: <$path as Resource>::KIND,
            scope: <<$path as Resource>::Scope as KnownScope>::SCOPE,
        }),*]
    };
}

/// Every built-in kind (one type per group and kind; the version does not change the scope).
static BUILTIN: &[BuiltinKind] = {
    use k8s_openapi::{api, apiextensions_apiserver, apimachinery, kube_aggregator};
    include!("builtin_list.rs")
};

static BY_NAME: LazyLock<FxHashMap<(&'static str, &'static str), BuiltinKind>> =
    LazyLock::new(|| BUILTIN.iter().map(|k| ((k.group, k.kind), *k)).collect());

/// The built-in kind `kind` of `group`, if it is one.
pub fn lookup(group: &str, kind: &str) -> Option<BuiltinKind> {
    BY_NAME.get(&(group, kind)).copied()
}

/// Every built-in kind.
pub fn all() -> &'static [BuiltinKind] {
    BUILTIN
}

/// The name rule of a built-in kind, as its API validation defines it (`pkg/apis/*/validation`
/// in Kubernetes): an RFC 1123 subdomain unless listed here.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035Label,
        // A DNS label since Kubernetes 1.31: a pod's hostname is `<name>-<ordinal>`.
        ("apps", "StatefulSet") => NameRule::Label,
        // The controller names Jobs `<name>-<11 characters>`, and a Job name is a label value.
        ("batch", "CronJob") => NameRule::SubdomainOfAtMost(52),
        ("batch", "Job") => NameRule::SubdomainOfAtMost(63),
        ("storage.k8s.io", "CSIDriver") => NameRule::SubdomainOfAtMost(63),
        ("networking.k8s.io", "IPAddress") => NameRule::IpAddress,
        ("scheduling.k8s.io", "PriorityClass") => NameRule::PriorityClass,
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        )
        | ("certificates.k8s.io", "CertificateSigningRequest" | "ClusterTrustBundle")
        | ("apiregistration.k8s.io", "APIService") => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_the_api() {
        let scope = |group, kind| lookup(group, kind).map(|k| k.scope);
        let namespaced = [
            ("", "ConfigMap"),
            ("", "Service"),
            ("", "ServiceAccount"),
            ("apps", "Deployment"),
            ("batch", "CronJob"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("networking.k8s.io", "Ingress"),
            ("policy", "PodDisruptionBudget"),
            ("coordination.k8s.io", "Lease"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("discovery.k8s.io", "EndpointSlice"),
        ];
        for (group, kind) in namespaced {
            assert_eq!(scope(group, kind), Some(Scope::Namespaced), "{kind}");
        }
        let cluster = [
            ("", "Namespace"),
            ("", "PersistentVolume"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("apiregistration.k8s.io", "APIService"),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration",
            ),
            ("storage.k8s.io", "StorageClass"),
            ("scheduling.k8s.io", "PriorityClass"),
            ("networking.k8s.io", "IngressClass"),
        ];
        for (group, kind) in cluster {
            assert_eq!(scope(group, kind), Some(Scope::Cluster), "{kind}");
        }
        assert_eq!(scope("example.com", "Widget"), None);
        assert_eq!(
            scope("", "Deployment"),
            None,
            "the group is part of the kind"
        );
    }

    #[test]
    fn the_list_has_every_group_and_no_duplicates() {
        assert!(all().len() > 60, "{}", all().len());
        let distinct: std::collections::HashSet<_> =
            all().iter().map(|k| (k.group, k.kind)).collect();
        assert_eq!(distinct.len(), all().len());
    }
}
