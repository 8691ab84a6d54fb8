//! Calibration: before the cases, find out which tables can be populated,
//! and let the server decide values the catalog cannot explain.
//!
//! A trial dataset (every row number a case or a probe uses, two tenants,
//! shared rows where the tenant column allows NULL) is loaded table by table.
//! When the server refuses a table's rows because of a named constraint (a
//! CHECK with a regex, a range or several columns; a domain; an exclusion
//! constraint; a partial or expression unique index), the columns that
//! constraint reads are given other value shapes ([`values::variant`]); every
//! combination is tried in one round trip, each INSERT inside a subtransaction
//! that is always rolled back, and the first the server accepts is kept for
//! the whole run. A table nothing satisfies is reported as unpopulated.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{Catalog, RelId, Relation};
use crate::db::{Db, describe, literal, sqlstate};
use crate::generate::{CasePlan, Dataset, Model, Shape, insert_sql, values};
use crate::ownership::Owner;

use super::runner::{ProbeError, db_err, reset_sql};

/// Rounds of loading the trial dataset; each round gives up on at least one table.
const ROUNDS: usize = 16;
/// Constraints repaired per table before it is given up.
const REPAIRS_PER_TABLE: usize = 8;
/// Shape combinations tried per repair.
const MAX_COMBOS: usize = 300;
/// Columns of one constraint whose shapes are varied together.
const MAX_COLUMNS: usize = 4;

/// Runs `q` (an INSERT) in a subtransaction that is always rolled back, and
/// says `ok` or the SQLSTATE and constraint that refused it.
const TRY_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION pg_temp.rowfence_try(q text) RETURNS text LANGUAGE plpgsql AS $rowfence$
DECLARE st text; cn text;
BEGIN
  EXECUTE q;
  RAISE EXCEPTION USING ERRCODE = 'RF001';
EXCEPTION
  WHEN SQLSTATE 'RF001' THEN RETURN 'ok';
  WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, cn = CONSTRAINT_NAME;
    RETURN st || ' ' || coalesce(cn, '');
END
$rowfence$"#;

/// SQLSTATEs a different value can cure, when the error names the constraint.
const CURABLE: &[&str] = &["23514", "23P01", "23505"];

/// Finds out which tables cannot be populated, so cases skip them (and say
/// so), and which columns need values of another shape.
pub async fn calibrate(model: &mut Model, catalog: &Catalog, admin: &Db) -> Result<(), ProbeError> {
    admin.batch_execute(TRY_FUNCTION).await.map_err(db_err("calibrating"))?;
    // Per table, the constraints repaired so far.
    let mut repairs: BTreeMap<RelId, BTreeSet<String>> = BTreeMap::new();
    for _ in 0..ROUNDS {
        let plan = model.trial_plan();
        let mut data = model.materialize(catalog, &plan);
        let mut failed: Vec<(RelId, String)> = Vec::new();
        admin.batch_execute(&reset_sql(model, catalog)).await.map_err(db_err("resetting data"))?;
        let mut i = 0;
        while i < data.tables.len() {
            let (rel, rows) = &data.tables[i];
            let rel = *rel;
            if rows.is_empty() {
                i += 1;
                continue;
            }
            let insert = insert_sql(catalog.relation(rel), rows);
            admin.batch_execute("SAVEPOINT calibrate").await.map_err(db_err("calibrating"))?;
            let Err(e) = admin.batch_execute(&insert).await else {
                admin.batch_execute("RELEASE SAVEPOINT calibrate").await.map_err(db_err("calibrating"))?;
                i += 1;
                continue;
            };
            admin.batch_execute("ROLLBACK TO SAVEPOINT calibrate").await.map_err(db_err("calibrating"))?;
            let seen = repairs.entry(rel).or_default();
            let repaired = if seen.len() < REPAIRS_PER_TABLE {
                repair(model, catalog, admin, &plan, rel, &e, seen).await?
            } else {
                None
            };
            match repaired {
                Some(shapes) => {
                    model.shapes.extend(shapes);
                    // Later tables copy this one's keys: materialize again, retry this table.
                    data = model.materialize(catalog, &plan);
                }
                None => {
                    failed.push((rel, format!("inserting generated rows failed: {}", describe(&e))));
                    i += 1;
                }
            }
        }
        admin.batch_execute("ROLLBACK").await.map_err(db_err("calibrating"))?;
        for (rel, rows) in &data.tables {
            if rows.is_empty()
                && let Some((_, why)) = data.skipped.iter().find(|(r, _)| r == rel)
            {
                failed.push((*rel, why.clone()));
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        for (rel, why) in failed {
            // A NULL tenant may be what the table refuses: try without shared rows first.
            if !model.drop_shared_rows(rel) {
                model.exclude(rel, why);
            }
        }
    }
    Ok(())
}

/// Shapes for the columns of the constraint that refused `rel`'s rows, or
/// `None` when no other shape gets past it.
async fn repair(
    model: &Model,
    catalog: &Catalog,
    admin: &Db,
    plan: &CasePlan,
    rel: RelId,
    error: &tokio_postgres::Error,
    seen: &mut BTreeSet<String>,
) -> Result<Option<Vec<((RelId, String), Shape)>>, ProbeError> {
    let constraint = error.as_db_error().and_then(|e| e.constraint()).map(str::to_string);
    let (Some(constraint), Some(code)) = (constraint, sqlstate(error)) else {
        return Ok(None);
    };
    // Columns of constraints repaired before are varied again, so one
    // repair does not undo another.
    let earlier: Vec<String> = seen.iter().filter(|c| **c != constraint).cloned().collect();
    seen.insert(constraint.clone());
    if !CURABLE.contains(&code) {
        return Ok(None);
    }
    let relation = catalog.relation(rel);
    let mut columns: Vec<String> = Vec::new();
    for name in std::iter::once(&constraint).chain(&earlier) {
        let read = admin.simple(&columns_sql(rel, name)).await.map_err(db_err("reading a constraint's columns"))?;
        for c in read.rows.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
            if adjustable(model, relation, &c) && !columns.contains(&c) && columns.len() < MAX_COLUMNS {
                columns.push(c);
            }
        }
    }
    if columns.is_empty() {
        return Ok(None);
    }
    // Patterns the constraint matches its columns against (a domain's say VALUE).
    let defs = admin.simple(&definition_sql(rel, &constraint)).await.map_err(db_err("reading a constraint"))?;
    let domain = defs.rows.iter().any(|r| r.get(1).cloned().flatten().is_some_and(|d| d == "t"));
    let mut pools: Vec<(String, Vec<String>)> = Vec::new();
    for def in defs.rows.iter().filter_map(|r| r.first().cloned().flatten()) {
        for (name, ci, pattern) in values::patterns(&def) {
            for column in columns.iter().filter(|c| **c == name || domain && name == "VALUE") {
                let sql_type = relation.column(column).map(|c| c.sql_type.as_str()).unwrap_or("text");
                if let Some(pool) = values::pattern_pool(&pattern, ci, sql_type) {
                    pools.push((column.clone(), pool));
                }
            }
        }
    }
    // Keys other rows point at must keep a value rowfence knows.
    let keys: Vec<&String> = columns
        .iter()
        .filter(|c| {
            relation.is_unique_column(c)
                || catalog
                    .relations
                    .iter()
                    .any(|r| r.foreign_keys.iter().any(|fk| fk.target == rel && fk.target_columns.contains(c)))
        })
        .collect();
    let combos = combinations(model, relation, &columns, &pools, &keys);
    if combos.is_empty() {
        return Ok(None);
    }
    let inserts: Vec<String> = combos
        .iter()
        .map(|shapes| {
            let mut trial = model.clone();
            trial.shapes.extend(shapes.iter().cloned());
            let data: Dataset = trial.materialize(catalog, plan);
            insert_sql(relation, data.rows(rel))
        })
        .collect();
    let array = inserts.iter().map(|q| literal(q)).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT pg_temp.rowfence_try(q) FROM unnest(ARRAY[{array}]::text[]) WITH ORDINALITY AS t(q, i) ORDER BY i"
    );
    let answers = admin.simple(&sql).await.map_err(db_err("trying value shapes"))?;
    let answers: Vec<String> =
        answers.rows.into_iter().map(|r| r.into_iter().next().flatten().unwrap_or_default()).collect();
    let same = format!("{code} {constraint}");
    // The first combination the server accepts; failing that, the first that
    // fails on a constraint not repaired yet (the next round repairs it), so
    // one repair does not undo another; failing that, any that gets past this one.
    let fresh = |a: &String| a.split_once(' ').is_some_and(|(_, c)| !c.is_empty() && !seen.contains(c));
    // An error without a constraint (a value of the wrong type) is no progress.
    let named = |a: &String| a.split_once(' ').is_some_and(|(_, c)| !c.is_empty());
    let pick = answers
        .iter()
        .position(|a| a == "ok")
        .or_else(|| answers.iter().position(fresh))
        .or_else(|| answers.iter().position(|a| *a != same && named(a)));
    tracing::debug!(
        table = %relation.qualified,
        %constraint,
        ?columns,
        tried = combos.len(),
        chosen = ?pick.map(|i| (&combos[i], &answers[i])),
        "repairing generated values"
    );
    Ok(pick.map(|i| combos[i].clone()))
}

/// Whether calibration may change how `column` is filled: not the tenant
/// column, a foreign key, a partition key, a generated or always-identity column.
fn adjustable(model: &Model, rel: &Relation, column: &str) -> bool {
    let tenant = model.tables.iter().find(|t| t.rel == rel.oid).is_some_and(|t| match &t.owner {
        Owner::Root { key } => key == column,
        Owner::Direct { column: c } => c == column,
        _ => false,
    });
    let Some(col) = rel.column(column) else { return false };
    // A nullable reference may be left NULL ("exactly one parent" CHECKs);
    // the one that makes a row a child may not.
    let owning = model.tables.iter().any(|t| {
        t.rel == rel.oid
            && matches!(&t.owner, Owner::Child { fk, .. } if rel.foreign_keys[*fk].columns.iter().any(|c| c == column))
    });
    let reference = rel.is_fk_column(column);
    !tenant
        && (!reference || !col.not_null && !owning)
        && !rel.partition_key.iter().any(|k| k == column)
        && col.generated.is_empty()
        && col.identity != "a"
}

/// Shape combinations over `columns`, fewest changes first, at most [`MAX_COMBOS`].
fn combinations(
    model: &Model,
    rel: &Relation,
    columns: &[String],
    pools: &[(String, Vec<String>)],
    keys: &[&String],
) -> Vec<Vec<((RelId, String), Shape)>> {
    let options: Vec<Vec<Option<Shape>>> = columns
        .iter()
        .map(|c| {
            let col = rel.column(c).expect("adjustable columns exist");
            let current = model.shapes.get(&(rel.oid, c.clone()));
            let key = keys.contains(&c);
            // A reference is set from its parent, or NULL: nothing else.
            if rel.is_fk_column(c) {
                let null = (current != Some(&Shape::Null)).then_some(Shape::Null);
                return std::iter::once(None).chain(null.map(Some)).collect();
            }
            // `None` keeps what the column has now; the constraint's own
            // pattern first, then leaving the column empty, then other shapes.
            let mut opts = vec![None];
            opts.extend(
                pools
                    .iter()
                    .filter(|(p, _)| p == c)
                    .map(|(_, pool)| Shape::Pool(pool.clone()))
                    .chain((!col.not_null && !key).then_some(Shape::Null))
                    .chain((col.has_default && !key).then_some(Shape::Default))
                    .chain(
                        (0..values::VARIANTS)
                            .filter(|v| values::variant(rel, col, 1, *v).is_some())
                            .map(Shape::Variant),
                    )
                    .filter(|s| Some(s) != current)
                    .map(Some),
            );
            opts
        })
        .collect();
    let mut combos: Vec<Vec<Option<Shape>>> = vec![Vec::new()];
    for opts in &options {
        combos = combos
            .into_iter()
            .flat_map(|c| opts.iter().map(move |o| c.iter().cloned().chain([o.clone()]).collect()))
            .collect();
        combos.truncate(MAX_COMBOS * 8);
    }
    combos.retain(|c| c.iter().any(Option::is_some));
    combos.sort_by_key(|c| c.iter().filter(|o| o.is_some()).count());
    combos.truncate(MAX_COMBOS);
    combos
        .into_iter()
        .map(|c| {
            columns.iter().zip(c).filter_map(|(name, shape)| shape.map(|s| ((rel.oid, name.clone()), s))).collect()
        })
        .collect()
}

/// The definition of a named constraint of `rel` or of a domain, and whether
/// it is a domain's.
fn definition_sql(rel: RelId, name: &str) -> String {
    let name = literal(name);
    format!(
        "SELECT pg_get_constraintdef(c.oid), c.contypid <> 0 FROM pg_constraint c \
         WHERE c.conname = {name} AND (c.conrelid = {rel} OR c.contypid <> 0)"
    )
}

/// The columns a named constraint of `rel` reads: its key columns, the
/// columns its expression depends on (CHECKs, index expressions and
/// predicates), or the columns of a domain it belongs to.
fn columns_sql(rel: RelId, name: &str) -> String {
    let name = literal(name);
    format!(
        "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = {rel} AND a.attnum > 0 AND NOT a.attisdropped AND (
  a.attnum IN (SELECT unnest(c.conkey) FROM pg_constraint c WHERE c.conrelid = {rel} AND c.conname = {name})
  OR a.attnum IN (SELECT d.refobjsubid FROM pg_depend d JOIN pg_constraint c
      ON d.classid = 'pg_constraint'::regclass AND d.objid = c.oid
      WHERE c.conrelid = {rel} AND c.conname = {name} AND d.refobjid = {rel})
  OR a.attnum IN (SELECT unnest(x.indkey::int2[]) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = {rel} AND i.relname = {name})
  OR a.attnum IN (SELECT d.refobjsubid FROM pg_depend d JOIN pg_index x
      ON d.classid = 'pg_class'::regclass AND d.objid = x.indexrelid JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = {rel} AND i.relname = {name} AND d.refobjid = {rel})
  OR a.atttypid IN (SELECT c.contypid FROM pg_constraint c WHERE c.contypid <> 0 AND c.conname = {name})
) ORDER BY a.attnum"
    )
}
