//! Indirect paths: views, materialized views, functions, and unique-value
//! oracles. They run in the same pipelined, rolled-back transaction as the
//! direct probes, and are judged against the same ground truth.

use super::{Context, Filter, GroundTruth, Probe, ProbeKind, RowRef, Schema};
use crate::catalog::{Function, RelId, RelKind, Relation};
use crate::db::{ident, literal};
use crate::generate::{Dataset, PROBE_ROW_BASE, insert_sql};
use crate::ownership::Owner;

/// How rowfence reads a view's rows back to their owners.
pub struct ViewRead<'a> {
    /// The view or materialized view.
    pub view: &'a Relation,
    /// The column that identifies rows.
    pub column: String,
    /// What that column holds.
    pub reads: RowRef,
}

/// How rowfence calls a function and reads what it returns.
pub struct FunctionCall<'a> {
    /// The function.
    pub function: &'a Function,
    /// The relation whose rows it exposes (for the report).
    pub rel: RelId,
    /// Argument sources, one per IN argument.
    args: Vec<Arg>,
    /// What to read from the result.
    read: FunctionRead,
}

enum Arg {
    /// A tenant key (another tenant's).
    TenantKey,
    /// The single-column key of a row of this relation (another tenant's row).
    RowKey(RelId),
}

enum FunctionRead {
    /// `SELECT t.col FROM f(...) t`.
    Column(String, RowRef),
    /// A scalar: non-NULL for the foreign key and NULL for an absent key leaks the row.
    Scalar,
}

impl Schema<'_> {
    /// Views and materialized views the app can read that show tenant rows,
    /// with the column that maps their rows back to owners.
    pub fn readable_views(&self) -> Vec<ViewRead<'_>> {
        let mut out = Vec::new();
        for v in self.catalog.relations.iter().filter(|v| matches!(v.kind, RelKind::View | RelKind::MaterializedView)) {
            if !v.privileges.select || !self.selected(v.oid) {
                continue;
            }
            let bases: Vec<&Relation> = v
                .depends_on
                .iter()
                .map(|b| self.catalog.relation(*b))
                .filter(|b| self.ownership.owner(b.oid).is_some_and(Owner::is_tenant_owned))
                .collect();
            if bases.is_empty() {
                continue;
            }
            if v.column(&self.ownership.column).is_some() {
                out.push(ViewRead { view: v, column: self.ownership.column.clone(), reads: RowRef::TenantKey });
                continue;
            }
            // Otherwise a base table's single-column key, exposed under its own name.
            if let Some(b) = bases.iter().find(|b| b.primary_key.len() == 1 && v.column(&b.primary_key[0]).is_some()) {
                out.push(ViewRead { view: v, column: b.primary_key[0].clone(), reads: RowRef::BaseKey(b.oid) });
            }
        }
        out
    }

    /// Functions the app may call whose arguments rowfence can supply and whose
    /// results it can attribute to tenants.
    pub fn callable_functions(&self) -> Vec<FunctionCall<'_>> {
        let mut out = Vec::new();
        for f in self.catalog.functions.iter().filter(|f| f.plain && !f.is_trigger && f.app_can_execute) {
            let source = f.source.to_lowercase();
            let mentioned: Vec<&Relation> = self
                .catalog
                .relations
                .iter()
                .filter(|r| r.kind.is_table() && r.primary_key.len() == 1)
                .filter(|r| self.ownership.owner(r.oid).is_some_and(Owner::is_tenant_owned))
                .filter(|r| crate::policy::word_in(&source, &r.name.to_lowercase()))
                .collect();
            let args: Option<Vec<Arg>> = f
                .arg_types
                .iter()
                .map(|t| {
                    if *t == self.ownership.key_type {
                        return Some(Arg::TenantKey);
                    }
                    mentioned
                        .iter()
                        .find(|r| r.column(&r.primary_key[0]).is_some_and(|c| c.sql_type == *t))
                        .map(|r| Arg::RowKey(r.oid))
                })
                .collect();
            let Some(args) = args else { continue };
            let tenant_col = &self.ownership.column;
            let returned = f.return_rel.and_then(|r| self.catalog.get(r));
            let (rel, read) =
                if let Some(r) = returned.filter(|r| self.ownership.owner(r.oid).is_some_and(Owner::is_tenant_owned)) {
                    if r.column(tenant_col).is_some() {
                        (r.oid, FunctionRead::Column(tenant_col.clone(), RowRef::TenantKey))
                    } else if r.primary_key.len() == 1 {
                        (r.oid, FunctionRead::Column(r.primary_key[0].clone(), RowRef::BaseKey(r.oid)))
                    } else {
                        continue;
                    }
                } else if f.result_columns.iter().any(|c| c == tenant_col) {
                    let Some(r) = mentioned.first() else { continue };
                    (r.oid, FunctionRead::Column(tenant_col.clone(), RowRef::TenantKey))
                } else if !f.returns_set && f.return_rel.is_none() && f.result_columns.is_empty() && args.len() == 1 {
                    match args[0] {
                        Arg::RowKey(r) => (r, FunctionRead::Scalar),
                        Arg::TenantKey => continue,
                    }
                } else {
                    continue;
                };
            if self.selected(rel) {
                out.push(FunctionCall { function: f, rel, args, read });
            }
        }
        out
    }

    /// Relations whose ground truth the probes need: probed tables, and the
    /// tables behind views and functions. A shard needs every shard's tables:
    /// its committed writes are the whole run's (see `effects`).
    pub fn truth_relations(&self) -> Vec<RelId> {
        let mut rels: Vec<RelId> = self.probed_by_any_shard().map(|r| r.oid).collect();
        for v in self.readable_views() {
            if let RowRef::BaseKey(b) = v.reads {
                rels.push(b);
            }
        }
        for f in self.callable_functions() {
            rels.push(f.rel);
            rels.extend(f.args.iter().filter_map(|a| match a {
                Arg::RowKey(r) => Some(*r),
                Arg::TenantKey => None,
            }));
        }
        rels.sort();
        rels.dedup();
        rels
    }

    /// View, function and oracle probes for one context.
    pub fn indirect_probes(
        &self,
        data: &Dataset,
        truth: &GroundTruth,
        ctx: Context,
        filter: Option<Filter>,
    ) -> Vec<Probe> {
        let mut out = Vec::new();
        let wanted = |rel: RelId, kind: ProbeKind| filter.is_none_or(|f| f.rel == rel && f.kind == kind);
        for v in self.readable_views() {
            if wanted(v.view.oid, ProbeKind::ViewSelect) {
                let sql = format!("SELECT {}::text FROM {}", ident(&v.column), v.view.qualified);
                out.push(Probe {
                    rel: v.view.oid,
                    kind: ProbeKind::ViewSelect,
                    sql,
                    target: None,
                    reads: Some(v.reads),
                    verify: None,
                });
            }
        }
        let owns = ctx.owns(data);
        let foreign_tenant = ctx.foreign_tenant(data);
        for call in self.callable_functions() {
            if !wanted(call.rel, ProbeKind::FunctionCall) {
                continue;
            }
            let foreign_row = |r: RelId| {
                truth.rows(r).iter().find(|t| t.owner.as_deref().is_some_and(|o| !owns.contains(&o)) && t.key.is_some())
            };
            let args: Option<Vec<(String, Option<String>)>> = call
                .args
                .iter()
                .map(|a| match a {
                    Arg::TenantKey => Some((data.keys[foreign_tenant].sql(&self.ownership.key_type), None)),
                    Arg::RowKey(r) => {
                        let row = foreign_row(*r)?;
                        let ty = self
                            .catalog
                            .relation(*r)
                            .column(&self.catalog.relation(*r).primary_key[0])?
                            .sql_type
                            .clone();
                        Some((format!("{}::{ty}", literal(row.key.as_deref()?)), row.owner.clone()))
                    }
                })
                .collect();
            let Some(args) = args else { continue };
            let list = args.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ");
            let f = &call.function.qualified;
            let (sql, reads) = match &call.read {
                FunctionRead::Column(col, reads) => {
                    (format!("SELECT t.{}::text FROM {f}({list}) t", ident(col)), *reads)
                }
                FunctionRead::Scalar => {
                    let (arg, owner) = &args[0];
                    let ty = arg.rsplit("::").next().unwrap_or("text");
                    let absent = absent_literal(ty);
                    let owner = literal(owner.as_deref().unwrap_or(""));
                    (
                        format!("SELECT CASE WHEN {f}({arg}) IS NOT NULL AND {f}({absent}) IS NULL THEN {owner} END"),
                        RowRef::TenantKey,
                    )
                }
            };
            out.push(Probe {
                rel: call.rel,
                kind: ProbeKind::FunctionCall,
                sql,
                target: None,
                reads: Some(reads),
                verify: None,
            });
        }
        if let Context::Tenant(i) = ctx {
            out.extend(self.oracle_probes(data, i, filter));
        }
        out
    }

    /// INSERTs of an own row that reuses another tenant's unique value:
    /// a duplicate-key error, or a skipped ON CONFLICT DO NOTHING, is an oracle.
    fn oracle_probes(&self, data: &Dataset, tenant: usize, filter: Option<Filter>) -> Vec<Probe> {
        let mut out = Vec::new();
        let foreign = (tenant + 1) % data.keys.len();
        for (rel_oid, rows) in &data.tables {
            let rel = self.catalog.relation(*rel_oid);
            let Some(Owner::Direct { column }) = self.ownership.owner(rel.oid) else { continue };
            if !rel.privileges.insert || !self.selected(rel.oid) {
                continue;
            }
            for unique in rel.uniques.iter().filter(|u| !u.contains(column)) {
                let Some(theirs) = rows.iter().find(|r| r.tenant == Some(foreign)) else { continue };
                let owner = self.ownership.owner(rel.oid).expect("direct");
                let Ok(mut mine) = self.model.row(
                    self.catalog,
                    data,
                    rel,
                    owner,
                    Some(tenant),
                    Some(&data.keys[tenant]),
                    0,
                    PROBE_ROW_BASE + 1,
                ) else {
                    continue;
                };
                let mut complete = true;
                for col in unique {
                    match (theirs.values.iter().find(|(c, _)| c == col), mine.values.iter_mut().find(|(c, _)| c == col))
                    {
                        (Some((_, v)), Some((_, slot))) => *slot = v.clone(),
                        (Some((c, v)), None) => mine.values.push((c.clone(), v.clone())),
                        _ => complete = false,
                    }
                }
                if !complete {
                    continue;
                }
                let insert = insert_sql(rel, std::slice::from_ref(&mine));
                let target = Some((data.keys[foreign].clone(), format!("({})", unique.join(", "))));
                for (kind, sql) in [
                    (ProbeKind::UniqueOracle, insert.clone()),
                    (ProbeKind::ConflictOracle, format!("{insert} ON CONFLICT DO NOTHING")),
                ] {
                    if filter.is_none_or(|f| f.rel == rel.oid && f.kind == kind) {
                        out.push(Probe { rel: rel.oid, kind, sql, target: target.clone(), reads: None, verify: None });
                    }
                }
            }
        }
        out
    }
}

/// A key value no generated row has.
fn absent_literal(ty: &str) -> String {
    match ty {
        "uuid" => "'ffffffff-ffff-4fff-bfff-ffffffffffff'::uuid".into(),
        t if t.contains("int") || t == "numeric" => format!("(-987654321)::{t}"),
        t => format!("'rowfence-absent'::{t}"),
    }
}

impl Schema<'_> {
    /// Row-id reads of every probed, non-shared table the app can SELECT,
    /// as `kind` (COPY wraps the query in `COPY (...) TO STDOUT`).
    pub fn select_probes(&self, kind: ProbeKind, filter: Option<Filter>) -> Vec<Probe> {
        self.probed()
            .filter(|r| r.privileges.select && self.ownership.owner(r.oid).is_some_and(Owner::is_tenant_owned))
            .filter(|r| filter.is_none_or(|f| f.rel == r.oid && f.kind == kind))
            .map(|r| {
                let select = format!("SELECT tableoid::oid::text || ':' || ctid::text AS row_id FROM {}", r.qualified);
                let sql = if kind == ProbeKind::Copy { format!("COPY ({select}) TO STDOUT") } else { select };
                Probe { rel: r.oid, kind, sql, target: None, reads: Some(RowRef::RowId(r.oid)), verify: None }
            })
            .collect()
    }
}
