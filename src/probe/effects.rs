//! Side effects: committed writes by one tenant, and what they did to every
//! other tenant's rows.
//!
//! Rolled-back probes cannot see what triggers, rules and cascading foreign
//! keys do. Here the app commits real writes and a superuser snapshot of every
//! tenant-owned table, taken before and after, is compared for the other
//! tenants. The case's data is reset before the next case anyway.
//!
//! 1. Tenant B inserts rows that reference tenant A's rows through foreign
//!    keys without the tenant column (`fk_cross_tenant_reference` when it
//!    succeeds); A's rows must not change.
//! 2. Tenant A deletes and updates its own rows; B's rows must not change
//!    (a definer trigger, or a cascade through a reference B holds, would
//!    change them). The rows B planted in step 1 do not count: B chose to
//!    point them at A's rows, so what A's delete does to them harms no one
//!    but B (`fk_cross_tenant_reference` already names that reference).
//!
//! A shard commits the same writes as a whole run (a trigger on one table
//! may change another shard's rows) and reports only what it saw on its own
//! relations, so the shards together report what one run does.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::{Context, Filter, ProbeKind, Schema, Violation};
use crate::catalog::RelId;
use crate::db::Db;
use crate::generate::{Dataset, PROBE_ROW_BASE, insert_sql};
use crate::ownership::Owner;

/// Rows per table: owner -> sorted row texts.
type Snapshot = BTreeMap<RelId, BTreeMap<String, Vec<String>>>;

/// Runs both steps and returns the violations (none when fewer than two tenants).
pub async fn run(
    schema: &Schema<'_>,
    admin: &Db,
    app: &Db,
    data: &Dataset,
    truth: &super::GroundTruth,
    filter: Option<Filter>,
) -> Result<(Vec<Violation>, u64), tokio_postgres::Error> {
    let wants = |kind: ProbeKind| filter.is_none_or(|f| f.kind == kind);
    if data.keys.len() < 2 || !(wants(ProbeKind::CrossReference) || wants(ProbeKind::SideEffect)) {
        return Ok((Vec::new(), 0));
    }
    let (mut violations, statements) = run_all(schema, admin, app, data, truth, wants).await?;
    violations.retain(|v| schema.selected(v.rel));
    Ok((violations, statements))
}

/// Both steps on every relation, whichever shard the run probes.
async fn run_all(
    schema: &Schema<'_>,
    admin: &Db,
    app: &Db,
    data: &Dataset,
    truth: &super::GroundTruth,
    wants: impl Fn(ProbeKind) -> bool,
) -> Result<(Vec<Violation>, u64), tokio_postgres::Error> {
    let tables: Vec<RelId> = schema
        .catalog
        .relations
        .iter()
        .filter(|r| {
            r.kind.is_table() && !r.is_partition && schema.ownership.owner(r.oid).is_some_and(Owner::is_tenant_owned)
        })
        .map(|r| r.oid)
        .collect();
    let (a, b) = (0usize, 1usize);
    let mut violations = Vec::new();
    let mut statements = 0;

    // 1. B references A's rows.
    let before = snapshot(schema, admin, &tables).await?;
    let mut inserts = Vec::new();
    for (rel, sql) in cross_references(schema, data, a, b) {
        inserts.push((rel, sql));
    }
    statements += inserts.len() as u64;
    let results = commit_as(app, schema.context, &data.keys[b], inserts.iter().map(|(_, s)| s.as_str())).await?;
    for ((rel, sql), ok) in inserts.iter().zip(results) {
        if ok && wants(ProbeKind::CrossReference) {
            violations.push(Violation {
                rel: *rel,
                kind: ProbeKind::CrossReference,
                context: Context::Tenant(b),
                sql: sql.clone(),
                observed: format!(
                    "the insert by tenant {} referencing a row of tenant {} succeeded",
                    data.keys[b], data.keys[a]
                ),
            });
        }
    }
    let middle = snapshot(schema, admin, &tables).await?;
    if wants(ProbeKind::SideEffect) {
        violations.extend(
            changed(
                schema,
                &before,
                &middle,
                &data.keys[b].0,
                b,
                "inserts referencing another tenant's rows",
                &inserts,
            )
            .into_iter()
            .map(|(v, _)| v),
        );
    }

    // 2. A writes its own rows.
    let writes = own_writes(schema, truth, &data.keys[a].0);
    statements += writes.len() as u64;
    commit_as(app, schema.context, &data.keys[a], writes.iter().map(|(_, s)| s.as_str())).await?;
    let after = snapshot(schema, admin, &tables).await?;
    if wants(ProbeKind::SideEffect) {
        let planted = added(&before, &middle);
        violations.extend(
            changed(schema, &middle, &after, &data.keys[a].0, a, "its own deletes and updates", &writes)
                .into_iter()
                .filter(|(v, owner)| !only_planted(&middle, &after, &planted, v.rel, owner))
                .map(|(v, _)| v),
        );
    }
    Ok((violations, statements))
}

/// INSERTs by tenant `b` of rows whose foreign keys (without the tenant
/// column) point at rows of tenant `a`.
fn cross_references(schema: &Schema<'_>, data: &Dataset, a: usize, b: usize) -> Vec<(RelId, String)> {
    let mut out = Vec::new();
    for (oid, _) in &data.tables {
        let rel = schema.catalog.relation(*oid);
        let Some(owner @ Owner::Direct { column }) = schema.ownership.owner(rel.oid) else { continue };
        if !rel.privileges.insert {
            continue;
        }
        for fk in rel.foreign_keys.iter().filter(|fk| !fk.columns.contains(column)) {
            if !schema.ownership.owner(fk.target).is_some_and(Owner::is_tenant_owned) {
                continue;
            }
            let Some(parent) = data.rows(fk.target).iter().find(|r| r.tenant == Some(a)) else { continue };
            let n = PROBE_ROW_BASE + 2;
            let Ok(mut row) = schema.model.row(schema.catalog, data, rel, owner, Some(b), Some(&data.keys[b]), 0, n)
            else {
                continue;
            };
            let mut complete = true;
            for (c, tc) in fk.columns.iter().zip(&fk.target_columns) {
                match parent.values.iter().find(|(x, _)| x == tc) {
                    Some((_, v)) => match row.values.iter_mut().find(|(x, _)| x == c) {
                        Some(slot) => slot.1 = v.clone(),
                        None => row.values.push((c.clone(), v.clone())),
                    },
                    None => complete = false,
                }
            }
            if complete {
                out.push((rel.oid, insert_sql(rel, std::slice::from_ref(&row))));
            }
        }
    }
    out
}

/// Keyed UPDATE and DELETE of one own row per table.
fn own_writes(schema: &Schema<'_>, truth: &super::GroundTruth, key: &str) -> Vec<(RelId, String)> {
    let mut out = Vec::new();
    for rel in schema.probed_by_any_shard() {
        let Some(row) = truth.rows(rel.oid).iter().find(|r| r.owner.as_deref() == Some(key)) else { continue };
        let owner = schema.ownership.owner(rel.oid).expect("probed relations are classified");
        let own = crate::generate::TenantKey(key.to_string());
        if rel.privileges.update
            && let Some(set) = super::blind_assignment(schema.model, rel, owner, Some(&own))
        {
            out.push((rel.oid, format!("UPDATE {} SET {set} WHERE {}", rel.qualified, row.predicate)));
        }
        if rel.privileges.delete {
            out.push((rel.oid, format!("DELETE FROM {} WHERE {}", rel.qualified, row.predicate)));
        }
    }
    out
}

/// Runs `statements` as the app under tenant `key`, each in a savepoint, and
/// commits what succeeded. Returns which succeeded.
async fn commit_as<'s>(
    app: &Db,
    context: &crate::context::ContextSpec,
    key: &crate::generate::TenantKey,
    statements: impl Iterator<Item = &'s str>,
) -> Result<Vec<bool>, tokio_postgres::Error> {
    let c = app;
    c.batch_execute(&format!("BEGIN; {}", context.set_sql(&crate::context::Identity::of(key)))).await?;
    // Whether a statement failed decides whether its savepoint is kept or
    // rolled back. The statements go out pipelined, a window at a time: the
    // first failure aborts the transaction, so the ones after it fail
    // unexamined; after the rollback they are sent again.
    const WINDOW: usize = 64;
    let attempts: Vec<String> =
        statements.map(|s| format!("SAVEPOINT rowfence_write; {s}; RELEASE SAVEPOINT rowfence_write")).collect();
    let mut ok = Vec::with_capacity(attempts.len());
    while ok.len() < attempts.len() {
        let window = &attempts[ok.len()..attempts.len().min(ok.len() + WINDOW)];
        let replies = join_all(window.iter().map(|a| c.simple_query(a))).await;
        match replies.iter().position(Result::is_err) {
            None => ok.extend(std::iter::repeat_n(true, replies.len())),
            Some(failed) => {
                ok.extend(std::iter::repeat_n(true, failed));
                ok.push(false);
                c.batch_execute("ROLLBACK TO SAVEPOINT rowfence_write; RELEASE SAVEPOINT rowfence_write").await?;
            }
        }
    }
    c.batch_execute("COMMIT").await?;
    Ok(ok)
}

async fn snapshot(schema: &Schema<'_>, admin: &Db, tables: &[RelId]) -> Result<Snapshot, tokio_postgres::Error> {
    let queries: Vec<String> = tables
        .iter()
        .map(|&oid| {
            let rel = schema.catalog.relation(oid);
            format!(
                "SELECT {}, t::text FROM {} t",
                schema.ownership.owner_expr(schema.catalog, oid, "t"),
                rel.qualified
            )
        })
        .collect();
    let results = join_all(queries.iter().map(|q| admin.simple(q))).await;
    let mut snap = Snapshot::new();
    for (&oid, r) in tables.iter().zip(results) {
        let mut by_owner: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in r?.rows {
            if let (Some(owner), Some(text)) = (row[0].clone(), row[1].clone()) {
                by_owner.entry(owner).or_default().push(text);
            }
        }
        for v in by_owner.values_mut() {
            v.sort();
        }
        snap.insert(oid, by_owner);
    }
    Ok(snap)
}

/// Rows in `after` that `before` did not have, per table and owner.
fn added(before: &Snapshot, after: &Snapshot) -> Snapshot {
    let mut out = Snapshot::new();
    for (oid, owners) in after {
        for (owner, rows) in owners {
            let old = before.get(oid).and_then(|o| o.get(owner));
            let new: Vec<String> = rows.iter().filter(|r| old.is_none_or(|o| !o.contains(r))).cloned().collect();
            if !new.is_empty() {
                out.entry(*oid).or_default().insert(owner.clone(), new);
            }
        }
    }
    out
}

/// Whether the only rows of `owner` in `rel` that changed between two
/// snapshots are rows it planted itself (deleted, or changed into as many
/// rows as went away: a SET NULL cascade rewrites the planted row).
fn only_planted(before: &Snapshot, after: &Snapshot, planted: &Snapshot, rel: RelId, owner: &str) -> bool {
    let rows = |s: &Snapshot| s.get(&rel).and_then(|o| o.get(owner)).cloned().unwrap_or_default();
    let (old, new, mine) = (rows(before), rows(after), rows(planted));
    let removed: Vec<&String> = old.iter().filter(|r| !new.contains(r)).collect();
    let added = new.iter().filter(|r| !old.contains(r)).count();
    !removed.is_empty() && removed.iter().all(|r| mine.contains(r)) && added <= removed.len()
}

/// Rows of tenants other than `writer` that differ between two snapshots,
/// each with the tenant whose rows changed.
fn changed(
    schema: &Schema<'_>,
    before: &Snapshot,
    after: &Snapshot,
    writer: &str,
    writer_index: usize,
    what: &str,
    writes: &[(RelId, String)],
) -> Vec<(Violation, String)> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    for (oid, old) in before {
        let new = after.get(oid).unwrap_or(&empty);
        let owners: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for owner in owners.into_iter().filter(|o| o.as_str() != writer) {
            let (o, n) = (old.get(owner).cloned().unwrap_or_default(), new.get(owner).cloned().unwrap_or_default());
            if o != n {
                let removed = o.iter().filter(|r| !n.contains(r)).count();
                let added = n.iter().filter(|r| !o.contains(r)).count();
                let violation = Violation {
                    rel: *oid,
                    kind: ProbeKind::SideEffect,
                    context: Context::Tenant(writer_index),
                    sql: writes.iter().map(|(_, s)| format!("{s};")).collect::<Vec<_>>().join("\n"),
                    observed: format!(
                        "after tenant '{writer}' committed {what}, rows of tenant '{owner}' in {} changed: {removed} removed or changed, {added} added or changed",
                        schema.catalog.relation(*oid).qualified
                    ),
                };
                out.push((violation, owner.clone()));
            }
        }
    }
    out
}
