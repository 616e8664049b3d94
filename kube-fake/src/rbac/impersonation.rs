//! `Impersonate-User` / `Impersonate-Group`, as the API server's impersonation filter
//! (`endpoints/filters/impersonation.go`) handles them: the caller needs `impersonate` on each
//! (`serviceaccounts` in the account's namespace for a ServiceAccount's user name, `users` and
//! `groups` otherwise); the request is then served as that user. A ServiceAccount impersonated
//! without groups gets its fixed ones; everyone but `system:anonymous` is `system:authenticated`.

use super::{Attributes, Requester, User, allows, forbidden};
use crate::ops::{Answer, status};
use crate::world::World;

const SA_PREFIX: &str = "system:serviceaccount:";

/// The impersonation headers of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Impersonation {
    pub user: Option<String>,
    pub groups: Vec<String>,
}

/// Who the request is served as, or the answer refusing it.
pub fn requester(world: &World, asked: &Impersonation) -> Result<Requester, Answer> {
    let Some(name) = &asked.user else {
        if asked.groups.is_empty() {
            return Ok(Requester::Caller);
        }
        let message = format!("requested {:?} without impersonating a user", asked.groups);
        return Err(status(400, "BadRequest", &message));
    };
    let mut groups = asked.groups.clone();
    let user = match name.strip_prefix(SA_PREFIX).and_then(|r| r.split_once(':')) {
        Some((namespace, account)) => {
            if groups.is_empty() {
                groups = vec![
                    "system:serviceaccounts".to_owned(),
                    format!("system:serviceaccounts:{namespace}"),
                ];
            }
            attributes("serviceaccounts", namespace, account)
        }
        None => attributes("users", "", name),
    };
    let wanted =
        std::iter::once(user).chain(asked.groups.iter().map(|g| attributes("groups", "", g)));
    for a in wanted {
        if !allows(world, &Requester::Caller, &a) {
            return Err(forbidden(&Requester::Caller, &a));
        }
    }
    if name != "system:anonymous" && !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".to_owned());
    }
    Ok(Requester::As(User {
        name: name.clone(),
        groups,
    }))
}

fn attributes(resource: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        verb: "impersonate".to_owned(),
        resource: resource.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        ..Attributes::default()
    }
}
