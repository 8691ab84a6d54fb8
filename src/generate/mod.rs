//! Generating multi-tenant data with proptest.
//!
//! A [`CasePlan`] is what proptest generates and shrinks: which tenant keys
//! take part, and for each table a list of rows (owning tenant, which parent
//! to hang under). [`Model::materialize`] turns a plan into concrete rows with
//! SQL literals, honouring NOT NULL, UNIQUE, foreign keys (parents of the same
//! tenant), simple CHECKs and enums. Shrinking removes rows and tenants until
//! the smallest dataset that still shows a violation is left.

mod members;
mod partitions;
mod plan;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::catalog::{Catalog, RelId, Relation};
use crate::db::{ident, literal};
use crate::ownership::{Owner, Ownership};

pub use plan::{CasePlan, RowPlan};

/// Tenants per case: at least two, so there is always a foreign tenant.
const MIN_TENANTS: usize = 2;
const MAX_TENANTS: usize = 4;
/// Rows per tenant-owned table per case (over all tenants).
const MAX_ROWS: usize = 6;
/// Rows of each global table (referenced data), in every case.
const GLOBAL_ROWS: u64 = 2;
/// Row numbers for rows the probes insert: just above the generated ones
/// (1..=MAX_ROWS), so values stay unique yet within range CHECKs such as
/// `BETWEEN 1 AND 10`.
pub const PROBE_ROW_BASE: u64 = MAX_ROWS as u64 + 1;

/// A tenant key as text, in PostgreSQL's canonical output form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantKey(pub String);

impl TenantKey {
    /// The key as a typed SQL literal.
    pub fn sql(&self, key_type: &str) -> String {
        format!("{}::{key_type}", literal(&self.0))
    }
}

impl fmt::Display for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0)
    }
}

/// Candidate tenant keys for a key type. Text keys are adversarial: prefixes of
/// each other, case and whitespace variants, LIKE wildcards.
pub fn key_pool(base_type: &str, category: &str) -> Vec<TenantKey> {
    let keys: Vec<String> = match (base_type, category) {
        ("uuid", _) => ["1a2b3c4d", "5e6f7a8b", "9c0d1e2f", "3a4b5c6d", "7e8f9a0b", "c1d2e3f4", "a5b6c7d8", "e9f0a1b2"]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!("{p}-{:04x}-4{:03x}-8{:03x}-{:012x}", i * 4099 + 17, i * 7 + 1, i * 13 + 5, i * 104729 + 7)
            })
            .collect(),
        (_, "N") => ["1", "2", "3", "10", "12", "21", "100", "11"].map(String::from).to_vec(),
        _ => ["acme", "acme2", "Acme", "acme ", "ac%", "a_me", "ACME", "ac", "globex", "initech"]
            .map(String::from)
            .to_vec(),
    };
    keys.into_iter().map(TenantKey).collect()
}

/// The type whose values the tenant keys take: the key column's base type,
/// but uuid-shaped text where the policies cast a text key to uuid (ids an
/// ORM stores as text): adversarial text keys would only make every policy
/// fail with a cast error and leave nothing tested.
fn key_shape(catalog: &Catalog, ownership: &Ownership) -> String {
    let text = matches!(ownership.key_base_type.as_str(), "text" | "varchar" | "bpchar" | "citext");
    let casts_to_uuid = catalog
        .relations
        .iter()
        .filter(|r| ownership.owner(r.oid).is_some_and(Owner::is_tenant_owned))
        .flat_map(|r| &r.policies)
        .filter(|p| p.applies_to_app)
        .flat_map(|p| [&p.using, &p.with_check])
        .flatten()
        .any(|e| e.contains(&format!("{})::uuid", ident(&ownership.column))));
    if text && casts_to_uuid { "uuid".into() } else { ownership.key_base_type.clone() }
}

/// A table the generator fills, and how.
#[derive(Debug, Clone)]
pub struct TableModel {
    /// The table.
    pub rel: RelId,
    /// Its ownership.
    pub owner: Owner,
    /// Whether it gets shared rows (NULL tenant): its tenant column allows
    /// NULL and such rows load.
    pub shared_rows: bool,
}

/// What the generator knows about the schema.
#[derive(Debug, Clone)]
pub struct Model {
    /// Tables to populate, parents first.
    pub tables: Vec<TableModel>,
    /// Candidate tenant keys.
    pub pool: Vec<TenantKey>,
    /// SQL type of the key.
    pub key_type: String,
    /// Tables that cannot be populated, with the reason.
    pub unpopulated: Vec<(RelId, String)>,
    /// Columns whose values take another shape than the first, because the
    /// schema refused it (chosen by calibration, see `probe::calibrate`).
    pub shapes: BTreeMap<(RelId, String), Shape>,
    /// The membership table, with `[membership]` ([`members`]).
    pub membership: Option<crate::ownership::Membership>,
    /// Requests name their tenant as well as their user (`{tenant}` in the
    /// context): a member of two tenants then reaches only the one named.
    pub request_names_tenant: bool,
    /// Some claim is the end user's to change (`[user_controlled]`).
    pub user_controlled: bool,
}

/// How a column's values are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Left to the column's default.
    Default,
    /// NULL (a nullable column a conditional CHECK wants empty).
    Null,
    /// [`values::variant`] number `v`.
    Variant(u8),
    /// Strings generated from the pattern a CHECK or domain matches the
    /// column against ([`values::pattern_pool`]); row `n` takes the `n`-th.
    Pool(Vec<String>),
}

impl Shape {
    /// The value of row `n` in this shape; `None`: the column is left out.
    fn value(&self, rel: &Relation, col: &crate::catalog::Column, n: u64) -> Option<String> {
        match self {
            Shape::Default => None,
            Shape::Null => Some("NULL".into()),
            Shape::Variant(v) => values::variant(rel, col, n, *v),
            Shape::Pool(pool) => {
                let s = &pool[(n.max(1) as usize - 1) % pool.len()];
                Some(format!("{}::{}", literal(s), col.sql_type))
            }
        }
    }
}

/// A generated row.
#[derive(Debug, Clone)]
pub struct Row {
    /// Owning tenant (index into `Dataset::keys`), `None` for global rows.
    pub tenant: Option<usize>,
    /// Column -> SQL expression, in insertion order.
    pub values: Vec<(String, String)>,
    /// A nullable reference was left NULL because no parent row of the
    /// tenant existed (a CHECK may want it set).
    pub dangling: bool,
}

/// Drops rows that repeat an earlier row's primary key or unique key (a
/// key on the tenant column alone, or a membership key `(user_id, org_id)`
/// made of foreign keys, repeats whenever a tenant gets two rows). NULLs
/// never repeat; a key with a value the row does not set is not compared.
fn distinct_keys(rel: &Relation, rows: Vec<Row>) -> Vec<Row> {
    let keys: Vec<&Vec<String>> =
        std::iter::once(&rel.primary_key).filter(|k| !k.is_empty()).chain(&rel.uniques).collect();
    let mut seen: Vec<std::collections::BTreeSet<Vec<&str>>> = vec![Default::default(); keys.len()];
    let mut kept = Vec::with_capacity(rows.len());
    for row in &rows {
        let tuples: Vec<Option<Vec<&str>>> = keys
            .iter()
            .map(|k| k.iter().map(|c| row.get(c).filter(|v| !v.eq_ignore_ascii_case("null"))).collect())
            .collect();
        let repeats = tuples.iter().zip(&seen).any(|(t, s)| t.as_ref().is_some_and(|t| s.contains(t)));
        if !repeats {
            for (t, s) in tuples.into_iter().zip(seen.iter_mut()) {
                s.extend(t);
            }
            kept.push(row.clone());
        }
    }
    kept
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.values.iter().find(|(c, _)| c == column).map(|(_, v)| v.as_str())
    }

    /// Sets `column` to the SQL expression `value`, replacing what was generated.
    pub fn set(&mut self, column: &str, value: String) {
        match self.values.iter_mut().find(|(c, _)| c == column) {
            Some(slot) => slot.1 = value,
            None => self.values.push((column.to_string(), value)),
        }
    }
}

/// A materialized case: keys and rows per table.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Tenants of this case.
    pub keys: Vec<TenantKey>,
    /// A valid key no tenant has.
    pub unknown: TenantKey,
    /// Another unused key, for rows planted under a new tenant.
    pub fresh: TenantKey,
    /// Rows per table, in load order.
    pub tables: Vec<(RelId, Vec<Row>)>,
    /// Planned rows that could not be built: table and the first reason.
    pub skipped: Vec<(RelId, String)>,
    /// (user, tenant index) of every membership row (`[membership]`; else empty).
    pub memberships: Vec<(String, usize)>,
    /// A user is a member of the first two tenants (`[membership]`).
    pub two_tenant_user: bool,
    /// Its requests name the first ([`Model::request_names_tenant`]).
    pub request_names_tenant: bool,
    /// Tenant 0 also sends requests claiming tenant 1 where the user may.
    pub user_controlled: bool,
}

impl Model {
    /// Decides which tables to populate. Partitions are filled through their
    /// parent; views and foreign tables hold no rows of their own.
    pub fn new(catalog: &Catalog, ownership: &Ownership) -> Model {
        let key_col_category = catalog
            .relations
            .iter()
            .flat_map(|r| r.columns.iter())
            .find(|c| c.sql_type == ownership.key_type)
            .map(|c| c.category.clone())
            .unwrap_or_default();
        let tables = ownership
            .load_order(catalog)
            .into_iter()
            .filter(|oid| {
                let rel = catalog.relation(*oid);
                matches!(rel.kind, crate::catalog::RelKind::Table | crate::catalog::RelKind::Partitioned)
                    && !rel.is_partition
            })
            .map(|rel| {
                let owner = ownership.owner(rel).cloned().expect("tables are classified");
                let shared_rows = match &owner {
                    Owner::Direct { column } => catalog.relation(rel).column(column).is_some_and(|c| !c.not_null),
                    _ => false,
                };
                TableModel { rel, owner, shared_rows }
            })
            .collect();
        Model {
            tables,
            pool: key_pool(&key_shape(catalog, ownership), &key_col_category),
            key_type: ownership.key_type.clone(),
            unpopulated: Vec::new(),
            shapes: BTreeMap::new(),
            membership: ownership.membership.clone(),
            request_names_tenant: true,
            user_controlled: false,
        }
    }

    /// Drops a table (and, on materialization, rows that need it) from generation.
    pub fn exclude(&mut self, rel: RelId, reason: String) {
        self.tables.retain(|t| t.rel != rel);
        self.unpopulated.push((rel, reason));
    }

    /// Stops planning shared rows for `rel` (a CHECK or trigger refuses a NULL
    /// tenant). Returns whether it had them, so a failing table is retried
    /// without them before it is given up.
    pub fn drop_shared_rows(&mut self, rel: RelId) -> bool {
        self.tables.iter_mut().find(|t| t.rel == rel).is_some_and(|t| std::mem::take(&mut t.shared_rows))
    }

    /// The value the generator gives `col` of `rel` in row `n`, in the shape
    /// calibration chose (`None`: left to the default, or no value known).
    pub fn value(&self, rel: &Relation, col: &crate::catalog::Column, n: u64) -> Option<String> {
        match self.shapes.get(&(rel.oid, col.name.clone())) {
            Some(shape) => shape.value(rel, col, n),
            None => values::value(rel, col, n),
        }
    }

    /// Whether rows of `rel` with a NULL tenant are generated.
    pub fn has_shared_rows(&self, rel: RelId) -> bool {
        self.tables.iter().any(|t| t.rel == rel && t.shared_rows)
    }

    /// Turns a plan into rows.
    pub fn materialize(&self, catalog: &Catalog, plan: &CasePlan) -> Dataset {
        let keys: Vec<TenantKey> = plan.keys.iter().map(|&i| self.pool[i].clone()).collect();
        let mut unused = (0..self.pool.len()).filter(|i| !plan.keys.contains(i)).map(|i| self.pool[i].clone());
        let unknown = unused.next().expect("pool is larger than MAX_TENANTS + 2");
        let fresh = unused.next().expect("pool is larger than MAX_TENANTS + 2");
        let members = members::Members::of(&keys, &unknown);
        let two_tenant_user = self.membership.is_some() && members.two_tenant_user;
        let mut data = Dataset {
            keys,
            unknown,
            fresh,
            tables: Vec::new(),
            skipped: Vec::new(),
            memberships: if self.membership.is_some() { members.rows.clone() } else { Vec::new() },
            two_tenant_user,
            request_names_tenant: self.request_names_tenant,
            user_controlled: self.user_controlled,
        };
        for (t, table) in self.tables.iter().enumerate() {
            let rel = catalog.relation(table.rel);
            if let Some(rows) = self.member_rows(catalog, &data, table.rel, &table.owner, &members) {
                data.tables.push((table.rel, rows));
                continue;
            }
            let owners: Vec<Option<usize>> = match &table.owner {
                Owner::Root { .. } => (0..data.keys.len()).map(Some).collect(),
                Owner::Global { .. } => (0..GLOBAL_ROWS).map(|_| None).collect(),
                _ => plan
                    .rows
                    .get(t)
                    .map(|rows| {
                        // The first two rows belong to the first two tenants, so every
                        // table holds rows of two tenants and children find parents.
                        rows.iter()
                            .enumerate()
                            .map(|(i, r)| {
                                let tenant = if i < 2 { i } else { r.tenant };
                                (!(r.shared && table.shared_rows)).then_some(tenant % data.keys.len())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let picks: Vec<usize> = match &table.owner {
                Owner::Root { .. } | Owner::Global { .. } => vec![0; owners.len()],
                _ => plan.rows.get(t).map(|rows| rows.iter().map(|r| r.pick).collect()).unwrap_or_default(),
            };
            let mut rows = Vec::new();
            for (i, (tenant, pick)) in owners.into_iter().zip(picks).enumerate() {
                let target = tenant.map(|k| data.keys[k].clone());
                let n = i as u64 + 1;
                // A tenant without a parent row (or without one for a nullable
                // reference a CHECK may require): hang the row under the next
                // tenant that has them all.
                let first = self.row(catalog, &data, rel, &table.owner, tenant, target.as_ref(), pick, n);
                let complete = first.as_ref().is_ok_and(|r| !r.dangling);
                let k = data.keys.len();
                let other = tenant.filter(|_| !complete && !matches!(table.owner, Owner::Root { .. })).and_then(|t| {
                    (1..k).map(|d| (t + d) % k).find_map(|t| {
                        self.row(catalog, &data, rel, &table.owner, Some(t), Some(&data.keys[t]), pick, n)
                            .ok()
                            .filter(|r| !r.dangling)
                    })
                });
                match other.map(Ok).unwrap_or(first) {
                    Ok(row) => rows.push(row),
                    Err(why) if !data.skipped.iter().any(|(r, _)| *r == table.rel) => {
                        data.skipped.push((table.rel, why))
                    }
                    Err(_) => {}
                }
            }
            let rows = distinct_keys(rel, rows);
            if rows.is_empty() && plan.rows.get(t).is_some_and(|r| !r.is_empty()) {
                let why = data.skipped.iter().find(|(r, _)| *r == table.rel).map(|(_, w)| w.as_str());
                tracing::trace!(table = %rel.qualified, why, "no row of a planned table could be built");
            }
            data.tables.push((table.rel, rows));
        }
        data
    }

    /// Builds one row of `rel` for `tenant` (None: global), row number `n`.
    /// `key` is the tenant key the row carries (normally the tenant's own key).
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &self,
        catalog: &Catalog,
        data: &Dataset,
        rel: &Relation,
        owner: &Owner,
        tenant: Option<usize>,
        key: Option<&TenantKey>,
        pick: usize,
        n: u64,
    ) -> Result<Row, String> {
        let mut values: Vec<(String, String)> = Vec::new();
        let mut dangling = false;
        let set = |values: &mut Vec<(String, String)>, c: &str, v: String| {
            if !values.iter().any(|(x, _)| x == c) {
                values.push((c.to_string(), v));
            }
        };
        match (owner, key) {
            (Owner::Root { key: col } | Owner::Direct { column: col }, Some(key)) => {
                set(&mut values, col, key.sql(&self.key_type));
            }
            // A shared row: the tenant column is NULL on purpose.
            (Owner::Direct { column: col }, None) => set(&mut values, col, "NULL".into()),
            (Owner::Root { .. }, None) => return Err("tenant-owned row without a tenant".into()),
            _ => {}
        }
        for fk in &rel.foreign_keys {
            if fk.columns.iter().all(|c| values.iter().any(|(x, _)| x == c)) {
                continue;
            }
            // Calibration found that a CHECK wants this reference empty.
            for c in &fk.columns {
                if self.shapes.get(&(rel.oid, c.clone())) == Some(&Shape::Null) {
                    set(&mut values, c, "NULL".into());
                }
            }
            // MATCH SIMPLE: a key with a NULL column references nothing.
            if fk.columns.iter().any(|c| values.iter().any(|(x, v)| x == c && v == "NULL")) {
                continue;
            }
            let nullable = fk.columns.iter().any(|c| rel.column(c).is_some_and(|col| !col.not_null));
            let parent_rows = data.rows(fk.target);
            // The reference that makes the row a child: it must point at its parent.
            let owning = matches!(owner, Owner::Child { fk: i, .. } if rel.foreign_keys[*i].name == fk.name);
            let tenant_bound =
                owning || fk.columns.iter().any(|c| matches!(owner, Owner::Direct { column } if column == c));
            let candidates: Vec<&Row> = parent_rows
                .iter()
                .filter(|r| match (tenant, r.tenant) {
                    // Keep references inside the tenant when both sides are tenant-owned.
                    (Some(t), Some(rt)) => t == rt,
                    // Shared rows of a tenant table are no tenant's parent.
                    (_, None) => !tenant_bound,
                    (None, Some(_)) => !tenant_bound,
                })
                .filter(|r| {
                    // A parent chosen for a composite key must agree on columns already set.
                    fk.columns.iter().zip(&fk.target_columns).all(|(c, tc)| {
                        match (values.iter().find(|(x, _)| x == c), r.get(tc)) {
                            (Some((_, mine)), Some(theirs)) => mine == theirs,
                            _ => true,
                        }
                    })
                })
                .collect();
            let candidates = self.members_first(data, fk, tenant, candidates);
            if fk.target == rel.oid || candidates.is_empty() {
                dangling |= fk.target != rel.oid && !parent_rows.is_empty();
                // A key with a NULL column references nothing (MATCH SIMPLE):
                // leave a nullable column of it unset. Not for the key that
                // makes the row a child: that one must point at its parent.
                let unset_nullable = fk
                    .columns
                    .iter()
                    .any(|c| !values.iter().any(|(x, _)| x == c) && rel.column(c).is_some_and(|col| !col.not_null));
                if nullable && !tenant_bound || unset_nullable && !owning {
                    // Leave the reference NULL (not to a value of no row).
                    for c in &fk.columns {
                        if rel.column(c).is_some_and(|col| !col.not_null) {
                            set(&mut values, c, "NULL".into());
                        }
                    }
                    continue;
                }
                return Err(format!("no parent row in {} for {}", catalog.relation(fk.target).qualified, fk.name));
            }
            let parent = candidates[pick % candidates.len()];
            for (c, tc) in fk.columns.iter().zip(&fk.target_columns) {
                let v = parent.get(tc).ok_or_else(|| format!("parent column {tc} has no generated value"))?;
                set(&mut values, c, v.to_string());
            }
        }
        // Spread rows of a partitioned table over its partitions.
        let targets = partitions::targets(catalog, rel);
        if !targets.is_empty() {
            let target = &targets[(n as usize) % targets.len()];
            for (col, v) in rel.partition_key.iter().zip(target) {
                if let (Some(v), Some(c)) = (v, rel.column(col)) {
                    set(&mut values, col, format!("{v}::{}", c.sql_type));
                }
            }
        }
        for col in &rel.columns {
            if values.iter().any(|(c, _)| c == &col.name) || !col.generated.is_empty() {
                continue;
            }
            let generated = match self.shapes.get(&(rel.oid, col.name.clone())) {
                Some(Shape::Default) => continue,
                Some(shape) => shape.value(rel, col, n),
                None => {
                    let keyish = rel.is_unique_column(&col.name);
                    // Flags and enumerations are varied even when defaulted: policies
                    // branch on them (`OR is_public`), and the default hides that.
                    let varied = col.category == "B"
                        || !col.enum_labels.is_empty()
                        || !values::check_choices(rel, &col.name).is_empty();
                    if col.has_default && !keyish && !varied {
                        continue; // let the schema's default fill it (timestamps, statuses ...)
                    }
                    values::value(rel, col, n)
                }
            };
            match generated {
                Some(v) => {
                    values.push((col.name.clone(), v));
                }
                None if !col.not_null => {}
                None => {
                    return Err(format!("cannot generate a value of type {} for column {}", col.sql_type, col.name));
                }
            }
        }
        Ok(Row { tenant, values, dangling })
    }
}

impl Dataset {
    /// Rows generated for `rel`.
    pub fn rows(&self, rel: RelId) -> &[Row] {
        self.tables.iter().find(|(r, _)| *r == rel).map(|(_, rows)| rows.as_slice()).unwrap_or(&[])
    }

    /// One INSERT per non-empty table, parents first.
    pub fn insert_statements(&self, catalog: &Catalog) -> Vec<(RelId, String)> {
        self.tables
            .iter()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(rel, rows)| (*rel, insert_sql(catalog.relation(*rel), rows)))
            .collect()
    }

    /// Total number of generated rows.
    pub fn row_count(&self) -> usize {
        self.tables.iter().map(|(_, r)| r.len()).sum()
    }
}

/// `INSERT INTO rel (cols) [OVERRIDING SYSTEM VALUE] VALUES (...), (...)`.
/// Rows may set different columns (defaults omitted), so missing ones are `DEFAULT`.
pub fn insert_sql(rel: &Relation, rows: &[Row]) -> String {
    let mut cols: Vec<&str> = Vec::new();
    for row in rows {
        for (c, _) in &row.values {
            if !cols.contains(&c.as_str()) {
                cols.push(c);
            }
        }
    }
    let overriding = cols.iter().any(|c| rel.column(c).is_some_and(|col| col.identity == "a"));
    let tuples: Vec<String> = rows
        .iter()
        .map(|row| {
            let vals: Vec<&str> = cols.iter().map(|c| row.get(c).unwrap_or("DEFAULT")).collect();
            format!("({})", vals.join(", "))
        })
        .collect();
    if cols.is_empty() {
        return format!("INSERT INTO {} DEFAULT VALUES", rel.qualified);
    }
    format!(
        "INSERT INTO {} ({}){} VALUES {}",
        rel.qualified,
        cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "),
        if overriding { " OVERRIDING SYSTEM VALUE" } else { "" },
        tuples.join(", ")
    )
}
