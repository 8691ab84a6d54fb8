//! Static posture analysis: catalog checks for every failure class the
//! catalog can show, each tied to a rule of the registry.
//!
//! Probes show *that* a tenant reaches foreign rows; these checks say *why*,
//! and cover what ordinary statements cannot reach (a role the app can
//! `SET ROLE` to, a definer function nobody calls yet). Each check is a plain
//! function registered in [`LINTS`] under its rule id; policies are judged on
//! their expressions and their catalog dependencies, not on names.

mod constraints;
mod definer;
pub mod expr;
mod policies;
mod privileges;
mod rls;
mod roles;
mod version;

use crate::catalog::{Catalog, Function, Policy, PolicyCommand, RelId, Relation};
use crate::ownership::{Owner, Ownership};
use crate::report::{Finding, FindingKind};
use crate::rules::{self, FixContext, Severity};
use crate::schema::SourceMap;

/// What every check can look at.
pub struct LintContext<'a> {
    /// The catalog.
    pub catalog: &'a Catalog,
    /// Row ownership.
    pub ownership: &'a Ownership,
    /// The tenant setting.
    pub setting: &'a str,
    /// The app role.
    pub app: &'a str,
    /// Functions that read the setting, at any depth.
    pub readers: std::collections::BTreeSet<u32>,
}

impl<'a> LintContext<'a> {
    /// A context over a read catalog.
    pub fn new(catalog: &'a Catalog, ownership: &'a Ownership, setting: &'a str, app: &'a str) -> LintContext<'a> {
        LintContext { catalog, ownership, setting, app, readers: expr::setting_readers(catalog, setting) }
    }
}

/// One thing a check found.
pub struct Hit {
    /// The relation it concerns.
    pub rel: Option<RelId>,
    /// What is wrong, naming the object.
    pub message: String,
    /// Overrides the rule's severity (e.g. a fail-closed variant is only info).
    pub severity: Option<Severity>,
    /// Object to locate in the schema files: (kind, name), e.g. ("policy", "notes.p").
    pub object: Option<(&'static str, String)>,
}

impl Hit {
    /// A hit on a relation.
    pub fn on(rel: &Relation, message: String) -> Hit {
        Hit { rel: Some(rel.oid), message, severity: None, object: None }
    }

    /// A hit on no relation in particular.
    pub fn global(message: String) -> Hit {
        Hit { rel: None, message, severity: None, object: None }
    }

    /// Points the hit at a policy's CREATE POLICY line.
    pub fn policy(mut self, rel: &Relation, p: &Policy) -> Hit {
        self.object = Some(("policy", format!("{}.{}", rel.name, p.name)));
        self
    }

    /// Points the hit at a function's CREATE FUNCTION line.
    pub fn function(mut self, f: &Function) -> Hit {
        self.object = Some(("function", f.name.clone()));
        self
    }

    /// Points the hit at a role's CREATE ROLE line.
    pub fn role(mut self, name: &str) -> Hit {
        self.object = Some(("role", name.to_string()));
        self
    }

    /// Sets the severity.
    pub fn severity(mut self, s: Severity) -> Hit {
        self.severity = Some(s);
        self
    }
}

type Check = fn(&LintContext<'_>) -> Vec<Hit>;

/// Every static check, by rule id.
pub static LINTS: &[(&str, Check)] = &[
    ("rls_not_enabled", rls::rls_not_enabled),
    ("policy_exists_rls_disabled", rls::policy_exists_rls_disabled),
    ("force_missing", rls::force_missing),
    ("partition_direct_access", rls::partition_direct_access),
    ("matview_no_rls", rls::matview_no_rls),
    ("tenant_root_unknown", rls::tenant_root_unknown),
    ("app_superuser", roles::app_superuser),
    ("app_bypassrls", roles::app_bypassrls),
    ("app_owns_table", roles::app_owns_table),
    ("app_can_become_bypass_role", roles::app_can_become_bypass_role),
    ("app_privileged_predefined_role", roles::app_privileged_predefined_role),
    ("guc_role_or_db_default", roles::guc_role_or_db_default),
    ("policy_wrong_role", policies::policy_wrong_role),
    ("permissive_or_widening", policies::permissive_or_widening),
    ("blind_write_broader_than_select", policies::blind_write_broader_than_select),
    ("with_check_weak_or_true", policies::with_check_weak_or_true),
    ("policy_predicate_too_broad", policies::policy_predicate_too_broad),
    ("guc_missing_fallback_open", policies::guc_missing_fallback_open),
    ("guc_bypass_flag", policies::guc_bypass_flag),
    ("policy_lookup_table_unprotected", policies::policy_lookup_table_unprotected),
    ("policy_unclassified", policies::policy_unclassified),
    ("immutable_context_function", definer::immutable_context_function),
    ("helper_search_path_mutable", definer::helper_search_path_mutable),
    ("view_owner_rights", definer::view_owner_rights),
    ("security_definer_function_bypass", definer::security_definer_function_bypass),
    ("security_definer_trigger_cross_tenant_write", definer::security_definer_trigger_cross_tenant_write),
    ("leakproof_mislabel", definer::leakproof_mislabel),
    ("unique_constraint_oracle", constraints::unique_constraint_oracle),
    ("fk_cross_tenant_reference", constraints::fk_cross_tenant_reference),
    ("fk_cascade_cross_tenant", constraints::fk_cascade_cross_tenant),
    ("truncate_privilege", privileges::truncate_privilege),
    ("trigger_privilege_exfil", privileges::trigger_privilege_exfil),
    ("references_privilege_oracle", privileges::references_privilege_oracle),
    ("sequence_counter_leak", privileges::sequence_counter_leak),
    ("cve_2023_2455", version::cve_2023_2455),
    ("cve_2023_39418", version::cve_2023_39418),
    ("cve_2024_4317", version::cve_2024_4317),
    ("cve_2024_10976", version::cve_2024_10976),
    ("cve_2025_8713", version::cve_2025_8713),
];

/// Runs every check and returns static findings, located in the schema files.
pub fn run(cx: &LintContext<'_>, sources: &SourceMap) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, check) in LINTS {
        let rule = rules::rule(id).expect("every lint has a registered rule");
        for hit in check(cx) {
            let rel = hit.rel.map(|r| cx.catalog.relation(r));
            let location = hit
                .object
                .as_ref()
                .and_then(|(kind, name)| sources.locate(kind, name))
                .or_else(|| rel.and_then(|r| sources.locate("relation", &r.name)));
            out.push(Finding {
                rule: rule.id.into(),
                severity: hit.severity.unwrap_or(rule.severity),
                kind: FindingKind::Static,
                relation: rel.map(|r| r.qualified.clone()),
                operation: None,
                context: None,
                probe: None,
                message: hit.message,
                evidence: None,
                remediation: remediation(rule, cx.catalog, cx.ownership, cx.setting, cx.app, hit.rel),
                location,
                agreement: None,
                introduced_by: None,
                waived: None,
                new: None,
            });
        }
    }
    out
}

/// A rule's remediation with this schema's names filled in.
pub fn remediation(
    rule: &rules::Rule,
    catalog: &Catalog,
    ownership: &Ownership,
    setting: &str,
    app: &str,
    rel: Option<RelId>,
) -> String {
    let relation = rel.map(|r| catalog.relation(r).qualified.clone()).unwrap_or_else(|| "<table>".into());
    let predicate = rel.map(|r| ownership.tenant_predicate(catalog, r, setting)).unwrap_or_default();
    rule.remediation_for(&FixContext {
        relation: &relation,
        app: &crate::db::ident(app),
        column: &ownership.column,
        predicate: &predicate,
        setting,
        key_type: &ownership.key_type,
    })
}

impl LintContext<'_> {
    /// Tenant-owned tables (root, direct, child).
    pub fn tenant_tables(&self) -> impl Iterator<Item = &Relation> {
        self.catalog
            .relations
            .iter()
            .filter(|r| r.kind.is_table() && self.ownership.owner(r.oid).is_some_and(Owner::is_tenant_owned))
    }

    /// Whether the app can read or write rows of `rel`.
    pub fn app_touches(&self, rel: &Relation) -> bool {
        let p = &rel.privileges;
        p.select || p.insert || p.update || p.delete
    }

    /// Whether `text` reads the tenant setting, directly or through a helper
    /// function that does (at any depth).
    pub fn reads_setting(&self, text: &str) -> bool {
        if expr::reads_setting(text, self.setting) {
            return true;
        }
        let t = text.to_lowercase();
        self.readers.iter().filter_map(|f| self.catalog.function(*f)).any(|f| word_in(&t, &f.name.to_lowercase()))
    }

    /// Whether a policy expression pins `rel`'s rows to the tenant. Every
    /// top-level OR branch must: read the setting (directly or through a
    /// helper), consult another relation (a membership table, an
    /// RLS-protected parent), or the current user; and, where the table has a
    /// tenant column, compare that column. A branch that is `false` adds nothing.
    pub fn scoped(&self, rel: &Relation, p: &Policy, expr: &str) -> bool {
        let column = match self.ownership.owner(rel.oid) {
            Some(Owner::Direct { column }) => Some(column.as_str()),
            Some(Owner::Root { key }) => Some(key.as_str()),
            _ => None,
        };
        expr::or_branches(expr).into_iter().all(|branch| {
            let t = branch.to_lowercase();
            let pins = self.reads_setting(branch)
                || !p.relations.is_empty() && (t.contains("select") || t.contains("exists"))
                || word_in(&t, "current_user")
                || word_in(&t, "session_user");
            // `col IS NULL` admits rows that belong to no tenant (shared rows), not another tenant's.
            let shared_rows = column.is_some_and(|c| {
                t.trim_matches(|ch| ch == '(' || ch == ')').trim() == format!("{} is null", c.to_lowercase())
            });
            t.trim() == "false" || shared_rows || pins && column.is_none_or(|c| word_in(&t, &c.to_lowercase()))
        })
    }

    /// Permissive policies applying to the app for `command`.
    pub fn permissive<'r>(&self, rel: &'r Relation, command: PolicyCommand) -> Vec<&'r Policy> {
        rel.app_policies(command).filter(|p| p.permissive).collect()
    }

    /// Whether a restrictive, tenant-scoped policy fences `command` (its USING,
    /// or for `check` its WITH CHECK).
    pub fn fenced(&self, rel: &Relation, command: PolicyCommand, check: bool) -> bool {
        rel.app_policies(command)
            .filter(|p| !p.permissive)
            .any(|p| effective(p, command, check).is_some_and(|e| self.scoped(rel, p, e)))
    }
}

/// The expression a policy contributes for `command`: USING, or for checks
/// the WITH CHECK (falling back to USING for ALL/UPDATE; an INSERT policy
/// without WITH CHECK contributes nothing and so denies).
pub fn effective(p: &Policy, command: PolicyCommand, check: bool) -> Option<&str> {
    if !check {
        return p.using.as_deref();
    }
    match (p.with_check.as_deref(), p.command) {
        (Some(c), _) => Some(c),
        (None, PolicyCommand::Insert) => None,
        (None, _) if command == PolicyCommand::Insert && p.command == PolicyCommand::All => p.using.as_deref(),
        (None, _) => p.using.as_deref(),
    }
}

/// Whether `text` (lowercased) contains `word` as a whole identifier.
pub(crate) fn word_in(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        text[..i].chars().next_back().is_none_or(|c| !ident(c))
            && text[i + word.len()..].chars().next().is_none_or(|c| !ident(c))
    })
}

#[cfg(test)]
mod tests {
    use super::LINTS;

    #[test]
    fn every_lint_has_a_documented_rule() {
        for (id, _) in LINTS {
            let rule = crate::rules::rule(id).unwrap_or_else(|| panic!("{id} is not registered"));
            assert!(!rule.description.is_empty());
        }
        let mut ids: Vec<&str> = LINTS.iter().map(|(id, _)| *id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), LINTS.len(), "a rule is registered twice");
    }
}
