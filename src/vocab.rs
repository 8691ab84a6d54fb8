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
    /// A valid key that belongs to no tenant.
    UnknownTenant,
}

impl ContextKind {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKind::Tenant => "tenant",
            ContextKind::NoneFresh => "none-fresh",
            ContextKind::NoneAfterReset => "none-after-reset",
            ContextKind::UnknownTenant => "unknown-tenant",
        }
    }
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

/// Every context kind, in sub-column order.
pub const CONTEXTS: [ContextKind; 4] =
    [ContextKind::Tenant, ContextKind::NoneFresh, ContextKind::NoneAfterReset, ContextKind::UnknownTenant];
