//! Ownership: which tenant each row of each relation belongs to.
//!
//! - the **root** table's rows are the tenants themselves (their key column
//!   holds the tenant key);
//! - a **direct** table carries the tenant column;
//! - a **child** table reaches a tenant-owned table through a foreign key whose
//!   columns are all NOT NULL (`order_lines.order_id -> orders`);
//! - everything else is **global** (shared reference data, or unrelated).
//!
//! The result is also a SQL expression per relation that computes a row's
//! owner; run as superuser it is the ground truth the probes are judged against.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, ForeignKey, RelId, Relation};
use crate::db::ident;
use crate::suite::TenantSpec;

/// How a relation's rows are attributed to tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The tenant table; `key` is its tenant key column.
    Root {
        /// Column holding the tenant key.
        key: String,
    },
    /// The relation has the tenant column.
    Direct {
        /// The tenant column.
        column: String,
    },
    /// Owned through a NOT NULL foreign key to a tenant-owned relation.
    Child {
        /// Index of the foreign key in `Relation::foreign_keys`.
        fk: usize,
        /// The referenced relation.
        parent: RelId,
    },
    /// Not tenant-owned. `shared` when the suite declares it global by design.
    Global {
        /// Declared in `tenant.shared`.
        shared: bool,
    },
}

impl Owner {
    /// Whether rows belong to tenants.
    pub fn is_tenant_owned(&self) -> bool {
        !matches!(self, Owner::Global { .. })
    }
}

/// Ownership of every relation, plus the tenant key's type.
#[derive(Debug, Clone)]
pub struct Ownership {
    owners: BTreeMap<RelId, Owner>,
    /// SQL type of the tenant key (`uuid`, `text`, `bigint` ...).
    pub key_type: String,
    /// Base type name of the key (`uuid`, `text`, `int8` ...), to choose keys.
    pub key_base_type: String,
    /// The root table, if there is one.
    pub root: Option<RelId>,
    /// The tenant column's name.
    pub column: String,
    /// The membership table, with `[membership]`.
    pub membership: Option<Membership>,
}

/// The table saying which users belong to which tenants (`[membership]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The membership table (tenant-owned).
    pub rel: RelId,
    /// Its user column.
    pub user_column: String,
    /// The table and column the user column references, if it has a foreign key.
    pub users: Option<(RelId, String)>,
}

/// Why ownership could not be established.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// No relation has the tenant column.
    #[error(
        "no table has the tenant column `{0}`: check `tenant.column` in the suite (names are matched exactly, case included)"
    )]
    NoTenantColumn(String),
    /// `tenant.root` names nothing.
    #[error("`tenant.root` = \"{0}\" names no table in the schema")]
    UnknownRoot(String),
    /// The root has no single-column key.
    #[error("the tenant root table {0} has no single-column primary key to hold the tenant key")]
    RootWithoutKey(String),
    /// `tenant.shared` names nothing.
    #[error("`tenant.shared` lists \"{0}\", which names no table in the schema")]
    UnknownShared(String),
    /// `tenant.shared` names a tenant-owned table.
    #[error(
        "`tenant.shared` lists \"{0}\", but {1}: its rows belong to tenants, so it cannot be shared by all; \
         remove it from `tenant.shared` (rows shared by every tenant have a NULL tenant, see `shared_rows`)"
    )]
    TenantOwnedShared(String, String),
    /// `[membership]` names nothing, or a column it lacks.
    #[error("`membership.table` = \"{0}\" {1}")]
    BadMembership(String, String),
}

impl Ownership {
    /// Classifies every relation of `catalog`.
    pub fn analyse(catalog: &Catalog, tenant: &TenantSpec) -> Result<Ownership, OwnershipError> {
        let with_column: Vec<&Relation> =
            catalog.relations.iter().filter(|r| r.kind.is_table() && r.column(&tenant.column).is_some()).collect();
        if with_column.is_empty() {
            return Err(OwnershipError::NoTenantColumn(tenant.column.clone()));
        }

        let root = match &tenant.root {
            Some(name) => {
                let rel = catalog.find(name).ok_or_else(|| OwnershipError::UnknownRoot(name.clone()))?;
                if rel.primary_key.len() != 1 {
                    return Err(OwnershipError::RootWithoutKey(rel.qualified.clone()));
                }
                Some((rel.oid, rel.primary_key[0].clone()))
            }
            None => infer_root(catalog, &tenant.column),
        };
        // The key's type: the root's key column when there is a root, else the
        // type most tenant columns have (one odd text audit column must not decide).
        let key_col = match &root {
            Some((oid, key)) => catalog.relation(*oid).column(key).expect("root key column exists"),
            None => {
                let mut counts: BTreeMap<&str, (usize, &crate::catalog::Column)> = BTreeMap::new();
                for r in &with_column {
                    let c = r.column(&tenant.column).expect("filtered");
                    counts.entry(c.sql_type.as_str()).or_insert((0, c)).0 += 1;
                }
                counts.into_values().max_by_key(|(n, _)| *n).expect("non-empty").1
            }
        };
        let (key_type, key_base_type) = (key_col.sql_type.clone(), key_col.base_type.clone());
        let mut shared = Vec::new();
        for name in &tenant.shared {
            shared.push(catalog.find(name).ok_or_else(|| OwnershipError::UnknownShared(name.clone()))?.oid);
        }

        let mut owners = BTreeMap::new();
        for rel in &catalog.relations {
            if !rel.kind.is_table() {
                continue;
            }
            let owner = if root.as_ref().is_some_and(|(oid, _)| *oid == rel.oid) {
                Owner::Root { key: root.as_ref().expect("checked").1.clone() }
            } else if rel.column(&tenant.column).is_some() {
                Owner::Direct { column: tenant.column.clone() }
            } else {
                Owner::Global { shared: shared.contains(&rel.oid) }
            };
            owners.insert(rel.oid, owner);
        }
        // Children: iterate to a fixed point, so chains of any depth resolve.
        loop {
            let mut changed = false;
            for rel in &catalog.relations {
                if owners.get(&rel.oid) != Some(&Owner::Global { shared: false }) {
                    continue;
                }
                let found = rel.foreign_keys.iter().enumerate().find(|(_, fk)| {
                    fk.target != rel.oid
                        && all_not_null(rel, fk)
                        && owners.get(&fk.target).is_some_and(Owner::is_tenant_owned)
                });
                if let Some((i, fk)) = found {
                    owners.insert(rel.oid, Owner::Child { fk: i, parent: fk.target });
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // A table whose rows belong to tenants cannot also be shared by all.
        for (name, oid) in tenant.shared.iter().zip(&shared) {
            if let Some(owner) = owners.get(oid).filter(|o| o.is_tenant_owned()) {
                let why = match owner {
                    Owner::Root { .. } => "it is the tenant root".to_string(),
                    Owner::Direct { column } => format!("it has the tenant column {column}"),
                    _ => "it hangs under a tenant-owned table through a NOT NULL foreign key".to_string(),
                };
                return Err(OwnershipError::TenantOwnedShared(name.clone(), why));
            }
        }
        let membership = tenant.membership.as_ref().map(|m| membership(catalog, &owners, m)).transpose()?;
        Ok(Ownership {
            owners,
            key_type,
            key_base_type,
            root: root.map(|(oid, _)| oid),
            column: tenant.column.clone(),
            membership,
        })
    }

    /// The owner of a table (views and others are not classified here).
    pub fn owner(&self, rel: RelId) -> Option<&Owner> {
        self.owners.get(&rel)
    }

    /// The column of `rel` that holds the tenant key: the tenant column, or
    /// the root's key column; `None` for children and global tables.
    pub fn key_column(&self, rel: RelId) -> Option<&str> {
        match self.owners.get(&rel) {
            Some(Owner::Direct { column }) => Some(column.as_str()),
            Some(Owner::Root { key }) => Some(key.as_str()),
            _ => None,
        }
    }

    /// A SQL expression over alias `alias` of `rel` that yields the row's
    /// tenant key as text (NULL for global rows). Children resolve through
    /// nested subqueries, so it is only meaningful when run as superuser.
    pub fn owner_expr(&self, catalog: &Catalog, rel: RelId, alias: &str) -> String {
        self.owner_expr_depth(catalog, rel, alias, 0)
    }

    fn owner_expr_depth(&self, catalog: &Catalog, rel: RelId, alias: &str, depth: usize) -> String {
        match self.owners.get(&rel) {
            Some(Owner::Root { key }) => format!("{alias}.{}::text", ident(key)),
            Some(Owner::Direct { column }) => format!("{alias}.{}::text", ident(column)),
            Some(Owner::Child { fk, parent }) if depth < 16 => {
                let fk = &catalog.relation(rel).foreign_keys[*fk];
                let p = format!("o{}", depth + 1);
                let cond: Vec<String> = fk
                    .columns
                    .iter()
                    .zip(&fk.target_columns)
                    .map(|(c, t)| format!("{p}.{} = {alias}.{}", ident(t), ident(c)))
                    .collect();
                format!(
                    "(SELECT {} FROM {} {p} WHERE {})",
                    self.owner_expr_depth(catalog, *parent, &p, depth + 1),
                    catalog.relation(*parent).qualified,
                    cond.join(" AND ")
                )
            }
            _ => "NULL::text".into(),
        }
    }

    /// The predicate a policy on `rel` should use to pin rows to the tenant in
    /// `setting` (for child tables: existence of the RLS-protected parent row).
    pub fn tenant_predicate(&self, catalog: &Catalog, rel: RelId, setting: &str) -> String {
        let current = format!("current_setting({})::{}", crate::db::literal(setting), self.key_type);
        match self.owners.get(&rel) {
            Some(Owner::Root { key }) => format!("{} = {current}", ident(key)),
            Some(Owner::Direct { column }) => format!("{} = {current}", ident(column)),
            Some(Owner::Child { fk, parent }) => {
                let r = catalog.relation(rel);
                let fk = &r.foreign_keys[*fk];
                let cond: Vec<String> = fk
                    .columns
                    .iter()
                    .zip(&fk.target_columns)
                    .map(|(c, t)| format!("p.{} = {}.{}", ident(t), r.qualified, ident(c)))
                    .collect();
                format!("EXISTS (SELECT 1 FROM {} p WHERE {})", catalog.relation(*parent).qualified, cond.join(" AND "))
            }
            _ => "false".into(),
        }
    }

    /// Relations in an order where referenced tables come before referencing ones.
    pub fn load_order(&self, catalog: &Catalog) -> Vec<RelId> {
        let mut order = Vec::new();
        let mut state: BTreeMap<RelId, u8> = BTreeMap::new();
        fn visit(catalog: &Catalog, oid: RelId, state: &mut BTreeMap<RelId, u8>, order: &mut Vec<RelId>) {
            if state.get(&oid).is_some() {
                return; // done, or a cycle: the cycle's FKs must be nullable
            }
            state.insert(oid, 1);
            let rel = catalog.relation(oid);
            // Required references first. A nullable one is followed only when
            // its target does not need this table: in a cycle
            // (teams.lead_id -> members -> teams) the nullable side loads last.
            let (required, optional): (Vec<&ForeignKey>, Vec<&ForeignKey>) =
                rel.foreign_keys.iter().filter(|fk| fk.target != oid).partition(|fk| all_not_null(rel, fk));
            for fk in required {
                if catalog.relations.iter().any(|r| r.oid == fk.target) {
                    visit(catalog, fk.target, state, order);
                }
            }
            for fk in optional {
                if catalog.relations.iter().any(|r| r.oid == fk.target) && !requires(catalog, fk.target, oid) {
                    visit(catalog, fk.target, state, order);
                }
            }
            state.insert(oid, 2);
            order.push(oid);
        }
        for oid in self.owners.keys() {
            visit(catalog, *oid, &mut state, &mut order);
        }
        order.retain(|oid| self.owners.contains_key(oid));
        order
    }

    /// A short label for reports: `root`, `direct`, `child of public.orders`, `global`, `shared`.
    pub fn describe(&self, catalog: &Catalog, rel: RelId) -> String {
        match self.owners.get(&rel) {
            Some(Owner::Root { .. }) => "tenant root".into(),
            Some(Owner::Direct { column }) => format!("tenant column {column}"),
            Some(Owner::Child { parent, .. }) => {
                format!("child of {}", catalog.relation(*parent).qualified)
            }
            Some(Owner::Global { shared: true }) => "shared".into(),
            _ => "global".into(),
        }
    }
}

/// Whether `from` reaches `to` through references whose columns are all NOT NULL.
fn requires(catalog: &Catalog, from: RelId, to: RelId) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![from];
    while let Some(oid) = stack.pop() {
        if oid == to {
            return true;
        }
        if !seen.insert(oid) || !catalog.relations.iter().any(|r| r.oid == oid) {
            continue;
        }
        let rel = catalog.relation(oid);
        stack.extend(rel.foreign_keys.iter().filter(|fk| all_not_null(rel, fk)).map(|fk| fk.target));
    }
    false
}

fn all_not_null(rel: &Relation, fk: &ForeignKey) -> bool {
    fk.columns.iter().all(|c| rel.column(c).is_some_and(|col| col.not_null))
}

/// The table most foreign keys on the tenant column point at.
fn infer_root(catalog: &Catalog, column: &str) -> Option<(RelId, String)> {
    let mut votes: BTreeMap<(RelId, String), usize> = BTreeMap::new();
    for rel in &catalog.relations {
        for fk in &rel.foreign_keys {
            if fk.columns.len() == 1 && fk.columns[0] == column && fk.target != rel.oid {
                *votes.entry((fk.target, fk.target_columns[0].clone())).or_default() += 1;
            }
        }
    }
    votes.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k)
}

impl Membership {
    /// Sets the user column of a generated row of the membership table to `user`.
    pub fn set_user(&self, catalog: &Catalog, row: &mut crate::generate::Row, user: &str) {
        let ty = catalog.relation(self.rel).column(&self.user_column).map_or("text", |c| c.sql_type.as_str());
        row.set(&self.user_column, format!("{}::{ty}", crate::db::literal(user)));
    }
}

/// Resolves `[membership]`: a tenant-owned table with the user column, and
/// the users table that column references.
fn membership(
    catalog: &Catalog,
    owners: &BTreeMap<RelId, Owner>,
    spec: &crate::suite::MembershipSpec,
) -> Result<Membership, OwnershipError> {
    let bad = |why: String| OwnershipError::BadMembership(spec.table.clone(), why);
    let rel = catalog.find(&spec.table).ok_or_else(|| bad("names no table in the schema".into()))?;
    if !owners.get(&rel.oid).is_some_and(Owner::is_tenant_owned) {
        return Err(bad(format!(
            "names {}, whose rows belong to no tenant: the membership table needs the tenant column",
            rel.qualified
        )));
    }
    let column = rel
        .column(&spec.user_column)
        .ok_or_else(|| bad(format!("has no column `{}` (`membership.user_column`)", spec.user_column)))?;
    if !matches!(column.base_type.as_str(), "uuid" | "text" | "varchar" | "bpchar") {
        return Err(bad(format!(
            "has user column `{}` of type {}: rowfence's users are uuids, so the column must be uuid or text",
            column.name, column.sql_type
        )));
    }
    let users = rel
        .foreign_keys
        .iter()
        .find(|fk| fk.columns == [spec.user_column.clone()])
        .map(|fk| (fk.target, fk.target_columns[0].clone()));
    Ok(Membership { rel: rel.oid, user_column: spec.user_column.clone(), users })
}
