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

pub mod cause;
pub mod runner;
mod truth;

use std::fmt;

use futures::future::join_all;

use crate::catalog::{Catalog, RelId, Relation};
use crate::db::{Db, Outcome, literal, sqlstate};
use crate::generate::{Dataset, Model, PROBE_ROW_BASE, TenantKey, values};
use crate::ownership::{Owner, Ownership};
use crate::report::{ContextKind, Operation};

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
}

impl ProbeKind {
    /// The statement class.
    pub fn operation(self) -> Operation {
        match self {
            ProbeKind::Select => Operation::Select,
            ProbeKind::BlindUpdate | ProbeKind::KeyedUpdate | ProbeKind::MoveBlind | ProbeKind::MoveKeyed => {
                Operation::Update
            }
            ProbeKind::BlindDelete | ProbeKind::KeyedDelete => Operation::Delete,
            ProbeKind::InsertForeign => Operation::Insert,
            ProbeKind::Truncate => Operation::Truncate,
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
    /// The tenant setting.
    pub setting: &'a str,
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
            let own_row = own.and_then(|k| rows.iter().find(|r| r.owner.as_deref() == Some(k.0.as_str())));
            let blind = blind_assignment(rel, owner, own, &self.model.key_type);
            let mut push = |kind: ProbeKind, sql: String, target: Option<(TenantKey, String)>| {
                if filter.is_none_or(|f| f.kind == kind) {
                    out.push(Probe { rel: rel.oid, kind, sql, target });
                }
            };
            let q = &rel.qualified;
            if p.select {
                push(
                    ProbeKind::Select,
                    format!("SELECT tableoid::oid::text || ':' || ctid::text AS row_id FROM {q}"),
                    None,
                );
            }
            if p.update
                && let Some(set) = &blind
            {
                push(ProbeKind::BlindUpdate, format!("UPDATE {q} SET {set}"), None);
                if let Some(row) = foreign_row {
                    push(
                        ProbeKind::KeyedUpdate,
                        format!("UPDATE {q} SET {set} WHERE {}", row.predicate),
                        Some(row.target()),
                    );
                }
            }
            if p.delete {
                push(ProbeKind::BlindDelete, format!("DELETE FROM {q}"), None);
                if let Some(row) = foreign_row {
                    push(
                        ProbeKind::KeyedDelete,
                        format!("DELETE FROM {q} WHERE {}", row.predicate),
                        Some(row.target()),
                    );
                }
            }
            if p.insert
                && let Some((sql, key)) = self.foreign_insert(data, rel, owner, foreign_tenant)
            {
                push(ProbeKind::InsertForeign, sql, Some((key, "a new row".into())));
            }
            if p.update
                && let Context::Tenant(_) = ctx
                && let Some((set, key)) = self.move_assignment(data, rel, owner, foreign_tenant)
            {
                push(
                    ProbeKind::MoveBlind,
                    format!("UPDATE {q} SET {set}"),
                    Some((key.clone(), "every visible row".into())),
                );
                if let Some(row) = own_row {
                    push(
                        ProbeKind::MoveKeyed,
                        format!("UPDATE {q} SET {set} WHERE {}", row.predicate),
                        Some((key, row.describe.clone())),
                    );
                }
            }
            // TRUNCATE ignores RLS, so one context is enough.
            if p.truncate && ctx == Context::Tenant(0) {
                push(ProbeKind::Truncate, format!("TRUNCATE {q}"), None);
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
    ) -> Option<(String, TenantKey)> {
        let (tenant, key) = match owner {
            Owner::Root { .. } => (Some(foreign), data.fresh.clone()),
            Owner::Global { .. } => (None, data.fresh.clone()),
            _ => (Some(foreign), data.keys[foreign].clone()),
        };
        let row = self
            .model
            .row(self.catalog, data, rel, owner, tenant, Some(&key), 0, PROBE_ROW_BASE + rel.oid as u64 % 1000)
            .ok()?;
        Some((crate::generate::insert_sql(rel, std::slice::from_ref(&row)), key))
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

/// `col = <constant>` for blind UPDATEs: a plain column (not key, unique,
/// foreign key or tenant column) set to a valid constant; failing that, the
/// tenant column set to the context's own key.
fn blind_assignment(rel: &Relation, owner: &Owner, own: Option<&TenantKey>, key_type: &str) -> Option<String> {
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
        if let Some(v) = values::value(rel, col, 1) {
            return Some(format!("{} = {v}", crate::db::ident(&col.name)));
        }
    }
    match (tenant_col, own) {
        (Some(c), Some(k)) => Some(format!("{} = {}", crate::db::ident(c), k.sql(key_type))),
        _ => None,
    }
}

/// The app role's connections: one that sets contexts, one that never does.
pub struct AppSessions {
    /// Runs tenant contexts, the unknown key and none-after-reset.
    pub main: Db,
    /// Never sets the context: none-fresh.
    pub fresh: Db,
}

impl AppSessions {
    /// Runs `probes` under `ctx` in one rolled-back transaction, pipelined.
    pub async fn run(
        &self,
        setting: &str,
        data: &Dataset,
        ctx: Context,
        probes: &[Probe],
    ) -> Result<Vec<Result<Outcome, tokio_postgres::Error>>, tokio_postgres::Error> {
        let db = if ctx == Context::NoneFresh { &self.fresh } else { &self.main };
        let mut stmts: Vec<String> = vec!["BEGIN".into()];
        if let Some(key) = ctx.key(data) {
            stmts.push(format!("SELECT set_config({}, {}, true)", literal(setting), literal(&key.0)));
        }
        let first = stmts.len();
        for p in probes {
            stmts.push("SAVEPOINT rowfence_probe".into());
            stmts.push(p.sql.clone());
            stmts.push("ROLLBACK TO SAVEPOINT rowfence_probe".into());
        }
        stmts.push("ROLLBACK".into());
        let results = join_all(stmts.iter().map(|s| db.client.simple_query(s))).await;
        let mut results = results.into_iter();
        for r in results.by_ref().take(first) {
            r?; // BEGIN and set_config must work
        }
        let mut out = Vec::with_capacity(probes.len());
        for _ in probes {
            let _savepoint = results.next();
            out.push(results.next().expect("one result per statement").map(Outcome::from_messages));
            let _rollback_to = results.next();
        }
        if let Some(r) = results.next() {
            r?;
        }
        Ok(out)
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
    let owner = schema.ownership.owner(probe.rel)?;
    let shared = *owner == Owner::Global { shared: true };
    let rows = truth.rows(probe.rel);
    let own_count = rows.iter().filter(|r| r.owner.is_some() && r.owner.as_deref() == own).count() as u64;
    let observed = match (probe.kind, outcome) {
        (ProbeKind::Select, Ok(out)) if !shared => {
            let foreign: Vec<&TruthRow> = out
                .rows
                .iter()
                .filter_map(|r| r.first().cloned().flatten())
                .filter_map(|id| truth.by_id(probe.rel, &id))
                .filter(|t| t.owner.is_some() && t.owner.as_deref() != own)
                .collect();
            if foreign.is_empty() {
                return None;
            }
            format!(
                "{} row(s) returned, {} owned by other tenants: {}",
                out.rows.len(),
                foreign.len(),
                describe_rows(&foreign)
            )
        }
        (ProbeKind::BlindUpdate | ProbeKind::BlindDelete, Ok(out)) => {
            let allowed = if shared { 0 } else { own_count };
            if out.count <= allowed {
                return None;
            }
            format!("{} row(s) affected; the context's tenant owns {allowed}", out.count)
        }
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
        // Permission checks come before foreign-key checks: the privilege is real.
        (ProbeKind::Truncate, Err(e)) if sqlstate(e) != Some("42501") => {
            format!("TRUNCATE passed the permission check and failed later: {}", crate::db::describe(e))
        }
        _ => return None,
    };
    Some(Violation { rel: probe.rel, kind: probe.kind, context: ctx, sql: probe.sql.clone(), observed })
}

fn describe_rows(rows: &[&TruthRow]) -> String {
    let mut shown: Vec<String> = rows
        .iter()
        .take(5)
        .map(|r| format!("{} of tenant '{}'", r.describe, r.owner.as_deref().unwrap_or("?")))
        .collect();
    if rows.len() > 5 {
        shown.push(format!("and {} more", rows.len() - 5));
    }
    shown.join(", ")
}
