//! What a probe does: the statement kinds, their operation class and how
//! reports describe them.

use std::fmt;

use crate::report::Operation;

/// What a probe does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    /// `SELECT` every row.
    Select,
    /// `UPDATE t SET col = <constant>` without WHERE.
    BlindUpdate,
    /// `DELETE FROM t` without WHERE.
    BlindDelete,
    /// UPDATE of one foreign row by its key.
    KeyedUpdate,
    /// DELETE of one foreign row by its key.
    KeyedDelete,
    /// INSERT of a row owned by another tenant.
    InsertForeign,
    /// UPDATE moving every visible row to another tenant.
    MoveBlind,
    /// UPDATE moving one own row to another tenant.
    MoveKeyed,
    /// TRUNCATE.
    Truncate,
    /// SELECT from a view or materialized view.
    ViewSelect,
    /// A function call returning rows or a value.
    FunctionCall,
    /// `COPY (SELECT ...) TO STDOUT`.
    Copy,
    /// A prepared SELECT reused after a tenant switch (generic plan).
    PreparedSelect,
    /// SELECT without context after a transaction that set one committed.
    AfterCommit,
    /// SELECT without context after a transaction that set one rolled back.
    AfterRollback,
    /// SELECT after `ROLLBACK TO SAVEPOINT` undid a `set_config` in the same transaction.
    AfterSavepointRollback,
    /// SELECT after `set_config(..., true)` ran in autocommit (it ends at once).
    AfterAutocommitSet,
    /// INSERT of an own row whose unique value another tenant already has.
    UniqueOracle,
    /// INSERT ... ON CONFLICT DO NOTHING against another tenant's unique value.
    ConflictOracle,
    /// A committed insert referencing another tenant's row.
    CrossReference,
    /// Another tenant's rows changed after this tenant's committed writes.
    SideEffect,
    /// UPDATE of one shared row (NULL tenant) by its key.
    SharedUpdate,
    /// DELETE of one shared row (NULL tenant) by its key.
    SharedDelete,
    /// INSERT of a new shared row (NULL tenant).
    InsertShared,
    /// `ALTER TABLE ... NO FORCE ROW LEVEL SECURITY`: only an owner may.
    NoForce,
    /// INSERT into the membership table making the context's user a member
    /// of another tenant (`[membership]`).
    JoinTenant,
}

impl ProbeKind {
    /// Every direct probe kind.
    pub const DIRECT: [ProbeKind; 8] = [
        ProbeKind::Select,
        ProbeKind::BlindUpdate,
        ProbeKind::BlindDelete,
        ProbeKind::KeyedUpdate,
        ProbeKind::KeyedDelete,
        ProbeKind::InsertForeign,
        ProbeKind::MoveBlind,
        ProbeKind::MoveKeyed,
    ];

    /// The direct probes of a relation (reads and writes on it by name), whose
    /// answers decide whether its isolation-matrix cells were tested.
    pub fn is_direct(self) -> bool {
        ProbeKind::DIRECT.contains(&self)
    }

    /// The statement class.
    pub fn operation(self) -> Operation {
        match self {
            ProbeKind::Select => Operation::Select,
            ProbeKind::BlindUpdate
            | ProbeKind::KeyedUpdate
            | ProbeKind::MoveBlind
            | ProbeKind::MoveKeyed
            | ProbeKind::SharedUpdate => Operation::Update,
            ProbeKind::BlindDelete | ProbeKind::KeyedDelete | ProbeKind::SharedDelete => Operation::Delete,
            ProbeKind::InsertForeign | ProbeKind::InsertShared | ProbeKind::JoinTenant => Operation::Insert,
            ProbeKind::Truncate => Operation::Truncate,
            ProbeKind::ViewSelect
            | ProbeKind::PreparedSelect
            | ProbeKind::AfterCommit
            | ProbeKind::AfterRollback
            | ProbeKind::AfterSavepointRollback
            | ProbeKind::AfterAutocommitSet => Operation::Select,
            ProbeKind::FunctionCall => Operation::Execute,
            ProbeKind::Copy => Operation::Copy,
            ProbeKind::UniqueOracle | ProbeKind::ConflictOracle | ProbeKind::CrossReference => Operation::Insert,
            ProbeKind::SideEffect => Operation::Write,
            ProbeKind::NoForce => Operation::Alter,
        }
    }

    /// Short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ProbeKind::Select => "read rows of another tenant",
            ProbeKind::BlindUpdate => "updated rows of another tenant with a blind UPDATE (no WHERE)",
            ProbeKind::BlindDelete => "deleted rows of another tenant with a blind DELETE (no WHERE)",
            ProbeKind::KeyedUpdate => "updated another tenant's row by its key",
            ProbeKind::KeyedDelete => "deleted another tenant's row by its key",
            ProbeKind::InsertForeign => "inserted a row owned by another tenant",
            ProbeKind::MoveBlind => "moved rows to another tenant with a blind UPDATE",
            ProbeKind::MoveKeyed => "moved its own row to another tenant",
            ProbeKind::Truncate => "truncated the table (TRUNCATE ignores row-level security)",
            ProbeKind::ViewSelect => "read rows of another tenant through a view",
            ProbeKind::FunctionCall => "got data of another tenant from a function",
            ProbeKind::Copy => "copied rows of another tenant out with COPY",
            ProbeKind::PreparedSelect => {
                "read rows of another tenant with a prepared statement planned under that tenant"
            }
            ProbeKind::AfterCommit => "read rows of another tenant after a transaction that set the context committed",
            ProbeKind::AfterRollback => {
                "read rows of another tenant after a transaction that set the context rolled back"
            }
            ProbeKind::AfterSavepointRollback => {
                "read rows of another tenant after ROLLBACK TO SAVEPOINT undid set_config in the same transaction"
            }
            ProbeKind::AfterAutocommitSet => {
                "read rows of another tenant after set_config(..., true) ran outside a transaction"
            }
            ProbeKind::UniqueOracle => "learned that another tenant has a unique value (duplicate-key error)",
            ProbeKind::ConflictOracle => {
                "learned that another tenant has a unique value (ON CONFLICT DO NOTHING skipped)"
            }
            ProbeKind::CrossReference => "inserted a row referencing another tenant's row",
            ProbeKind::SideEffect => "changed another tenant's rows through its own committed writes",
            ProbeKind::SharedUpdate => "updated a shared row (NULL tenant) that every tenant sees",
            ProbeKind::SharedDelete => "deleted a shared row (NULL tenant) that every tenant sees",
            ProbeKind::InsertShared => "created a shared row (NULL tenant) that every tenant sees",
            ProbeKind::NoForce => "switched FORCE ROW LEVEL SECURITY off (only the table's owner can)",
            ProbeKind::JoinTenant => "made its user a member of another tenant",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ProbeKind::Select => "select",
            ProbeKind::BlindUpdate => "blind-update",
            ProbeKind::BlindDelete => "blind-delete",
            ProbeKind::KeyedUpdate => "keyed-update",
            ProbeKind::KeyedDelete => "keyed-delete",
            ProbeKind::InsertForeign => "insert-foreign",
            ProbeKind::MoveBlind => "move-blind",
            ProbeKind::MoveKeyed => "move-keyed",
            ProbeKind::Truncate => "truncate",
            ProbeKind::ViewSelect => "view-select",
            ProbeKind::FunctionCall => "function-call",
            ProbeKind::Copy => "copy",
            ProbeKind::PreparedSelect => "prepared-select",
            ProbeKind::AfterCommit => "after-commit",
            ProbeKind::AfterRollback => "after-rollback",
            ProbeKind::AfterSavepointRollback => "after-savepoint-rollback",
            ProbeKind::AfterAutocommitSet => "after-autocommit-set",
            ProbeKind::UniqueOracle => "unique-oracle",
            ProbeKind::ConflictOracle => "conflict-oracle",
            ProbeKind::CrossReference => "cross-reference",
            ProbeKind::SideEffect => "side-effect",
            ProbeKind::SharedUpdate => "shared-update",
            ProbeKind::SharedDelete => "shared-delete",
            ProbeKind::InsertShared => "insert-shared",
            ProbeKind::NoForce => "no-force",
            ProbeKind::JoinTenant => "join-tenant",
        };
        f.write_str(s)
    }
}
