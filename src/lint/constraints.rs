//! F. Constraints and references that cross tenants.

use super::{Hit, LintContext};
use crate::db::ident;
use crate::ownership::Owner;

fn tenant_column<'a>(cx: &'a LintContext<'_>, rel: &crate::catalog::Relation) -> Option<&'a str> {
    match cx.ownership.owner(rel.oid) {
        Some(Owner::Direct { column }) => Some(column.as_str()),
        _ => None,
    }
}

/// UNIQUE constraints on tenant tables without the tenant column.
pub(super) fn unique_constraint_oracle(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| r.privileges.insert || r.privileges.update) {
        let Some(col) = tenant_column(cx, r) else {
            continue;
        };
        for u in r.unique_keys.iter().filter(|u| !u.columns.iter().any(|c| c == col)) {
            let name = if u.constraint { ident(&u.name) } else { format!("{}.{}", ident(&r.schema), ident(&u.name)) };
            out.push(
                Hit::on(r, format!("UNIQUE ({}) on {} does not include {col}: a duplicate-key error tells one tenant that another has the value", u.columns.join(", "), r.qualified))
                    .target(&name)
                    .subject(|s| s.unique = Some(u.name.clone())),
            );
        }
        // A partial or expression index leaks the same way for the rows it covers.
        for u in r.unique_indexes.iter().filter(|u| !u.columns.iter().any(|c| c == col)) {
            out.push(
                Hit::on(r, format!("unique index {} on {} does not include {col}: a duplicate-key error tells one tenant that another has the value ({})", u.name, r.qualified, u.definition))
                    .target(&format!("{}.{}", ident(&r.schema), ident(&u.name)))
                    .subject(|s| s.unique = Some(u.name.clone())),
            );
        }
    }
    out
}

/// Foreign keys between tenant tables that do not carry the tenant column.
fn cross_tenant_fks<'a>(
    cx: &'a LintContext<'_>,
) -> Vec<(&'a crate::catalog::Relation, &'a crate::catalog::ForeignKey)> {
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| r.privileges.insert || r.privileges.update) {
        let Some(col) = tenant_column(cx, r) else {
            continue;
        };
        for fk in &r.foreign_keys {
            let target = cx.catalog.relation(fk.target);
            let target_direct = tenant_column(cx, target).is_some();
            if target_direct && !fk.columns.iter().any(|c| c == col) {
                out.push((r, fk));
            }
        }
    }
    out
}

pub(super) fn fk_cross_tenant_reference(cx: &LintContext<'_>) -> Vec<Hit> {
    cross_tenant_fks(cx)
        .into_iter()
        .map(|(r, fk)| {
            let target = cx.catalog.relation(fk.target);
            Hit::on(r, format!("foreign key {} ({}) on {} references {} without the tenant column: a row may point at another tenant's row", fk.name, fk.columns.join(", "), r.qualified, target.qualified))
                .target(&ident(&fk.name))
                .subject(|s| s.foreign_key = Some(fk.name.clone()))
        })
        .collect()
}

pub(super) fn fk_cascade_cross_tenant(cx: &LintContext<'_>) -> Vec<Hit> {
    cross_tenant_fks(cx)
        .into_iter()
        .filter(|(_, fk)| matches!(fk.on_delete.as_str(), "c" | "n" | "d"))
        .map(|(r, fk)| {
            let target = cx.catalog.relation(fk.target);
            Hit::on(r, format!("foreign key {} on {} cascades deletes of {} rows and crosses tenants: a tenant's delete of its own row changes the rows another tenant pointed at it", fk.name, r.qualified, target.qualified))
                .target(&ident(&fk.name))
                .subject(|s| s.foreign_key = Some(fk.name.clone()))
        })
        .collect()
}
