//! What the anonymous role reaches (`[app] anon_role`): PostgREST and Supabase
//! serve unauthenticated requests as it, so whatever it may read, write or
//! call is open to anyone who knows the API's address.

use std::collections::{BTreeMap, BTreeSet};

use super::{Catalog, Privileges, RELS, RelId};
use crate::db::Db;

/// The anonymous role's reach.
#[derive(Debug, Clone, Default)]
pub struct AnonReach {
    /// The role.
    pub role: String,
    /// Its privileges per relation, where it holds any, in schemas it may use.
    pub privileges: BTreeMap<RelId, Privileges>,
    /// Policies that apply to it (`TO PUBLIC` or a role it belongs to), by oid.
    pub policies: BTreeSet<u32>,
    /// Functions it may execute, in schemas it may use, by oid.
    pub functions: BTreeSet<u32>,
}

impl AnonReach {
    /// Its privileges on `rel` (none where it has none).
    pub fn on(&self, rel: RelId) -> Privileges {
        self.privileges.get(&rel).copied().unwrap_or_default()
    }
}

impl Catalog {
    /// Reads what `role` reaches, for `[app] anon_role`.
    pub async fn read_anon(&mut self, db: &Db, role: &str) -> Result<(), tokio_postgres::Error> {
        let rels = db
            .query(
                &format!(
                    "{RELS}
                     SELECT c.oid::int8,
                       has_any_column_privilege($1::text::name, c.oid, 'SELECT'),
                       has_any_column_privilege($1::text::name, c.oid, 'INSERT'),
                       has_any_column_privilege($1::text::name, c.oid, 'UPDATE'),
                       has_table_privilege($1::text::name, c.oid, 'DELETE'),
                       has_table_privilege($1::text::name, c.oid, 'TRUNCATE')
                     FROM rels c
                     WHERE has_schema_privilege($1::text::name, c.relnamespace, 'USAGE')"
                ),
                &[&role],
            )
            .await?;
        let mut privileges = BTreeMap::new();
        for r in rels {
            let p = Privileges {
                select: r.get(1),
                insert: r.get(2),
                update: r.get(3),
                delete: r.get(4),
                truncate: r.get(5),
                ..Privileges::default()
            };
            if p.any() {
                privileges.insert(r.get::<_, i64>(0) as RelId, p);
            }
        }
        let policies = db
            .query(
                "SELECT p.oid::int8 FROM pg_policy p
                 WHERE p.polroles = '{0}' OR EXISTS (SELECT 1 FROM unnest(p.polroles) pr WHERE pg_has_role($1::text::name, pr, 'MEMBER'))",
                &[&role],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u32)
            .collect();
        let functions = db
            .query(
                "SELECT p.oid::int8 FROM pg_proc p
                 WHERE has_function_privilege($1::text::name, p.oid, 'EXECUTE')
                   AND has_schema_privilege($1::text::name, p.pronamespace, 'USAGE')
                   AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
                &[&role],
            )
            .await?
            .iter()
            .map(|r| r.get::<_, i64>(0) as u32)
            .collect();
        self.anon = Some(AnonReach { role: role.to_string(), privileges, policies, functions });
        Ok(())
    }
}
