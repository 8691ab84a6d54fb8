//! Ground truth: who owns each row, read as superuser (which bypasses RLS).

use std::collections::BTreeMap;

use futures::future::join_all;

use crate::catalog::{Catalog, RelId, Relation};
use crate::db::{Db, ident, literal};
use crate::generate::TenantKey;
use crate::ownership::Ownership;

/// One row as the superuser sees it.
#[derive(Debug, Clone)]
pub struct TruthRow {
    /// `tableoid:ctid`, what the SELECT probe returns.
    pub id: String,
    /// Owning tenant key as text (`None`: global row).
    pub owner: Option<String>,
    /// A WHERE clause selecting exactly this row (by primary key when there is one).
    pub predicate: String,
    /// The row named by its key, for messages (`(id)=(42)`).
    pub describe: String,
    /// A single-column primary key's value as text (views and functions return it).
    pub key: Option<String>,
}

impl TruthRow {
    /// Owner and description, for keyed probes.
    pub fn target(&self) -> (TenantKey, String) {
        (TenantKey(self.owner.clone().unwrap_or_default()), self.describe.clone())
    }
}

/// Rows of every probed relation in one case.
#[derive(Debug, Default)]
pub struct GroundTruth {
    rows: BTreeMap<RelId, Vec<TruthRow>>,
    by_id: BTreeMap<(RelId, String), usize>,
    by_key: BTreeMap<(RelId, String), usize>,
}

impl GroundTruth {
    /// Reads ownership of every row of `rels`, one pipelined query each.
    pub async fn read(
        admin: &Db,
        catalog: &Catalog,
        ownership: &Ownership,
        rels: &[RelId],
    ) -> Result<GroundTruth, tokio_postgres::Error> {
        let queries: Vec<String> = rels.iter().map(|&oid| query(catalog, ownership, catalog.relation(oid))).collect();
        let results = join_all(queries.iter().map(|q| admin.simple(q))).await;
        let mut truth = GroundTruth::default();
        for (&oid, result) in rels.iter().zip(results) {
            let rel = catalog.relation(oid);
            let mut rows = Vec::new();
            for r in result?.rows {
                let id = r[0].clone().unwrap_or_default();
                let (predicate, describe) = if rel.primary_key.is_empty() {
                    let (table, ctid) = id.split_once(':').unwrap_or(("0", "(0,0)"));
                    (format!("tableoid = {table} AND ctid = {}", literal(ctid)), format!("row {ctid}"))
                } else {
                    let vals: Vec<Option<String>> = r[2..].to_vec();
                    let pred: Vec<String> = rel
                        .primary_key
                        .iter()
                        .zip(&vals)
                        .map(|(c, v)| {
                            let ty = rel.column(c).map_or("text", |col| col.sql_type.as_str());
                            format!("{} = {}::{ty}", ident(c), literal(v.as_deref().unwrap_or("")))
                        })
                        .collect();
                    let desc = format!(
                        "({})=({})",
                        rel.primary_key.join(", "),
                        vals.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect::<Vec<_>>().join(", ")
                    );
                    (pred.join(" AND "), desc)
                };
                let key = if rel.primary_key.len() == 1 { r[2].clone() } else { None };
                rows.push(TruthRow { id, owner: r[1].clone(), predicate, describe, key });
            }
            // By key, not in the heap's order: that order follows earlier cases'
            // rolled-back writes and vacuum's timing, and keyed probes take the
            // first row of a tenant, so runs would differ.
            rows.sort_by(|a, b| a.predicate.cmp(&b.predicate));
            for (i, row) in rows.iter().enumerate() {
                truth.by_id.insert((oid, row.id.clone()), i);
                if let Some(k) = &row.key {
                    truth.by_key.insert((oid, k.clone()), i);
                }
            }
            truth.rows.insert(oid, rows);
        }
        Ok(truth)
    }

    /// Rows of `rel`.
    pub fn rows(&self, rel: RelId) -> &[TruthRow] {
        self.rows.get(&rel).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The row of `rel` whose single-column primary key is `key`.
    pub fn by_key(&self, rel: RelId, key: &str) -> Option<&TruthRow> {
        self.by_key.get(&(rel, key.to_string())).map(|&i| &self.rows[&rel][i])
    }

    /// The row a SELECT probe returned by id.
    pub fn by_id(&self, rel: RelId, id: &str) -> Option<&TruthRow> {
        self.by_id.get(&(rel, id.to_string())).map(|&i| &self.rows[&rel][i])
    }
}

fn query(catalog: &Catalog, ownership: &Ownership, rel: &Relation) -> String {
    let pk: String = rel.primary_key.iter().map(|c| format!(", t.{}::text", ident(c))).collect();
    format!(
        "SELECT t.tableoid::oid::text || ':' || t.ctid::text, {}{pk} FROM {} t",
        ownership.owner_expr(catalog, rel.oid, "t"),
        rel.qualified
    )
}
