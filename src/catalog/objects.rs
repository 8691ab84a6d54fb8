//! The catalog beyond tables: functions, view and policy dependencies,
//! triggers, sequences, and the app role's memberships.

use super::{Catalog, Function, Membership, RELS, RelId, Sequence, Trigger};
use crate::db::Db;

pub(super) async fn read(db: &Db, app: &str, catalog: &mut Catalog) -> Result<(), tokio_postgres::Error> {
    let c = db;
    // GRANT ... WITH SET exists from PostgreSQL 16; before, every member may SET ROLE.
    let can_set =
        if catalog.server_version_num >= 160000 { "pg_has_role($1::text::name, b.oid, 'SET')" } else { "true" };
    let rows = c
        .query(
            &format!(
                "SELECT b.rolname::text, b.rolsuper, b.rolbypassrls, pg_has_role($1::text::name, b.oid, 'USAGE'), {can_set}
                 FROM pg_roles b WHERE b.rolname <> $1 AND pg_has_role($1::text::name, b.oid, 'MEMBER') ORDER BY 1"
            ),
            &[&app],
        )
        .await?;
    catalog.app.memberships = rows
        .iter()
        .map(|r| Membership {
            role: r.get(0),
            superuser: r.get(1),
            bypassrls: r.get(2),
            inherits: r.get(3),
            can_set: r.get(4),
        })
        .collect();

    catalog.bypass_roles = c
        .query("SELECT rolname::text FROM pg_roles WHERE rolsuper OR rolbypassrls ORDER BY 1", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();

    let rows = c
        .query(
            "SELECT p.oid::int8, p.oid::regprocedure::text, p.proname::text, o.rolname::text, o.rolsuper OR o.rolbypassrls,
               p.prosecdef, p.provolatile::text, p.proleakproof, coalesce(p.proconfig, '{}'), coalesce(p.prosrc, ''),
               has_function_privilege($1::text::name, p.oid, 'EXECUTE'),
               quote_ident(n.nspname) || '.' || quote_ident(p.proname), p.prokind = 'f', p.proretset,
               p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype),
               (SELECT t.typrelid::int8 FROM pg_type t WHERE t.oid = p.prorettype AND t.typrelid <> 0),
               ARRAY(SELECT a.n FROM unnest(coalesce(p.proargnames, '{}'), coalesce(p.proargmodes, '{}')) a(n, m)
                     WHERE a.m IN ('o', 't', 'b')),
               ARRAY(SELECT format_type(x, NULL) FROM unnest(p.proargtypes::oid[]) x)
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles o ON o.oid = p.proowner
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
             ORDER BY 2",
            &[&app],
        )
        .await?;
    catalog.functions = rows
        .iter()
        .map(|r| Function {
            oid: r.get::<_, i64>(0) as u32,
            signature: r.get(1),
            name: r.get(2),
            owner: r.get(3),
            owner_bypasses_rls: r.get(4),
            security_definer: r.get(5),
            volatility: r.get(6),
            leakproof: r.get(7),
            config: r.get(8),
            source: r.get(9),
            app_can_execute: r.get(10),
            qualified: r.get(11),
            plain: r.get(12),
            returns_set: r.get(13),
            is_trigger: r.get(14),
            return_rel: r.get::<_, Option<i64>>(15).map(|o| o as RelId),
            result_columns: r.get(16),
            arg_types: r.get(17),
        })
        .collect();

    // What policies read: functions and other relations.
    let rows = c
        .query(
            "SELECT p.polrelid::int8, p.oid::int8, d.refclassid = 'pg_proc'::regclass, d.refobjid::int8
             FROM pg_policy p JOIN pg_depend d ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
             WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_class'::regclass) AND d.refobjid <> p.polrelid",
            &[],
        )
        .await?;
    for r in rows {
        let (rel, pol, is_fn, target) =
            (r.get::<_, i64>(0) as RelId, r.get::<_, i64>(1) as u32, r.get::<_, bool>(2), r.get::<_, i64>(3) as u32);
        let Some(&i) = catalog.index.get(&rel) else {
            continue;
        };
        if let Some(p) = catalog.relations[i].policies.iter_mut().find(|p| p.oid == pol) {
            if is_fn {
                p.functions.push(target);
            } else {
                p.relations.push(target);
            }
        }
    }

    // What views and materialized views read.
    let rows = c
        .query(
            &format!(
                "{RELS}
                 SELECT DISTINCT r.ev_class::int8, d.refobjid::int8 FROM pg_rewrite r
                 JOIN rels c ON c.oid = r.ev_class
                 JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
                 WHERE d.refobjid <> r.ev_class"
            ),
            &[],
        )
        .await?;
    for r in rows {
        let (view, base) = (r.get::<_, i64>(0) as RelId, r.get::<_, i64>(1) as RelId);
        if let Some(&i) = catalog.index.get(&view)
            && catalog.index.contains_key(&base)
        {
            catalog.relations[i].depends_on.push(base);
        }
    }

    // Views over views: follow the chain down to the tables.
    loop {
        let mut changed = false;
        for i in 0..catalog.relations.len() {
            let deps = catalog.relations[i].depends_on.clone();
            for d in deps {
                let below = catalog.index.get(&d).map(|&j| catalog.relations[j].depends_on.clone()).unwrap_or_default();
                for b in below {
                    if b != catalog.relations[i].oid && !catalog.relations[i].depends_on.contains(&b) {
                        catalog.relations[i].depends_on.push(b);
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }

    let rows = c
        .query(
            &format!(
                "{RELS}
                 SELECT t.tgrelid::int8, t.tgname::text, t.tgfoid::int8 FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid
                 WHERE NOT t.tgisinternal ORDER BY 1, 2"
            ),
            &[],
        )
        .await?;
    for r in rows {
        if let Some(&i) = catalog.index.get(&(r.get::<_, i64>(0) as RelId)) {
            catalog.relations[i].triggers.push(Trigger { name: r.get(1), function: r.get::<_, i64>(2) as u32 });
        }
    }

    let rows = c
        .query(
            "SELECT DISTINCT d.refobjid::int8, quote_ident(n.nspname) || '.' || quote_ident(s.relname),
               has_sequence_privilege($1::text::name, s.oid, 'USAGE') OR has_sequence_privilege($1::text::name, s.oid, 'SELECT')
                 OR has_sequence_privilege($1::text::name, s.oid, 'UPDATE')
             FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
             JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass
             WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i')",
            &[&app],
        )
        .await?;
    for r in rows {
        if let Some(&i) = catalog.index.get(&(r.get::<_, i64>(0) as RelId)) {
            catalog.relations[i].sequences.push(Sequence { qualified: r.get(1), app_can_use: r.get(2) });
        }
    }
    Ok(())
}
