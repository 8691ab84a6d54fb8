//! Probes: the app role's reads and writes under each tenant context, judged
//! against the ground truth of row ownership.
//!
//! For every relation the app holds a privilege on, and every context (each
//! tenant, an unknown key, no context on a fresh session, no context after an
//! earlier transaction), the probes are: SELECT all rows; blind UPDATE and
//! DELETE; keyed UPDATE/DELETE of a foreign row; INSERT of a foreign row; UPDATE
//! moving own rows to another tenant (blind and keyed); TRUNCATE. Each context
//! runs as one transaction with a savepoint per probe, pipelined over one
//! connection, and is rolled back.

pub mod calibrate;
pub mod cause;
pub mod coverage;
mod effects;
mod findings;
mod paths;
pub mod runner;
mod session;
mod truth;

use std::fmt;

use crate::catalog::{Catalog, RelId, Relation};
use crate::db::{Outcome, sqlstate};
use crate::generate::{Dataset, Model, PROBE_ROW_BASE, TenantKey};
use crate::ownership::{Owner, Ownership};
use crate::report::{ContextKind, Operation};

pub use session::AppSessions;
pub use truth::{GroundTruth, TruthRow};

/// The tenant context a probe runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    /// Tenant `i` of the case.
    Tenant(usize),
    /// A valid key that belongs to no tenant.
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
            Context::Unknown => ContextKind::UnknownTenant,
            Context::NoneAfterReset => ContextKind::NoneAfterReset,
            Context::NoneFresh => ContextKind::NoneFresh,
        }
    }

    /// The key this context sets, if any.
    pub fn key(self, data: &Dataset) -> Option<&TenantKey> {
        match self {
            Context::Tenant(i) => data.keys.get(i),
            Context::Unknown => Some(&data.unknown),
            _ => None,
        }
    }

    /// All contexts of a case, in execution order. Tenants come first so the
    /// app connection has set the context once before `NoneAfterReset`.
    pub fn all(data: &Dataset) -> Vec<Context> {
        let mut v: Vec<Context> = (0..data.keys.len()).map(Context::Tenant).collect();
        v.extend([Context::Unknown, Context::NoneAfterReset, Context::NoneFresh]);
        v
    }
}

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
            ProbeKind::InsertForeign | ProbeKind::InsertShared => Operation::Insert,
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
        };
        f.write_str(s)
    }
}

/// One statement to run as the app role, with what it is allowed to do.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Relation.
    pub rel: RelId,
    /// Kind.
    pub kind: ProbeKind,
    /// The statement.
    pub sql: String,
    /// For keyed probes: the foreign row's owner and key description.
    pub target: Option<(TenantKey, String)>,
    /// For reads: what the first column of each returned row identifies.
    pub reads: Option<RowRef>,
    /// A count the writer runs right after its write, in the same savepoint:
    /// how many of the rows it wrote it can still see. Triggers that re-stamp
    /// the tenant column keep written rows in the writer's own tenant.
    pub verify: Option<String>,
}

/// What a read probe's first column identifies, so its owner can be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRef {
    /// `tableoid:ctid` of a row of this relation.
    RowId(RelId),
    /// The owning tenant's key itself.
    TenantKey,
    /// The single-column primary key of a row of this relation.
    BaseKey(RelId),
}

/// A probe that saw or changed what it must not.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Relation.
    pub rel: RelId,
    /// Kind.
    pub kind: ProbeKind,
    /// Context.
    pub context: Context,
    /// The statement.
    pub sql: String,
    /// What happened, naming rows by key.
    pub observed: String,
}

/// Restricts which probes run (shrinking re-runs only the one that failed).
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    /// Relation.
    pub rel: RelId,
    /// Probe kind.
    pub kind: ProbeKind,
    /// Context kind.
    pub context: ContextKind,
}

/// What probes need to know about the schema.
pub struct Schema<'a> {
    /// The catalog.
    pub catalog: &'a Catalog,
    /// Ownership.
    pub ownership: &'a Ownership,
    /// The generator model (to build foreign rows).
    pub model: &'a Model,
    /// The tenant setting (the context's primary one).
    pub setting: &'a str,
    /// How a tenant's transaction sets its context.
    pub context: &'a crate::context::ContextSpec,
    /// Rows with a NULL tenant may be changed by any tenant (the suite says so).
    pub shared_rows_writable: bool,
}

impl Schema<'_> {
    /// Relations the probes cover: tables the app holds a privilege on that are
    /// tenant-owned or declared shared.
    pub fn probed(&self) -> impl Iterator<Item = &Relation> {
        self.catalog.relations.iter().filter(|r| {
            r.kind.is_table()
                && r.privileges.any()
                && matches!(self.ownership.owner(r.oid), Some(o) if o.is_tenant_owned() || *o == Owner::Global { shared: true })
        })
    }

    /// Builds the probes for one context.
    pub fn probes(&self, data: &Dataset, truth: &GroundTruth, ctx: Context, filter: Option<Filter>) -> Vec<Probe> {
        let mut out = Vec::new();
        let own = ctx.key(data);
        let foreign_tenant = match ctx {
            Context::Tenant(i) => (i + 1) % data.keys.len(),
            _ => 0,
        };
        for rel in self.probed() {
            if filter.is_some_and(|f| f.rel != rel.oid) {
                continue;
            }
            let owner = self.ownership.owner(rel.oid).expect("probed relations are classified");
            let p = &rel.privileges;
            let rows = truth.rows(rel.oid);
            let foreign_row = rows.iter().find(|r| r.owner.is_some() && r.owner.as_ref() != own.map(|k| &k.0));
            // Rows with a NULL tenant in a tenant table: readable by all, writable by none.
            let shared_rows = !self.shared_rows_writable && self.model.has_shared_rows(rel.oid);
            let shared_row = rows.iter().find(|r| r.owner.is_none()).filter(|_| shared_rows);
            let own_row = own.and_then(|k| rows.iter().find(|r| r.owner.as_deref() == Some(k.0.as_str())));
            let blind = blind_assignment(self.model, rel, owner, own);
            let shared = *owner == Owner::Global { shared: true };
            let mut push =
                |kind: ProbeKind, sql: String, target: Option<(TenantKey, String)>, verify: Option<String>| {
                    if filter.is_none_or(|f| f.kind == kind) {
                        // Shared tables are readable by design; only their writes are judged.
                        let reads = (kind == ProbeKind::Select && !shared).then_some(RowRef::RowId(rel.oid));
                        out.push(Probe { rel: rel.oid, kind, sql, target, reads, verify });
                    }
                };
            let q = &rel.qualified;
            if p.select {
                push(
                    ProbeKind::Select,
                    format!("SELECT tableoid::oid::text || ':' || ctid::text AS row_id FROM {q}"),
                    None,
                    None,
                );
            }
            if p.update
                && let Some(set) = &blind
            {
                push(ProbeKind::BlindUpdate, format!("UPDATE {q} SET {set}"), None, None);
                if let Some(row) = foreign_row {
                    push(
                        ProbeKind::KeyedUpdate,
                        format!("UPDATE {q} SET {set} WHERE {}", row.predicate),
                        Some(row.target()),
                        None,
                    );
                }
            }
            if p.update
                && let (Some(set), Some(row)) = (&blind, shared_row)
            {
                push(
                    ProbeKind::SharedUpdate,
                    format!("UPDATE {q} SET {set} WHERE {}", row.predicate),
                    Some(row.target()),
                    None,
                );
            }
            if p.delete {
                push(ProbeKind::BlindDelete, format!("DELETE FROM {q}"), None, None);
                for (kind, row) in [(ProbeKind::KeyedDelete, foreign_row), (ProbeKind::SharedDelete, shared_row)] {
                    if let Some(row) = row {
                        push(kind, format!("DELETE FROM {q} WHERE {}", row.predicate), Some(row.target()), None);
                    }
                }
            }
            // With triggers on the table, a write may land elsewhere than the
            // statement says: count what the writer still sees afterwards.
            let triggered = !rel.triggers.is_empty();
            let count = |pred: &str| format!("SELECT count(*) FROM {q} WHERE {pred}");
            if p.insert
                && let Some((sql, key, pk)) = self.foreign_insert(data, rel, owner, foreign_tenant)
            {
                let verify = pk.filter(|_| triggered).map(|pk| count(&pk));
                push(ProbeKind::InsertForeign, sql, Some((key, "a new row".into())), verify);
            }
            if p.insert
                && shared_rows
                && let Owner::Direct { column } = owner
                && let Ok(row) = self.model.row(self.catalog, data, rel, owner, None, None, 0, PROBE_ROW_BASE)
            {
                // A trigger may stamp the writer's tenant on the row: then it is not shared.
                let pk = primary_key_predicate(rel, &row);
                let verify = pk
                    .filter(|_| triggered)
                    .map(|pk| count(&format!("{pk} AND {} IS NOT NULL", crate::db::ident(column))));
                let sql = crate::generate::insert_sql(rel, std::slice::from_ref(&row));
                push(ProbeKind::InsertShared, sql, Some((TenantKey(String::new()), "a new shared row".into())), verify);
            }
            if p.update
                && let Context::Tenant(_) = ctx
                && let Some((set, key)) = self.move_assignment(data, rel, owner, foreign_tenant)
            {
                push(
                    ProbeKind::MoveBlind,
                    format!("UPDATE {q} SET {set}"),
                    Some((key.clone(), "every visible row".into())),
                    triggered.then(|| count("true")),
                );
                if let Some(row) = own_row {
                    push(
                        ProbeKind::MoveKeyed,
                        format!("UPDATE {q} SET {set} WHERE {}", row.predicate),
                        Some((key, row.describe.clone())),
                        triggered.then(|| count(&row.predicate)),
                    );
                }
            }
            // TRUNCATE ignores RLS, so one context is enough.
            if p.truncate && ctx == Context::Tenant(0) {
                push(ProbeKind::Truncate, format!("TRUNCATE {q}"), None, None);
            }
            // An owner is fenced by FORCE only until it turns it off: try (rolled back).
            if rel.rls_forced && ctx == Context::Tenant(0) {
                push(ProbeKind::NoForce, format!("ALTER TABLE {q} NO FORCE ROW LEVEL SECURITY"), None, None);
            }
        }
        out
    }

    /// An INSERT of a row owned by tenant `foreign` (for the root: a new tenant).
    fn foreign_insert(
        &self,
        data: &Dataset,
        rel: &Relation,
        owner: &Owner,
        foreign: usize,
    ) -> Option<(String, TenantKey, Option<String>)> {
        let (tenant, key) = match owner {
            Owner::Root { .. } => (Some(foreign), data.fresh.clone()),
            Owner::Global { .. } => (None, data.fresh.clone()),
            _ => (Some(foreign), data.keys[foreign].clone()),
        };
        let row = self.model.row(self.catalog, data, rel, owner, tenant, Some(&key), 0, PROBE_ROW_BASE).ok()?;
        let pk = primary_key_predicate(rel, &row);
        Some((crate::generate::insert_sql(rel, std::slice::from_ref(&row)), key, pk))
    }

    /// `SET` list that hands a row to tenant `foreign`.
    fn move_assignment(
        &self,
        data: &Dataset,
        rel: &Relation,
        owner: &Owner,
        foreign: usize,
    ) -> Option<(String, TenantKey)> {
        let key = data.keys[foreign].clone();
        match owner {
            Owner::Direct { column } => {
                Some((format!("{} = {}", crate::db::ident(column), key.sql(&self.model.key_type)), key))
            }
            Owner::Child { fk, .. } => {
                let fk = &rel.foreign_keys[*fk];
                let parent = data.rows(fk.target).iter().find(|r| r.tenant == Some(foreign))?;
                let sets: Option<Vec<String>> = fk
                    .columns
                    .iter()
                    .zip(&fk.target_columns)
                    .map(|(c, tc)| {
                        parent
                            .values
                            .iter()
                            .find(|(x, _)| x == tc)
                            .map(|(_, v)| format!("{} = {v}", crate::db::ident(c)))
                    })
                    .collect();
                Some((sets?.join(", "), key))
            }
            _ => None,
        }
    }
}

/// `pk1 = v1 AND ...` for a generated row, when it sets its whole primary key.
fn primary_key_predicate(rel: &Relation, row: &crate::generate::Row) -> Option<String> {
    let pk: Option<Vec<String>> = rel
        .primary_key
        .iter()
        .map(|c| row.values.iter().find(|(x, _)| x == c).map(|(_, v)| format!("{} = {v}", crate::db::ident(c))))
        .collect();
    pk.filter(|p| !p.is_empty()).map(|p| p.join(" AND "))
}

/// `col = <constant>` for blind UPDATEs: a plain column (not key, unique,
/// foreign key or tenant column) set to a valid constant; failing that, the
/// tenant column set to the context's own key.
fn blind_assignment(model: &Model, rel: &Relation, owner: &Owner, own: Option<&TenantKey>) -> Option<String> {
    let key_type = &model.key_type;
    let tenant_col = match owner {
        Owner::Direct { column } => Some(column.as_str()),
        _ => None,
    };
    for col in &rel.columns {
        if !col.generated.is_empty()
            || col.identity == "a"
            || rel.is_unique_column(&col.name)
            || rel.is_fk_column(&col.name)
            || Some(col.name.as_str()) == tenant_col
        {
            continue;
        }
        if let Some(v) = model.value(rel, col, 1) {
            return Some(format!("{} = {v}", crate::db::ident(&col.name)));
        }
    }
    match (tenant_col, own) {
        (Some(c), Some(k)) => Some(format!("{} = {}", crate::db::ident(c), k.sql(key_type))),
        _ => None,
    }
}

/// Judges one probe's outcome under `ctx`. `None` means it stayed inside its tenant.
pub fn judge(
    schema: &Schema<'_>,
    data: &Dataset,
    truth: &GroundTruth,
    ctx: Context,
    probe: &Probe,
    outcome: &Result<Outcome, tokio_postgres::Error>,
) -> Option<Violation> {
    let own = ctx.key(data).map(|k| k.0.as_str());
    if let Some(reads) = probe.reads {
        let observed = judge_read(schema, truth, own, reads, outcome.as_ref().ok()?)?;
        return Some(Violation { rel: probe.rel, kind: probe.kind, context: ctx, sql: probe.sql.clone(), observed });
    }
    let owner = schema.ownership.owner(probe.rel);
    let shared = owner == Some(&Owner::Global { shared: true });
    let rows = truth.rows(probe.rel);
    let own_count = rows.iter().filter(|r| r.owner.is_some() && r.owner.as_deref() == own).count() as u64;
    // Shared rows (NULL tenant) are judged by their own keyed probes; a blind
    // write that reaches them is not taken for a cross-tenant one.
    let shared_count = rows.iter().filter(|r| r.owner.is_none()).count() as u64;
    let observed = match (probe.kind, outcome) {
        // Oracles: the other tenant's value made a difference.
        (ProbeKind::UniqueOracle, Err(e)) if sqlstate(e) == Some("23505") => {
            format!("duplicate-key error for a value only another tenant has: {}", crate::db::describe(e))
        }
        (ProbeKind::ConflictOracle, Ok(out)) if out.count == 0 => {
            "0 rows inserted: the conflict came from a value only another tenant has".to_string()
        }
        (ProbeKind::BlindUpdate | ProbeKind::BlindDelete, Ok(out)) => {
            let allowed = if shared { 0 } else { own_count + shared_count };
            if out.count <= allowed {
                return None;
            }
            if shared_count > 0 && !shared {
                format!(
                    "{} row(s) affected; the context's tenant owns {own_count} and {shared_count} are shared",
                    out.count
                )
            } else {
                format!("{} row(s) affected; the context's tenant owns {allowed}", out.count)
            }
        }
        // The writer still sees what it moved or inserted: a trigger kept it in its own tenant.
        (ProbeKind::MoveKeyed | ProbeKind::InsertForeign | ProbeKind::InsertShared, Ok(out))
            if out.check.is_some_and(|n| n > 0) =>
        {
            return None;
        }
        (ProbeKind::SharedUpdate | ProbeKind::SharedDelete, Ok(out)) => {
            if out.count == 0 {
                return None;
            }
            let what = probe.target.as_ref().map(|(_, w)| w.as_str()).unwrap_or("");
            let verb = if probe.kind == ProbeKind::SharedUpdate { "updated" } else { "deleted" };
            format!("{} shared row(s) (NULL tenant, seen by every tenant) {verb}: {what}", out.count)
        }
        (ProbeKind::InsertShared, Ok(_)) => {
            "the insert of a shared row (NULL tenant, seen by every tenant) succeeded".to_string()
        }
        (ProbeKind::MoveBlind, Ok(out)) if out.check.is_some_and(|n| n >= own_count) => return None,
        (ProbeKind::KeyedUpdate | ProbeKind::KeyedDelete | ProbeKind::MoveBlind | ProbeKind::MoveKeyed, Ok(out)) => {
            if out.count == 0 {
                return None;
            }
            let (key, what) = probe.target.clone().unwrap_or((TenantKey(String::new()), String::new()));
            match probe.kind {
                ProbeKind::MoveBlind | ProbeKind::MoveKeyed => {
                    format!("{} row(s) moved to tenant {key} ({what})", out.count)
                }
                _ => format!("{} row(s) affected: {what} of tenant {key}", out.count),
            }
        }
        (ProbeKind::InsertForeign, Ok(_)) => {
            let (key, _) = probe.target.clone().unwrap_or((TenantKey(String::new()), String::new()));
            if shared {
                "the insert into a shared table succeeded".to_string()
            } else {
                format!("the insert of a row owned by tenant {key} succeeded")
            }
        }
        (ProbeKind::Truncate, Ok(_)) => "TRUNCATE succeeded".to_string(),
        (ProbeKind::NoForce, Ok(_)) => {
            "ALTER TABLE ... NO FORCE ROW LEVEL SECURITY succeeded (rolled back): the app owns the table".to_string()
        }
        // Permission checks come before foreign-key checks: the privilege is real.
        (ProbeKind::Truncate, Err(e)) if sqlstate(e) != Some("42501") => {
            format!("TRUNCATE passed the permission check and failed later: {}", crate::db::describe(e))
        }
        _ => return None,
    };
    Some(Violation { rel: probe.rel, kind: probe.kind, context: ctx, sql: probe.sql.clone(), observed })
}

/// Judges a read: which returned rows belong to tenants other than `own`.
fn judge_read(
    schema: &Schema<'_>,
    truth: &GroundTruth,
    own: Option<&str>,
    reads: RowRef,
    out: &Outcome,
) -> Option<String> {
    let foreign: Vec<(String, String)> = out
        .rows
        .iter()
        .filter_map(|r| r.first().cloned().flatten())
        .filter_map(|v| match reads {
            RowRef::RowId(rel) => truth.by_id(rel, &v).map(|t| (t.owner.clone(), t.describe.clone())),
            RowRef::TenantKey => Some((Some(v), "a row".to_string())),
            RowRef::BaseKey(rel) => truth
                .by_key(rel, &v)
                .map(|t| (t.owner.clone(), format!("{} of {}", t.describe, schema.catalog.relation(rel).qualified))),
        })
        .filter_map(|(owner, what)| owner.filter(|o| Some(o.as_str()) != own).map(|o| (o, what)))
        .collect();
    if foreign.is_empty() {
        return None;
    }
    Some(format!(
        "{} row(s) returned, {} owned by other tenants: {}",
        out.rows.len(),
        foreign.len(),
        describe_rows(&foreign)
    ))
}

fn describe_rows(rows: &[(String, String)]) -> String {
    let mut shown: Vec<String> =
        rows.iter().take(5).map(|(owner, what)| format!("{what} of tenant '{owner}'")).collect();
    if rows.len() > 5 {
        shown.push(format!("and {} more", rows.len() - 5));
    }
    shown.join(", ")
}
