//! The probe vocabulary: the statement class a probe used and the kind of
//! tenant context it ran under. Probes, findings, the isolation matrix and
//! every emitter speak it.

use serde::{Deserialize, Serialize};

/// The statement class a probe used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// SELECT.
    Select,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// TRUNCATE.
    Truncate,
    /// A function call.
    Execute,
    /// COPY ... TO.
    Copy,
    /// Committed writes whose effects reached other rows.
    Write,
    /// ALTER TABLE: what only the owner may do (turn FORCE off, drop policies).
    Alter,
}

impl Operation {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Select => "select",
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Truncate => "truncate",
            Operation::Execute => "execute",
            Operation::Copy => "copy",
            Operation::Write => "write",
            Operation::Alter => "alter",
        }
    }
}

/// The kind of tenant context a probe ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContextKind {
    /// A tenant's key was set for the transaction.
    Tenant,
    /// No context, on a session that never set the setting.
    NoneFresh,
    /// No context, after an earlier transaction had set one (the setting reads '').
    NoneAfterReset,
    /// A valid key that belongs to no tenant (with memberships: a user who
    /// is a member of none).
    UnknownTenant,
    /// A user who is a member of two tenants (`[membership]`).
    MemberOfTwo,
    /// A tenant's request with another tenant's key in the claims the end
    /// user controls (`[user_controlled]`).
    UserControlled,
}

impl ContextKind {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKind::Tenant => "tenant",
            ContextKind::NoneFresh => "none-fresh",
            ContextKind::NoneAfterReset => "none-after-reset",
            ContextKind::UnknownTenant => "unknown-tenant",
            ContextKind::MemberOfTwo => "member-of-two",
            ContextKind::UserControlled => "user-controlled",
        }
    }

    /// Whether the request named a tenant or user (not a context-less one).
    pub fn has_context(self) -> bool {
        !matches!(self, ContextKind::NoneFresh | ContextKind::NoneAfterReset)
    }
}

/// How a run's requests say who they are, which decides the contexts probed
/// and what reports call them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tenancy {
    /// Users reach tenants through a membership table.
    pub membership: bool,
    /// Context-less requests run as an anonymous role.
    pub anon: bool,
    /// Some claims are the end user's to change.
    pub user_controlled: bool,
}

impl Tenancy {
    /// The context kinds probed, in matrix column order.
    pub fn kinds(self) -> Vec<ContextKind> {
        let mut v = CONTEXTS.to_vec();
        if self.membership {
            v.push(ContextKind::MemberOfTwo);
        }
        if self.user_controlled {
            v.push(ContextKind::UserControlled);
        }
        v
    }

    /// The name this run gives `kind`: a member and a non-member with
    /// memberships, the anonymous role where one is set.
    pub fn name(self, kind: ContextKind) -> &'static str {
        match kind {
            ContextKind::Tenant if self.membership => "member",
            ContextKind::UnknownTenant if self.membership => "non-member",
            ContextKind::NoneFresh if self.anon => "anon-fresh",
            ContextKind::NoneAfterReset if self.anon => "anon",
            k => k.as_str(),
        }
    }

    /// The matrix columns of a run.
    pub fn columns(self) -> Vec<ContextColumn> {
        self.kinds().into_iter().map(|kind| ContextColumn { kind, name: self.name(kind).to_string() }).collect()
    }
}

/// One column of the isolation matrix: a context kind and its name in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextColumn {
    /// The kind.
    pub kind: ContextKind,
    /// What this run calls it.
    pub name: String,
}

/// The columns of runs without memberships, anonymous role or user-controlled claims.
pub fn classic_columns() -> Vec<ContextColumn> {
    Tenancy::default().columns()
}

/// Every operation a matrix row has a cell for, in column order.
pub const OPERATIONS: [Operation; 9] = [
    Operation::Select,
    Operation::Insert,
    Operation::Update,
    Operation::Delete,
    Operation::Truncate,
    Operation::Execute,
    Operation::Copy,
    Operation::Write,
    Operation::Alter,
];

/// The context kinds every run probes, in sub-column order.
pub const CONTEXTS: [ContextKind; 4] =
    [ContextKind::Tenant, ContextKind::NoneFresh, ContextKind::NoneAfterReset, ContextKind::UnknownTenant];
