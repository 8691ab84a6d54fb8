//! The contexts a probe runs under: each tenant (or member), a member of two
//! tenants, a request with forged user-controlled claims, an unknown key (or
//! non-member), and no context at all (fresh, or after an earlier transaction).

use super::Dataset;
use crate::context::Identity;
use crate::generate::TenantKey;
use crate::report::ContextKind;

/// The tenant context a probe runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    /// Tenant `i` of the case (with `[membership]`: a user who is a member
    /// of tenant `i` alone).
    Tenant(usize),
    /// A user who is a member of the case's first two tenants (`[membership]`,
    /// cases of three tenants or more): the others' rows stay foreign.
    TwoTenants,
    /// Tenant 0's request with another tenant's key written into the claims
    /// the end user controls (`[user_controlled]`).
    UserControlled,
    /// A valid key that belongs to no tenant (with `[membership]`: a user
    /// who is a member of none).
    Unknown,
    /// No context, after an earlier transaction set one (reads '').
    NoneAfterReset,
    /// No context, on a session that never set one.
    NoneFresh,
}

impl Context {
    /// The report's context kind.
    pub fn kind(self) -> ContextKind {
        match self {
            Context::Tenant(_) => ContextKind::Tenant,
            Context::TwoTenants => ContextKind::MemberOfTwo,
            Context::UserControlled => ContextKind::UserControlled,
            Context::Unknown => ContextKind::UnknownTenant,
            Context::NoneAfterReset => ContextKind::NoneAfterReset,
            Context::NoneFresh => ContextKind::NoneFresh,
        }
    }

    /// The key this context sets, if any (for two tenants: the first).
    pub fn key(self, data: &Dataset) -> Option<&TenantKey> {
        match self {
            Context::Tenant(i) => data.keys.get(i),
            Context::TwoTenants | Context::UserControlled => data.keys.first(),
            Context::Unknown => Some(&data.unknown),
            _ => None,
        }
    }

    /// Who the context's requests are: the tenant and the user they carry.
    pub fn identity(self, data: &Dataset) -> Option<Identity> {
        match self {
            Context::TwoTenants => {
                let user = crate::context::user_of_all(&data.keys[..2]);
                Some(Identity { tenant: data.keys[0].clone(), user, forged: None })
            }
            Context::UserControlled => {
                Some(Identity { forged: Some(data.keys[1].clone()), ..Identity::of(&data.keys[0]) })
            }
            _ => self.key(data).map(Identity::of),
        }
    }

    /// The tenants whose rows the context may reach.
    pub fn owns(self, data: &Dataset) -> Vec<&str> {
        match self {
            Context::Tenant(i) => data.keys.get(i).map(|k| vec![k.0.as_str()]).unwrap_or_default(),
            Context::UserControlled => vec![data.keys[0].0.as_str()],
            Context::TwoTenants => {
                let reach = if data.request_names_tenant { 1 } else { 2 };
                data.keys[..reach].iter().map(|k| k.0.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The tenants the context's user belongs to: what it owns, except that
    /// a member of two tenants belongs to both even when its request names one.
    pub fn member_of(self, data: &Dataset) -> Vec<&str> {
        match self {
            Context::TwoTenants => data.keys[..2].iter().map(|k| k.0.as_str()).collect(),
            _ => self.owns(data),
        }
    }

    /// A tenant whose rows are foreign to this context.
    pub fn foreign_tenant(self, data: &Dataset) -> usize {
        match self {
            Context::Tenant(i) => (i + 1) % data.keys.len(),
            Context::TwoTenants => 2,
            Context::UserControlled => 1,
            _ => 0,
        }
    }

    /// All contexts of a case, in execution order. Tenants come first so the
    /// app connection has set the context once before `NoneAfterReset`.
    pub fn all(data: &Dataset) -> Vec<Context> {
        let mut v: Vec<Context> = (0..data.keys.len()).map(Context::Tenant).collect();
        if data.two_tenant_user {
            v.push(Context::TwoTenants);
        }
        if data.user_controlled {
            v.push(Context::UserControlled);
        }
        v.extend([Context::Unknown, Context::NoneAfterReset, Context::NoneFresh]);
        v
    }
}
