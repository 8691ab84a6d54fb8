//! A. RLS not in force.

use super::{Hit, LintContext};
use crate::catalog::RelKind;
use crate::ownership::Owner;

/// Tenant-owned table the app can touch, RLS off, no policies; also tables
/// outside the tenant model that point at tenant rows through nullable
/// foreign keys (polymorphic attachments, comments on "any" object).
pub(super) fn rls_not_enabled(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out: Vec<Hit> = cx
        .tenant_tables()
        .filter(|r| cx.app_touches(r) && !r.rls_enabled && r.policies.is_empty() && !inherits_rls(cx, r))
        .map(|r| {
            Hit::on(
                r,
                format!("{} holds tenant rows, {} can access it, and row-level security is off", r.qualified, cx.app),
            )
        })
        .collect();
    let loose = cx.catalog.relations.iter().filter(|r| {
        r.kind.is_table()
            && cx.ownership.owner(r.oid) == Some(&Owner::Global { shared: false })
            && cx.app_touches(r)
            && !r.rls_enabled
    });
    for r in loose {
        let targets: Vec<&str> = r
            .foreign_keys
            .iter()
            .filter(|fk| cx.ownership.owner(fk.target).is_some_and(Owner::is_tenant_owned))
            .map(|fk| cx.catalog.relation(fk.target).qualified.as_str())
            .collect();
        if !targets.is_empty() {
            out.push(Hit::on(
                r,
                format!(
                    "{} references tenant rows ({}) through nullable foreign keys, {} can access it, and row-level security is off: its rows belong to tenants too",
                    r.qualified,
                    targets.join(", "),
                    cx.app
                ),
            ));
        }
    }
    out
}

/// No root table: tables without the tenant column cannot be attributed.
pub(super) fn tenant_root_unknown(cx: &LintContext<'_>) -> Vec<Hit> {
    if cx.ownership.root.is_some() {
        return Vec::new();
    }
    vec![Hit::global(format!(
        "no table is referenced by the tenant column {} and `tenant.root` is not set: a tenants table (organisations, accounts) is treated as global and its rows are not probed",
        cx.ownership.column
    ))]
}

/// Policies defined but RLS disabled.
pub(super) fn policy_exists_rls_disabled(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .filter(|r| cx.app_touches(r) && !r.rls_enabled && !r.policies.is_empty())
        .map(|r| {
            Hit::on(
                r,
                format!(
                    "{} has {} polic(ies) but row-level security is disabled, so none applies",
                    r.qualified,
                    r.policies.len()
                ),
            )
        })
        .collect()
}

/// ENABLE without FORCE; only matters when the app owns the table, which
/// `app_owns_table` reports as critical.
/// Medium where the app can `SET ROLE` to the owner; otherwise only the
/// owner's own sessions bypass, so it is defence in depth (info).
pub(super) fn force_missing(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .filter(|r| r.rls_enabled && !r.rls_forced && !r.app_owns)
        .map(|r| {
            let reachable = cx.catalog.app.memberships.iter().any(|m| m.role == r.owner && m.can_set);
            let hit = Hit::on(
                r,
                format!(
                    "{} enables row-level security without FORCE: its owner {} bypasses the policies{}",
                    r.qualified,
                    r.owner,
                    if reachable {
                        format!(", and {} can SET ROLE {}", cx.app, r.owner)
                    } else {
                        format!(" ({} cannot become {}: defence in depth)", cx.app, r.owner)
                    }
                ),
            );
            if reachable { hit } else { hit.severity(crate::rules::Severity::Info) }
        })
        .collect()
}

/// A partition or inheritance child reachable by name without RLS of its own.
pub(super) fn partition_direct_access(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .filter(|r| inherits_rls(cx, r) && !r.rls_enabled && cx.app_touches(r))
        .map(|r| {
            let parent = cx.catalog.relation(r.parent.expect("inherits_rls checks the parent"));
            Hit::on(
                r,
                format!(
                    "{} is a partition/child of {}, is granted to {} directly and has no row-level security of its own",
                    r.qualified, parent.qualified, cx.app
                ),
            )
        })
        .collect()
}

/// Materialized views over tenant tables that the app can read.
pub(super) fn matview_no_rls(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.catalog
        .relations
        .iter()
        .filter(|v| v.kind == RelKind::MaterializedView && v.privileges.select)
        .filter(|v| v.depends_on.iter().any(|b| cx.ownership.owner(*b).is_some_and(|o| o.is_tenant_owned())))
        .map(|v| Hit::on(v, format!("materialized view {} holds rows of tenant tables, computed with its owner's rights, and {} can read all of it", v.qualified, cx.app)))
        .collect()
}

/// Whether `r` is a partition or child of a table that has RLS.
fn inherits_rls(cx: &LintContext<'_>, r: &crate::catalog::Relation) -> bool {
    r.parent.is_some_and(|p| cx.catalog.relation(p).rls_enabled)
}
