//! The catalog queries themselves.

use std::collections::BTreeMap;

use super::{
    Catalog, CatalogError, Check, Column, ForeignKey, Policy, PolicyCommand, Privileges, RELS, RelId, RelKind,
    Relation, RoleInfo, UniqueIndex, UniqueKey,
};
use crate::db::Db;
use crate::policy::{self, FunctionName, Names};

pub(super) fn q(e: tokio_postgres::Error) -> CatalogError {
    CatalogError::Query(crate::db::describe(&e))
}

pub(super) async fn read(db: &Db, app: &str) -> Result<Catalog, CatalogError> {
    let c = db;
    let role = c
        .query_opt(
            "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls, r.rolcanlogin,
               ARRAY(SELECT b.rolname::text FROM pg_roles b
                     WHERE b.oid <> r.oid AND pg_has_role(r.oid, b.oid, 'MEMBER') ORDER BY 1),
               ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s
                     WHERE s.setrole = r.oid AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))),
               ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s
                     WHERE s.setrole = r.oid AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))
             FROM pg_roles r WHERE r.rolname = $1",
            &[&app],
        )
        .await
        .map_err(q)?
        .ok_or_else(|| CatalogError::MissingAppRole(app.to_string()))?;
    let app_info = RoleInfo {
        name: role.get(0),
        superuser: role.get(1),
        bypassrls: role.get(2),
        login: role.get(3),
        member_of: role.get(4),
        settings: role.get(5),
        settings_in_database: role.get(6),
        memberships: Vec::new(),
    };

    let version = c
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int4, current_user::text",
            &[],
        )
        .await
        .map_err(q)?;
    let database_settings: Vec<String> = c
        .query_one(
            "SELECT ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s
               WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            &[],
        )
        .await
        .map_err(q)?
        .get(0);

    let rows = c
        .query(
            &format!(
                "{RELS}
                 SELECT c.oid::int8, n.nspname::text, c.relname::text,
                   quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text,
                   pg_get_userbyid(c.relowner)::text, c.relrowsecurity, c.relforcerowsecurity, c.relispartition,
                   (SELECT i.inhparent::int8 FROM pg_inherits i WHERE i.inhrelid = c.oid ORDER BY i.inhseqno LIMIT 1),
                   pg_has_role($1::text::name, c.relowner, 'USAGE'),
                   has_any_column_privilege($1::text::name, c.oid, 'SELECT'),
                   has_any_column_privilege($1::text::name, c.oid, 'INSERT'),
                   has_any_column_privilege($1::text::name, c.oid, 'UPDATE'),
                   has_table_privilege($1::text::name, c.oid, 'DELETE'),
                   has_table_privilege($1::text::name, c.oid, 'TRUNCATE'),
                   has_table_privilege($1::text::name, c.oid, 'REFERENCES'),
                   has_table_privilege($1::text::name, c.oid, 'TRIGGER'),
                   pg_get_expr(c.relpartbound, c.oid),
                   ARRAY(SELECT a.attname::text FROM pg_partitioned_table pt
                         CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.n
                         WHERE pt.partrelid = c.oid ORDER BY k.i),
                   coalesce(c.reloptions && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'], false),
                   CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END
                 FROM rels c JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 4"
            ),
            &[&app],
        )
        .await
        .map_err(q)?;
    let mut relations = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(kind) = RelKind::from_code(r.get::<_, String>(4).as_str()) else {
            continue;
        };
        relations.push(Relation {
            oid: r.get::<_, i64>(0) as RelId,
            schema: r.get(1),
            name: r.get(2),
            qualified: r.get(3),
            kind,
            owner: r.get(5),
            rls_enabled: r.get(6),
            rls_forced: r.get(7),
            is_partition: r.get(8),
            parent: r.get::<_, Option<i64>>(9).map(|p| p as RelId),
            app_owns: r.get(10),
            privileges: Privileges {
                select: r.get(11),
                insert: r.get(12),
                update: r.get(13),
                delete: r.get(14),
                truncate: r.get(15),
                references: r.get(16),
                trigger: r.get(17),
            },
            columns: Vec::new(),
            primary_key: Vec::new(),
            uniques: Vec::new(),
            unique_keys: Vec::new(),
            unique_indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            policies: Vec::new(),
            partition_bound: r.get(18),
            partition_key: r.get(19),
            security_invoker: r.get(20),
            definition: r.get(21),
            depends_on: Vec::new(),
            sequences: Vec::new(),
            triggers: Vec::new(),
        });
    }
    let index: BTreeMap<RelId, usize> = relations.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();

    let cols = c
        .query(
            &format!(
                "{RELS}
                 SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod),
                   coalesce(bt.typname, t.typname)::text, coalesce(bt.typcategory, t.typcategory)::text,
                   ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid) ORDER BY e.enumsortorder),
                   a.attnotnull, a.atthasdef, a.attidentity::text, a.attgenerated::text, a.attnum
                 FROM pg_attribute a JOIN rels c ON c.oid = a.attrelid
                 JOIN pg_type t ON t.oid = a.atttypid
                 -- the innermost base type of a domain (domains over domains too)
                 LEFT JOIN LATERAL (
                   WITH RECURSIVE d(oid, typtype, typbasetype) AS (
                     SELECT t.oid, t.typtype, t.typbasetype
                     UNION ALL
                     SELECT b.oid, b.typtype, b.typbasetype FROM d JOIN pg_type b ON b.oid = d.typbasetype
                     WHERE d.typtype = 'd')
                   SELECT p.oid, p.typname, p.typcategory FROM d JOIN pg_type p ON p.oid = d.oid
                   WHERE d.typtype <> 'd' LIMIT 1
                 ) bt ON t.typtype = 'd'
                 WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"
            ),
            &[],
        )
        .await
        .map_err(q)?;
    for r in cols {
        let Some(&i) = index.get(&(r.get::<_, i64>(0) as RelId)) else {
            continue;
        };
        relations[i].columns.push(Column {
            name: r.get(1),
            sql_type: r.get(2),
            base_type: r.get(3),
            category: r.get(4),
            enum_labels: r.get(5),
            not_null: r.get(6),
            has_default: r.get(7),
            identity: r.get(8),
            generated: r.get(9),
            attnum: r.get(10),
        });
    }

    let cons = c
        .query(
            &format!(
                "{RELS}
                 SELECT con.conrelid::int8, con.conname::text, con.contype::text,
                   ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
                   con.confrelid::int8,
                   ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                         JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
                   con.confdeltype::text, pg_get_constraintdef(con.oid)
                 FROM pg_constraint con JOIN rels c ON c.oid = con.conrelid
                 WHERE con.contype IN ('p', 'u', 'f', 'c') ORDER BY con.conrelid, con.conname"
            ),
            &[],
        )
        .await
        .map_err(q)?;
    for r in cons {
        let Some(&i) = index.get(&(r.get::<_, i64>(0) as RelId)) else {
            continue;
        };
        let rel = &mut relations[i];
        let columns: Vec<String> = r.get(3);
        match r.get::<_, String>(2).as_str() {
            "p" => rel.primary_key = columns,
            "u" => {
                rel.unique_keys.push(UniqueKey { name: r.get(1), columns: columns.clone(), constraint: true });
                rel.uniques.push(columns);
            }
            "f" => rel.foreign_keys.push(ForeignKey {
                name: r.get(1),
                columns,
                target: r.get::<_, i64>(4) as RelId,
                target_columns: r.get(5),
                on_delete: r.get(6),
            }),
            _ => rel.checks.push(Check { name: r.get(1), columns, definition: r.get(7) }),
        }
    }

    // Unique indexes that back no constraint: Prisma, Rails and most ORMs
    // emit these. Plain ones act like UNIQUE constraints; partial and
    // expression ones are kept with their definition.
    let idx = c
        .query(
            &format!(
                "{RELS}
                 SELECT i.indrelid::int8, ic.relname::text,
                   ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
                   i.indexprs IS NOT NULL OR i.indpred IS NOT NULL, pg_get_indexdef(i.indexrelid)
                 FROM pg_index i JOIN rels c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indisunique
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
                 ORDER BY i.indrelid, ic.relname"
            ),
            &[],
        )
        .await
        .map_err(q)?;
    for r in idx {
        let Some(&i) = index.get(&(r.get::<_, i64>(0) as RelId)) else {
            continue;
        };
        let columns: Vec<String> = r.get(2);
        match r.get::<_, bool>(3) {
            false => {
                relations[i].unique_keys.push(UniqueKey {
                    name: r.get(1),
                    columns: columns.clone(),
                    constraint: false,
                });
                relations[i].uniques.push(columns);
            }
            true => relations[i].unique_indexes.push(UniqueIndex { name: r.get(1), columns, definition: r.get(4) }),
        }
    }

    let pols = c
        .query(
            &format!(
                "{RELS}
                 SELECT p.polrelid::int8, p.polname::text, p.oid::int8, p.polpermissive, p.polcmd::text,
                   CASE WHEN p.polroles = '{{0}}' THEN ARRAY['public']
                        ELSE ARRAY(SELECT rolname::text FROM pg_roles WHERE oid = ANY(p.polroles) ORDER BY 1) END,
                   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
                   p.polroles = '{{0}}' OR EXISTS (SELECT 1 FROM unnest(p.polroles) pr WHERE pg_has_role($1::text::name, pr, 'MEMBER')),
                   p.polqual::text, p.polwithcheck::text
                 FROM pg_policy p JOIN rels c ON c.oid = p.polrelid ORDER BY p.polrelid, p.polname"
            ),
            &[&app],
        )
        .await
        .map_err(q)?;
    // Trees are parsed first so that all their operators and functions are named in one query each.
    let mut trees = Vec::new();
    for r in pols {
        let Some(&i) = index.get(&(r.get::<_, i64>(0) as RelId)) else {
            continue;
        };
        let parse = |t: Option<String>| t.map(|t| policy::node::parse(&t));
        trees.push((i, relations[i].policies.len(), parse(r.get(9)), parse(r.get(10))));
        relations[i].policies.push(Policy {
            name: r.get(1),
            oid: r.get::<_, i64>(2) as u32,
            permissive: r.get(3),
            command: PolicyCommand::from_code(r.get::<_, String>(4).as_str()),
            roles: r.get(5),
            using: r.get(6),
            with_check: r.get(7),
            applies_to_app: r.get(8),
            functions: Vec::new(),
            relations: Vec::new(),
            using_tree: None,
            check_tree: None,
        });
    }
    let names = policy_names(db, trees.iter().flat_map(|(_, _, u, c)| [u, c]).flatten().flatten()).await?;
    for (i, j, using, check) in trees {
        let rel = &relations[i];
        let column = |n: i64| rel.columns.iter().find(|c| i64::from(c.attnum) == n).map(|c| c.name.clone());
        let build = |t: Result<policy::node::Node, policy::TreeError>| t.map(|n| policy::build(&n, &column, &names));
        let (using, check) = (using.map(build), check.map(build));
        let p = &mut relations[i].policies[j];
        (p.using_tree, p.check_tree) = (using, check);
    }

    Ok(Catalog {
        server_version: version.get(0),
        server_version_num: version.get(1),
        schema_owner: version.get(2),
        relations,
        app: app_info,
        database_settings,
        functions: Vec::new(),
        bypass_roles: Vec::new(),
        anon: None,
        index,
    })
}

/// Names of the operators and functions that policy trees refer to by oid.
async fn policy_names<'n>(db: &Db, trees: impl Iterator<Item = &'n policy::node::Node>) -> Result<Names, CatalogError> {
    let (mut ops, mut funcs) = (Vec::new(), Vec::new());
    for t in trees {
        let (o, f) = policy::oids(t);
        ops.extend(o);
        funcs.extend(f);
    }
    ops.sort_unstable();
    ops.dedup();
    funcs.sort_unstable();
    funcs.dedup();
    let mut names = Names::default();
    if !ops.is_empty() {
        for r in db.query("SELECT oid, oprname::text FROM pg_operator WHERE oid = ANY($1)", &[&ops]).await.map_err(q)? {
            names.operators.insert(r.get(0), r.get(1));
        }
    }
    if !funcs.is_empty() {
        let rows = db
            .query(
                "SELECT p.oid, n.nspname::text, p.proname::text FROM pg_proc p
                 JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ANY($1)",
                &[&funcs],
            )
            .await
            .map_err(q)?;
        for r in rows {
            names.functions.insert(r.get(0), FunctionName { schema: r.get(1), name: r.get(2) });
        }
    }
    Ok(names)
}
