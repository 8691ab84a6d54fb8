//! What the API exposes: checks for the anonymous role (`[app] anon_role`),
//! claims the end user can edit, and context helpers called once per row.
//! PostgREST and Supabase serve every table and function the anonymous role
//! may use to anyone who knows the address.

use super::{Hit, LintContext};
use crate::catalog::{Policy, PolicyCommand, Relation};
use crate::ownership::Owner;

/// Parts of a Supabase JWT (and the table behind it) the end user writes.
const USER_EDITABLE: &[&str] = &["user_metadata", "raw_user_meta_data"];

/// A policy on a tenant table reads `user_metadata`, itself or through a helper it calls.
pub(super) fn user_editable_claim(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| r.rls_enabled) {
        for p in r.policies.iter().filter(|p| p.applies_to_app || applies_to_anon(cx, p)) {
            let text =
                [p.using.as_deref(), p.with_check.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
            let helper = p.functions.iter().filter_map(|f| cx.catalog.function(*f)).find(|f| editable(&f.source));
            let via = match helper {
                _ if editable(&text) => "its expression".to_string(),
                Some(f) => format!("helper {}", f.signature),
                None => continue,
            };
            out.push(
                Hit::on(
                    r,
                    format!(
                        "policy {} on {} reads user_metadata ({via}): the end user can write any tenant's key there",
                        p.name, r.qualified
                    ),
                )
                .policy(r, p),
            );
        }
    }
    out
}

fn editable(text: &str) -> bool {
    USER_EDITABLE.iter().any(|w| text.contains(w))
}

/// The anonymous role can read a tenant table and a policy that applies to
/// it does not pin the tenant (or row-level security is off).
pub(super) fn anon_reads_tenant_rows(cx: &LintContext<'_>) -> Vec<Hit> {
    let Some(anon) = &cx.catalog.anon else { return Vec::new() };
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| anon.on(r.oid).select) {
        if !r.rls_enabled {
            out.push(Hit::on(
                r,
                format!(
                    "{} can read {}, which has no row-level security: every tenant's rows are public",
                    anon.role, r.qualified
                ),
            ));
            continue;
        }
        let select = |p: &&Policy| applies_to_anon(cx, p) && p.command.covers(PolicyCommand::Select);
        let fenced =
            r.policies.iter().filter(select).any(|p| !p.permissive && p.using_side().is_some_and(|u| cx.scoped(r, u)));
        if fenced {
            continue;
        }
        for p in r.policies.iter().filter(select).filter(|p| p.permissive) {
            // A branch that reads the request's settings admits nothing for an
            // anonymous request, which carries none (auth.uid() is NULL).
            let open_branch = |u: &crate::policy::Side<'_>| {
                u.tree.is_none_or(|t| t.or_branches().iter().any(|b| !b.reads_setting(&cx.tenant())))
            };
            if let Some(u) = p.using_side().filter(|u| !cx.scoped(r, *u) && !u.is_const(false) && open_branch(u)) {
                out.push(Hit::on(r, format!("policy {} on {} applies to {} (USING {}) and does not pin the tenant: anonymous requests read every tenant's rows", p.name, r.qualified, anon.role, u.text)).policy(r, p));
            }
        }
    }
    out
}

/// A policy without TO on a tenant table the anonymous role may use for its command.
pub(super) fn policy_reaches_anon(cx: &LintContext<'_>) -> Vec<Hit> {
    let Some(anon) = &cx.catalog.anon else { return Vec::new() };
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| r.rls_enabled) {
        let granted = anon.on(r.oid);
        for p in r.policies.iter().filter(|p| p.permissive && p.roles.iter().any(|x| x == "public")) {
            let reaches = match p.command {
                PolicyCommand::Select => granted.select,
                PolicyCommand::Insert => granted.insert,
                PolicyCommand::Update => granted.update,
                PolicyCommand::Delete => granted.delete,
                _ => granted.select || granted.insert || granted.update || granted.delete,
            };
            if reaches {
                out.push(Hit::on(r, format!("policy {} on {} has no TO clause, so it applies to {} too; anonymous requests are kept out only by what the claims hold", p.name, r.qualified, anon.role)).policy(r, p));
            }
        }
    }
    out
}

/// A table outside the tenants' data that the anonymous role can change, without row-level security.
pub(super) fn exposed_table_without_rls(cx: &LintContext<'_>) -> Vec<Hit> {
    let Some(anon) = &cx.catalog.anon else { return Vec::new() };
    let global = |r: &&Relation| matches!(cx.ownership.owner(r.oid), Some(Owner::Global { .. }));
    cx.catalog
        .relations
        .iter()
        .filter(|r| r.kind.is_table() && !r.rls_enabled)
        .filter(global)
        .filter_map(|r| {
            let p = anon.on(r.oid);
            let verbs: Vec<&str> = [(p.insert, "INSERT"), (p.update, "UPDATE"), (p.delete, "DELETE")]
                .into_iter()
                .filter(|(g, _)| *g)
                .map(|(_, v)| v)
                .collect();
            (!verbs.is_empty()).then(|| {
                Hit::on(
                    r,
                    format!(
                        "{} holds {} on {}, which has no row-level security: anonymous requests change it",
                        anon.role,
                        verbs.join(", "),
                        r.qualified
                    ),
                )
            })
        })
        .collect()
}

/// A context helper called bare in a policy: evaluated per row.
pub(super) fn auth_call_per_row(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| r.rls_enabled && cx.app_touches(r)) {
        for p in r.policies.iter().filter(|p| p.applies_to_app) {
            let call = [p.using_side(), p.check_side()]
                .into_iter()
                .flatten()
                .find_map(|s| s.tree.and_then(|t| t.per_row_context_call(&cx.readers)));
            if let Some(call) = call {
                out.push(
                    Hit::on(
                        r,
                        format!(
                            "policy {} on {} calls {call} once per row; (select {call}) runs it once per statement",
                            p.name, r.qualified
                        ),
                    )
                    .policy(r, p),
                );
            }
        }
    }
    out
}

/// Whether `p` applies to the anonymous role.
fn applies_to_anon(cx: &LintContext<'_>, p: &Policy) -> bool {
    cx.catalog.anon.as_ref().is_some_and(|a| a.policies.contains(&p.oid))
}
