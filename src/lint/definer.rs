//! E. Definer rights, and helper functions used by policies.

use super::{Hit, LintContext};
use crate::catalog::{Function, RelKind, Relation};

/// Whether `owner`, running a definer object, bypasses RLS on `base`.
fn owner_bypasses(cx: &LintContext<'_>, owner: &str, base: &Relation) -> bool {
    cx.catalog.bypass_roles.iter().any(|r| r == owner) || !base.rls_enabled || base.owner == owner && !base.rls_forced
}

/// Functions used by some policy.
fn policy_helpers<'a>(cx: &'a LintContext<'_>) -> Vec<&'a Function> {
    let mut out: Vec<&Function> = Vec::new();
    for r in &cx.catalog.relations {
        for p in &r.policies {
            for f in p.functions.iter().filter_map(|o| cx.catalog.function(*o)) {
                if !out.iter().any(|x| x.oid == f.oid) {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// An IMMUTABLE function that reads a setting: folded into cached plans.
pub(super) fn immutable_context_function(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.catalog
        .functions
        .iter()
        .filter(|f| f.volatility == "i" && f.source.to_lowercase().contains("current_setting"))
        .map(|f| {
            Hit::global(format!(
                "{} is IMMUTABLE but reads a setting: plans cached under one tenant return its rows to the next",
                f.signature
            ))
            .function(f)
        })
        .collect()
}

/// A policy helper without a fixed search_path.
pub(super) fn helper_search_path_mutable(cx: &LintContext<'_>) -> Vec<Hit> {
    policy_helpers(cx)
        .into_iter()
        .filter(|f| !f.config.iter().any(|c| c.starts_with("search_path=")) && names_relation_unqualified(&f.source))
        .map(|f| {
            Hit::global(format!(
                "policy helper {} has no `SET search_path`: a temporary table can shadow what it reads",
                f.signature
            ))
            .function(f)
        })
        .collect()
}

/// Whether a function body names a table without its schema (`FROM members`,
/// `JOIN t`, `UPDATE t`, `INTO t`): only such names can be shadowed by a
/// temporary table. Calls and operators resolve in pg_catalog first, and the
/// temporary schema is never searched for functions.
fn names_relation_unqualified(body: &str) -> bool {
    static NAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(?:from|join|update|into)\s+("?[a-z_][a-z0-9_$]*"?)(\s*\.)?"#).expect("valid")
    });
    NAME.captures_iter(body).any(|c| c.get(2).is_none() && !SQL_WORDS.contains(&c[1].to_ascii_lowercase().as_str()))
}

/// Words that follow FROM/INTO in expressions, not table names.
const SQL_WORDS: &[&str] = &[
    "select",
    "strict",
    "lateral",
    "only",
    "unnest",
    "generate_series",
    "jsonb_array_elements",
    "json_array_elements",
    "jsonb_each",
    "json_each",
    "regexp_matches",
    "string_to_table",
    "jsonb_to_recordset",
    "json_to_recordset",
];

/// Views without security_invoker whose owner bypasses RLS on a tenant table,
/// unless the view filters by the tenant setting itself.
pub(super) fn view_owner_rights(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    let anon_reads = |v: &Relation| cx.catalog.anon.as_ref().is_some_and(|a| a.on(v.oid).select);
    for v in cx
        .catalog
        .relations
        .iter()
        .filter(|v| v.kind == RelKind::View && (v.privileges.select || anon_reads(v)) && !v.security_invoker)
    {
        if v.definition.as_deref().is_some_and(|d| cx.reads_setting(d)) {
            continue;
        }
        let leaking: Vec<&str> = v
            .depends_on
            .iter()
            .map(|b| cx.catalog.relation(*b))
            .filter(|b| cx.ownership.owner(b.oid).is_some_and(|o| o.is_tenant_owned()))
            .filter(|b| owner_bypasses(cx, &v.owner, b))
            .map(|b| b.qualified.as_str())
            .collect();
        if !leaking.is_empty() {
            out.push(Hit::on(
                v,
                format!(
                    "view {} runs with the rights of its owner {}, who bypasses row-level security on {}{}",
                    v.qualified,
                    v.owner,
                    leaking.join(", "),
                    if anon_reads(v) { "; the anonymous role can read it" } else { "" }
                ),
            ));
        }
    }
    out
}

/// SECURITY DEFINER functions the app may call, owned by a role that bypasses
/// RLS, that read tenant tables without filtering by the setting.
pub(super) fn security_definer_function_bypass(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    // The anonymous role calls what it may execute through the API, like the app.
    let anon = |f: &crate::catalog::Function| cx.catalog.anon.as_ref().is_some_and(|a| a.functions.contains(&f.oid));
    for f in cx.catalog.functions.iter().filter(|f| {
        f.security_definer && !f.is_trigger && (f.app_can_execute || anon(f)) && !cx.reads_setting(&f.source)
    }) {
        let src = f.source.to_lowercase();
        let touched: Vec<&str> = cx
            .tenant_tables()
            .filter(|t| mentions(&src, &t.name))
            .filter(|t| owner_bypasses(cx, &f.owner, t))
            .map(|t| t.qualified.as_str())
            .collect();
        if !touched.is_empty() {
            let callers = match (f.app_can_execute, anon(f)) {
                (true, true) => format!("{} and {}", cx.app, cx.catalog.anon.as_ref().map_or("", |a| a.role.as_str())),
                (false, true) => cx.catalog.anon.as_ref().map_or("", |a| a.role.as_str()).to_string(),
                _ => cx.app.to_string(),
            };
            out.push(Hit::global(format!("SECURITY DEFINER function {} (owner {}, callable by {callers}) reads or writes {} with its owner's rights", f.signature, f.owner, touched.join(", "))).function(f));
        }
    }
    out
}

/// Definer trigger functions on tenant tables that write other tenant tables.
pub(super) fn security_definer_trigger_cross_tenant_write(cx: &LintContext<'_>) -> Vec<Hit> {
    let mut out = Vec::new();
    for r in cx.tenant_tables().filter(|r| cx.app_touches(r)) {
        for t in &r.triggers {
            let Some(f) = cx.catalog.function(t.function) else {
                continue;
            };
            if !f.security_definer || cx.reads_setting(&f.source) {
                continue;
            }
            let src = f.source.to_lowercase();
            let writes = ["insert into", "update ", "delete from"].iter().any(|w| src.contains(w));
            // Only inserts stamped with the triggering row's own tenant stay in it.
            let own_tenant = format!("new.{}", cx.ownership.column.to_lowercase());
            let stamped = src.contains(&own_tenant) && !src.contains("update ") && !src.contains("delete from");
            let targets: Vec<&str> = cx
                .tenant_tables()
                .filter(|x| mentions(&src, &x.name) && owner_bypasses(cx, &f.owner, x))
                .map(|x| x.qualified.as_str())
                .collect();
            if writes && !stamped && !targets.is_empty() {
                out.push(Hit::on(r, format!("trigger {} on {} runs SECURITY DEFINER function {} (owner {}), which writes {} past row-level security", t.name, r.qualified, f.signature, f.owner, targets.join(", "))).function(f));
            }
        }
    }
    out
}

/// User functions marked LEAKPROOF.
pub(super) fn leakproof_mislabel(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.catalog
        .functions
        .iter()
        .filter(|f| f.leakproof)
        .map(|f| {
            Hit::global(format!(
                "{} is marked LEAKPROOF: the planner may run it on other tenants' rows before the policies filter them",
                f.signature
            ))
            .function(f)
        })
        .collect()
}

/// Whether SQL text `src` (lowercased) names table `name` as a word.
fn mentions(src: &str, name: &str) -> bool {
    crate::policy::word_in(src, &name.to_lowercase())
}
