//! The scope flags of `cairn trust delegate`: what the channels of a delegation may write to a
//! cluster, or `--unrestricted`. One of the two is required: a delegation without a scope is a
//! choice, never a default.

use cairn_state_format::{NamespacePattern, Scope, ServiceAccount};
use clap::Args;

use crate::error::{Error, Result};

/// The scope of a delegation, as flags.
#[derive(Args, Debug, Default)]
pub struct ScopeArgs {
    /// A namespace the channels' namespaced objects may be in (`*` globs, `$channel` for the
    /// channel's name); repeat for several.
    #[arg(long = "namespace", value_name = "PATTERN")]
    pub namespaces: Vec<String>,
    /// A kind the objects may be of, `Kind.group` as kubectl spells it (`Deployment.apps`,
    /// `ConfigMap` for the core group, `*.*` for every kind, the default); repeat for several.
    #[arg(long = "kind", value_name = "PATTERN")]
    pub kinds: Vec<String>,
    /// A kind refused even when --kind allows it (`*.rbac.authorization.k8s.io`); repeat.
    #[arg(long = "deny-kind", value_name = "PATTERN")]
    pub deny_kinds: Vec<String>,
    /// Allow cluster-scoped objects (Namespaces, ClusterRoles, CRDs, webhooks…).
    #[arg(long)]
    pub cluster_scoped: bool,
    /// The ServiceAccount agents write these channels' objects as (`NAMESPACE/NAME`).
    #[arg(long, value_name = "NS/NAME")]
    pub service_account: Option<String>,
    /// No scope: the channels may write anything the agent may (as in trust root format 1).
    #[arg(long, conflicts_with_all = ["namespaces", "kinds", "deny_kinds", "cluster_scoped", "service_account"])]
    pub unrestricted: bool,
}

impl ScopeArgs {
    /// The scope the flags describe, `None` for `--unrestricted`; a usage error without either.
    pub fn scope(&self) -> Result<Option<Scope>> {
        if self.unrestricted {
            return Ok(None);
        }
        if !self.any_rule() {
            return Err(Error::Usage(
                "say what the delegated channels may write: scope flags (--namespace PATTERN, --kind \
                 PATTERN, --deny-kind PATTERN, --cluster-scoped, --service-account NS/NAME; e.g. \
                 `--namespace '$channel'` keeps each channel to its own namespace), or --unrestricted \
                 to let them write anything the agent may"
                    .into(),
            ));
        }
        let kinds = if self.kinds.is_empty() {
            vec!["*.*".to_owned()]
        } else {
            self.kinds.clone()
        };
        let scope = Scope {
            cluster_scoped: self.cluster_scoped,
            deny_kinds: parse_all(&self.deny_kinds, "--deny-kind")?,
            kinds: parse_all(&kinds, "--kind")?,
            namespaces: parse_all::<NamespacePattern>(&self.namespaces, "--namespace")?,
            service_account: self
                .service_account
                .as_deref()
                .map(ServiceAccount::parse)
                .transpose()
                .map_err(|e| Error::Usage(format!("--service-account: {e}")))?,
        }
        .normalized();
        scope
            .validate()
            .map_err(|e| Error::Usage(format!("the scope would be invalid: {e}")))?;
        Ok(Some(scope))
    }

    fn any_rule(&self) -> bool {
        !self.namespaces.is_empty()
            || !self.kinds.is_empty()
            || !self.deny_kinds.is_empty()
            || self.cluster_scoped
            || self.service_account.is_some()
    }
}

fn parse_all<T>(texts: &[String], flag: &str) -> Result<Vec<T>>
where
    T: std::str::FromStr<Err = cairn_state_format::ScopeError>,
{
    texts
        .iter()
        .map(|t| t.parse().map_err(|e| Error::Usage(format!("{flag}: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::KindPattern;

    #[test]
    fn neither_scope_nor_unrestricted_is_a_usage_error_naming_both() {
        let message = ScopeArgs::default().scope().unwrap_err().to_string();
        assert!(
            message.contains("--namespace") && message.contains("--unrestricted"),
            "{message}"
        );
    }

    #[test]
    fn flags_give_a_normalized_scope_with_every_kind_by_default() {
        let args = ScopeArgs {
            namespaces: vec!["b".into(), "$channel".into(), "b".into()],
            deny_kinds: vec!["*.rbac.authorization.k8s.io".into()],
            service_account: Some("team-a/cairn".into()),
            ..ScopeArgs::default()
        };
        let scope = args.scope().unwrap().unwrap();
        assert_eq!(scope.kinds, vec!["*.*".parse::<KindPattern>().unwrap()]);
        assert_eq!(scope.namespaces.len(), 2);
        assert!(!scope.cluster_scoped);
        assert_eq!(
            scope.service_account.unwrap().username(),
            "system:serviceaccount:team-a:cairn"
        );
        let unrestricted = ScopeArgs {
            unrestricted: true,
            ..ScopeArgs::default()
        };
        assert_eq!(unrestricted.scope().unwrap(), None);
    }

    #[test]
    fn a_bad_pattern_names_its_flag() {
        let args = ScopeArgs {
            kinds: vec!["Deploy**".into()],
            ..ScopeArgs::default()
        };
        assert!(args.scope().unwrap_err().to_string().contains("--kind"));
    }
}
