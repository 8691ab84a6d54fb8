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
mod context;
pub mod coverage;
mod effects;
mod findings;
mod kind;
mod paths;
pub mod runner;
mod session;
mod template;
mod truth;

use crate::catalog::{Catalog, RelId, Relation};
use crate::db::{Outcome, sqlstate};
use crate::generate::{Dataset, Model, PROBE_ROW_BASE, TenantKey};
use crate::ownership::{Owner, Ownership};
use crate::report::ContextKind;

pub use context::Context;
pub use kind::ProbeKind;
pub use session::{AppSessions, Plans, Protocol, Session};
pub use truth::{GroundTruth, TruthRow};

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
    /// The login, and the role its sessions hold between requests (`anon_role`).
    pub login: (&'a str, Option<&'a str>),
    /// Probe only these relations (a shard, or what a migration step
    /// changed); `None`: every relation.
    pub only: Option<&'a std::collections::BTreeSet<RelId>>,
}

impl Schema<'_> {
    /// Whether `rel`'s probes run in this pass (see [`Schema::only`]).
    pub fn selected(&self, rel: RelId) -> bool {
        self.only.is_none_or(|s| s.contains(&rel))
    }

    /// Relations the probes cover: tables the app holds a privilege on that are
    /// tenant-owned or declared shared, among those selected.
    pub fn probed(&self) -> impl Iterator<Item = &Relation> {
        self.probed_by_any_shard().filter(|r| self.selected(r.oid))
    }

    /// What [`Schema::probed`] would be with every relation selected.
    pub fn probed_by_any_shard(&self) -> impl Iterator<Item = &Relation> {
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
        let owns = ctx.owns(data);
        let foreign_tenant = ctx.foreign_tenant(data);
        for rel in self.probed() {
            if filter.is_some_and(|f| f.rel != rel.oid) {
                continue;
            }
            let owner = self.ownership.owner(rel.oid).expect("probed relations are classified");
            let p = &rel.privileges;
            let rows = truth.rows(rel.oid);
            let foreign_row = rows.iter().find(|r| {
                r.owner.as_deref().is_some_and(|o| !owns.contains(&o) && Some(o) != own.map(|k| k.0.as_str()))
            });
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
                && matches!(ctx, Context::Tenant(_) | Context::TwoTenants | Context::UserControlled)
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
            if p.insert
                && let Some(sql) = self.join_insert(data, rel, owner, ctx, foreign_tenant)
            {
                push(
                    ProbeKind::JoinTenant,
                    sql,
                    Some((data.keys[foreign_tenant].clone(), "a membership".into())),
                    None,
                );
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
            // With memberships a new tenant belongs to nobody yet: creating one is no crossing.
            Owner::Root { .. } if self.ownership.membership.is_some() => return None,
            Owner::Root { .. } => (Some(foreign), data.fresh.clone()),
            Owner::Global { .. } => (None, data.fresh.clone()),
            _ => (Some(foreign), data.keys[foreign].clone()),
        };
        let mut row = self.model.row(self.catalog, data, rel, owner, tenant, Some(&key), 0, PROBE_ROW_BASE).ok()?;
        // A membership of the tenant's own member would only repeat a key: use the non-member.
        if let Some(m) = self.ownership.membership.as_ref().filter(|m| m.rel == rel.oid) {
            m.set_user(self.catalog, &mut row, &crate::context::user_of(&data.unknown));
        }
        let pk = primary_key_predicate(rel, &row);
        Some((crate::generate::insert_sql(rel, std::slice::from_ref(&row)), key, pk))
    }

    /// With `[membership]`, on the membership table: an INSERT making the
    /// context's own user a member of tenant `foreign`.
    fn join_insert(
        &self,
        data: &Dataset,
        rel: &Relation,
        owner: &Owner,
        ctx: Context,
        foreign: usize,
    ) -> Option<String> {
        let m = self.ownership.membership.as_ref().filter(|m| m.rel == rel.oid)?;
        if !matches!(ctx, Context::Tenant(_) | Context::TwoTenants | Context::UserControlled | Context::Unknown) {
            return None;
        }
        let user = ctx.identity(data)?.user;
        let key = &data.keys[foreign];
        let mut row =
            self.model.row(self.catalog, data, rel, owner, Some(foreign), Some(key), 0, PROBE_ROW_BASE).ok()?;
        m.set_user(self.catalog, &mut row, &user);
        Some(crate::generate::insert_sql(rel, std::slice::from_ref(&row)))
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
    // A user reads its own memberships in every tenant it belongs to.
    let membership = schema.ownership.membership.as_ref().is_some_and(|m| m.rel == probe.rel);
    let owns = if membership { ctx.member_of(data) } else { ctx.owns(data) };
    if let Some(reads) = probe.reads {
        let observed = judge_read(schema, truth, &owns, reads, outcome.as_ref().ok()?)?;
        return Some(Violation { rel: probe.rel, kind: probe.kind, context: ctx, sql: probe.sql.clone(), observed });
    }
    let owner = schema.ownership.owner(probe.rel);
    let shared = owner == Some(&Owner::Global { shared: true });
    let rows = truth.rows(probe.rel);
    let own_count = rows.iter().filter(|r| r.owner.as_deref().is_some_and(|o| owns.contains(&o))).count() as u64;
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
        // A foreign-key check fires only for a row the statement did delete:
        // it reached the other tenant's (or a shared) row, and the constraint
        // alone stopped it. Which row a keyed probe picks must not decide
        // whether the leak shows.
        (ProbeKind::KeyedDelete | ProbeKind::SharedDelete, Err(e)) if sqlstate(e) == Some("23503") => {
            let (key, what) = probe.target.clone().unwrap_or((TenantKey(String::new()), String::new()));
            let whose = match probe.kind {
                ProbeKind::SharedDelete => "a shared row (NULL tenant)".to_string(),
                _ => format!("tenant {key}'s row"),
            };
            format!("the delete reached {whose} {what}; only a foreign key stopped it: {}", crate::db::describe(e))
        }
        (ProbeKind::InsertForeign, Ok(_)) => {
            let (key, _) = probe.target.clone().unwrap_or((TenantKey(String::new()), String::new()));
            if shared {
                "the insert into a shared table succeeded".to_string()
            } else {
                format!("the insert of a row owned by tenant {key} succeeded")
            }
        }
        (ProbeKind::JoinTenant, Ok(_)) => {
            let (key, _) = probe.target.clone().unwrap_or((TenantKey(String::new()), String::new()));
            format!("the context's user added itself to tenant {key}: the membership insert succeeded")
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
fn judge_read(schema: &Schema<'_>, truth: &GroundTruth, owns: &[&str], reads: RowRef, out: &Outcome) -> Option<String> {
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
        .filter_map(|(owner, what)| owner.filter(|o| !owns.contains(&o.as_str())).map(|o| (o, what)))
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
