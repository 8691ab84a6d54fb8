//! C. Policy logic, judged on the policies that apply to the app for each command.

use super::{Hit, LintContext, effective};
use crate::catalog::{Policy, PolicyCommand, Relation};
use crate::ownership::Owner;
use crate::policy::Side;

/// Tenant tables where policies matter: RLS on, and the app has some access.
fn guarded<'a>(cx: &'a LintContext<'_>) -> impl Iterator<Item = &'a Relation> {
    cx.tenant_tables().filter(|r| r.rls_enabled && cx.app_touches(r))
}

/// Commands the app holds a privilege for.
fn granted(r: &Relation) -> Vec<PolicyCommand> {
    let p = &r.privileges;
    [
        (p.select, PolicyCommand::Select),
        (p.insert, PolicyCommand::Insert),
        (p.update, PolicyCommand::Update),
        (p.delete, PolicyCommand::Delete),
    ]
    .into_iter()
    .filter_map(|(g, c)| g.then_some(c))
    .collect()
}

/// No policy applies to the app for a granted command while policies exist
/// for other roles: the app fails closed (info), or the table is someone else's.
pub(super) fn policy_wrong_role(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in guarded(cx) {
        if r.policies.is_empty() || r.app_owns && !r.rls_forced {
            continue;
        }
        let missing: Vec<&str> = granted(r)
            .into_iter()
            .filter(|c| r.app_policies(*c).all(|p| !p.permissive))
            .map(|c| match c {
                PolicyCommand::Select => "SELECT",
                PolicyCommand::Insert => "INSERT",
                PolicyCommand::Update => "UPDATE",
                _ => "DELETE",
            })
            .collect();
        if missing.len() == granted(r).len() && r.policies.iter().all(|p| !p.applies_to_app) {
            let roles: Vec<&str> = r.policies.iter().flat_map(|p| p.roles.iter().map(String::as_str)).collect();
            out.push(
                Hit::on(r, format!("no policy on {} applies to {} (they name {}): the app is granted {} but sees nothing (fails closed)", r.qualified, cx.app, roles.join(", "), missing.join(", ")))
                    .severity(crate::rules::Severity::Info),
            );
        }
    }
    out
}

/// A permissive policy that applies to the app and does not pin the tenant,
/// for reads, unless a restrictive tenant policy fences it.
pub(super) fn permissive_or_widening(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in guarded(cx) {
        if !r.privileges.select || cx.fenced(r, PolicyCommand::Select, false) {
            continue;
        }
        let permissive = cx.permissive(r, PolicyCommand::Select);
        for p in &permissive {
            let Some(using) = p.using_side() else {
                continue;
            };
            if !cx.scoped(r, using) && !using.is_const(false) && !fallback(cx, using) && !bypass_flag(cx, using) {
                // A table's only policy widens nothing: it is itself too broad.
                let why = if permissive.len() == 1 {
                    format!("is the only policy that lets {} read {} and does not pin the tenant", cx.app, r.qualified)
                } else {
                    format!(
                        "applies to {} and does not pin the tenant; permissive policies are OR-ed, so it widens the others",
                        cx.app
                    )
                };
                out.push(
                    Hit::on(r, format!("permissive policy {} on {} (USING {}) {why}", p.name, r.qualified, using.text))
                        .policy(r, p),
                );
            }
        }
    }
    out
}

/// SELECT is tenant-scoped but an UPDATE/DELETE policy is not: blind writes reach foreign rows.
pub(super) fn blind_write_broader_than_select(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in guarded(cx) {
        let select_open =
            cx.permissive(r, PolicyCommand::Select).iter().any(|p| p.using_side().is_some_and(|u| !cx.scoped(r, u)));
        if select_open && !cx.fenced(r, PolicyCommand::Select, false) {
            continue; // permissive_or_widening explains it
        }
        for (command, granted, name) in [
            (PolicyCommand::Update, r.privileges.update, "UPDATE"),
            (PolicyCommand::Delete, r.privileges.delete, "DELETE"),
        ] {
            if !granted || cx.fenced(r, command, false) {
                continue;
            }
            for p in cx.permissive(r, command) {
                let Some(using) = p.using_side() else {
                    continue;
                };
                if p.command != PolicyCommand::All && !cx.scoped(r, using) && !using.is_const(false) {
                    out.push(Hit::on(r, format!("{name} policy {} on {} (USING {}) does not pin the tenant: `{name}` without a WHERE clause is filtered by it alone", p.name, r.qualified, using.text)).policy(r, p));
                }
            }
        }
    }
    out
}

/// INSERT/UPDATE checks that do not pin the tenant.
pub(super) fn with_check_weak_or_true(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in guarded(cx) {
        // With memberships a new tenant belongs to nobody yet: creating one is no crossing.
        let creates_tenant = cx.ownership.membership.is_some() && cx.ownership.root == Some(r.oid);
        for (name, p, check) in write_checks(cx, r) {
            if creates_tenant && name == "INSERT" {
                continue;
            }
            let column = cx.ownership.key_column(r.oid);
            // A fallback for a missing setting is guc_missing_fallback_open's to name.
            let fallback_only = check.tree.is_some_and(|e| e.scoped_but_for_fallback(column, &cx.tenant()));
            if !cx.scoped(r, check) && !check.is_const(false) && !fallback_only {
                out.push(Hit::on(r, format!("{name} check of policy {} on {} is `{}`: rows can be planted in, or moved to, another tenant", p.name, r.qualified, check.text)).policy(r, p));
            }
        }
    }
    out
}

/// The checks of permissive INSERT/UPDATE policies the app is granted and no
/// restrictive policy fences: (command, policy, check).
fn write_checks<'r>(cx: &LintContext<'_>, r: &'r Relation) -> Vec<(&'static str, &'r Policy, Side<'r>)> {
    let mut out = Vec::new();
    for (command, granted, name) in
        [(PolicyCommand::Insert, r.privileges.insert, "INSERT"), (PolicyCommand::Update, r.privileges.update, "UPDATE")]
    {
        if !granted || cx.fenced(r, command, true) {
            continue;
        }
        out.extend(
            cx.permissive(r, command).into_iter().filter_map(|p| effective(p, command, true).map(|c| (name, p, c))),
        );
    }
    out
}

/// Shared rows (NULL tenant) reachable by a write: a permissive write policy
/// with an `OR <tenant column> IS NULL` branch, not fenced by a restrictive
/// policy that pins the tenant without one. Only where the column allows NULL.
pub(super) fn shared_rows_writable(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    if cx.shared_rows_writable {
        return out;
    }
    for r in guarded(cx) {
        let Some(Owner::Direct { column }) = cx.ownership.owner(r.oid) else {
            continue;
        };
        if r.column(column).is_none_or(|c| c.not_null) {
            continue;
        }
        let admits = |side: Side<'_>| side.tree.is_some_and(|e| e.admits_null(column));
        for (command, granted, check, name) in [
            (PolicyCommand::Insert, r.privileges.insert, true, "INSERT"),
            (PolicyCommand::Update, r.privileges.update, false, "UPDATE"),
            (PolicyCommand::Update, r.privileges.update, true, "UPDATE"),
            (PolicyCommand::Delete, r.privileges.delete, false, "DELETE"),
        ] {
            let fenced = r
                .app_policies(command)
                .filter(|p| !p.permissive)
                .any(|p| effective(p, command, check).is_some_and(|e| cx.scoped(r, e) && !admits(e)));
            if !granted || fenced {
                continue;
            }
            for p in cx.permissive(r, command) {
                let Some(side) = effective(p, command, check) else {
                    continue;
                };
                if admits(side)
                    && !out.iter().any(|h: &Hit| h.object == Some(("policy", format!("{}.{}", r.name, p.name))))
                {
                    let clause = if check { "WITH CHECK" } else { "USING" };
                    out.push(Hit::on(r, format!("{name} {clause} of policy {} on {} admits rows whose {column} is NULL (`{}`): a tenant can change or create shared rows every tenant sees", p.name, r.qualified, side.text)).policy(r, p));
                }
            }
        }
    }
    out
}

/// `current_setting(..., true) IS NULL OR ...`, COALESCE(..., '') = '' and the like.
pub(super) fn guc_missing_fallback_open(cx: &LintContext<'_>) -> Vec<Hit> {
    each_policy_expr(cx, |r, p, e| {
        fallback(cx, e).then(|| {
            Hit::on(
                r,
                format!(
                    "policy {} on {} treats a missing or empty {} as 'no filter': {}",
                    p.name, r.qualified, cx.setting, e.text
                ),
            )
            .policy(r, p)
        })
    })
}

/// A policy honours another custom setting (any role can set custom settings).
pub(super) fn guc_bypass_flag(cx: &LintContext<'_>) -> Vec<Hit> {
    // In a restrictive policy another setting can only narrow further.
    each_policy_expr(cx, |r, p, e| {
        (p.permissive && bypass_flag(cx, e)).then(|| {
            Hit::on(
                r,
                format!(
                    "policy {} on {} consults another setting that any session can set: {}",
                    p.name, r.qualified, e.text
                ),
            )
            .policy(r, p)
        })
    })
}

/// A tenant predicate that can match several tenants: pattern matching,
/// case folding or prefixes applied where the setting is compared.
pub(super) fn policy_predicate_too_broad(cx: &LintContext<'_>) -> Vec<Hit> {
    each_policy_expr(cx, |r, p, e| {
        e.tree.is_some_and(|t| t.broad_match(cx.setting)).then(|| {
            Hit::on(r, format!("policy {} on {} compares the tenant with pattern or case-folded matching, so one tenant's key matches others: {}", p.name, r.qualified, e.text)).policy(r, p)
        })
    })
}

/// A policy reads a relation that has no RLS and that the app can write; or
/// the `[membership]` table takes rows whose check pins the user but not the
/// tenant (a user joins any tenant).
pub(super) fn policy_lookup_table_unprotected(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in guarded(cx).filter(|r| cx.membership_of(r).is_some()) {
        for (name, p, check) in write_checks(cx, r) {
            if !cx.pins_tenant(r, check) && !check.is_const(false) {
                out.push(Hit::on(r, format!("{name} check of policy {} on the membership table {} is `{}`, which does not pin the tenant: a user can make themselves a member of any tenant", p.name, r.qualified, check.text)).policy(r, p));
            }
        }
    }
    for r in guarded(cx) {
        for p in r.policies.iter().filter(|p| p.applies_to_app) {
            for l in p.relations.iter().map(|o| cx.catalog.relation(*o)) {
                let writable = l.privileges.insert || l.privileges.update || l.privileges.delete;
                if !l.rls_enabled && writable {
                    out.push(Hit::on(r, format!("policy {} on {} consults {}, which has no row-level security and which {} can write: the app can grant itself any tenant", p.name, r.qualified, l.qualified, cx.app)).policy(r, p).subject(|s| s.lookup = Some(l.oid)));
                }
            }
        }
    }
    out
}

/// Policies whose expressions rowfence cannot relate to the tenant.
pub(super) fn policy_unclassified(cx: &LintContext<'_>) -> Vec<Hit> {
    each_policy_expr(cx, |r, p, e| {
        if let Some(why) = p.unreadable() {
            let message = format!(
                "policy {} on {}: its stored expression could not be read ({why}), so only the probes judge it",
                p.name, r.qualified
            );
            return Some(Hit::on(r, message).policy(r, p));
        }
        let known = cx.scoped(r, e) || e.is_const(false) || e.is_const(true) || fallback(cx, e) || bypass_flag(cx, e);
        (!known && !p.permissive).then(|| {
            Hit::on(
                r,
                format!(
                    "restrictive policy {} on {} (`{}`) does not compare the tenant with {}, another table or a helper",
                    p.name, r.qualified, e.text, cx.setting
                ),
            )
            .policy(r, p)
        })
    })
}

fn each_policy_expr(cx: &LintContext<'_>, mut f: impl FnMut(&Relation, &Policy, Side<'_>) -> Option<Hit>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in guarded(cx) {
        for p in r.policies.iter().filter(|p| p.applies_to_app) {
            for e in [p.using_side(), p.check_side()].into_iter().flatten() {
                if let Some(h) = f(r, p, e) {
                    out.push(h);
                    break;
                }
            }
        }
    }
    out
}

/// An OR branch that opens up when the setting is missing or empty.
fn fallback(cx: &LintContext<'_>, e: Side<'_>) -> bool {
    e.tree.is_some_and(|t| t.fallback_open(cx.setting))
}

/// An OR branch on another custom setting (any session can set one).
fn bypass_flag(cx: &LintContext<'_>, e: Side<'_>) -> bool {
    e.tree.is_some_and(|t| t.bypass_branch(cx.setting))
}
