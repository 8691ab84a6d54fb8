//! Static posture analysis: catalog checks for every failure class the
//! catalog can show, each tied to a rule of the registry.
//!
//! Probes show *that* a tenant reaches foreign rows; these checks say *why*,
//! and cover what ordinary statements cannot reach (a role the app can
//! `SET ROLE` to, a definer function nobody calls yet). Each check is a plain
//! function that [`check_of`] maps its rule id to; policies are judged on
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
use crate::finding::{Finding, FindingKind};
use crate::ownership::{Owner, Ownership};
use crate::rules::{RuleId, Severity};
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

/// A static check: every hit of one rule.
pub type Check = fn(&LintContext<'_>) -> Vec<Hit>;

/// The static check of a rule, if the catalog can show it. The match is
/// exhaustive, so a new rule must say whether it has one.
pub fn check_of(rule: RuleId) -> Option<Check> {
    Some(match rule {
        RuleId::RlsNotEnabled => rls::rls_not_enabled,
        RuleId::PolicyExistsRlsDisabled => rls::policy_exists_rls_disabled,
        RuleId::ForceMissing => rls::force_missing,
        RuleId::PartitionDirectAccess => rls::partition_direct_access,
        RuleId::MatviewNoRls => rls::matview_no_rls,
        RuleId::TenantRootUnknown => rls::tenant_root_unknown,
        RuleId::AppSuperuser => roles::app_superuser,
        RuleId::AppBypassrls => roles::app_bypassrls,
        RuleId::AppOwnsTable => roles::app_owns_table,
        RuleId::AppCanBecomeBypassRole => roles::app_can_become_bypass_role,
        RuleId::AppPrivilegedPredefinedRole => roles::app_privileged_predefined_role,
        RuleId::GucRoleOrDbDefault => roles::guc_role_or_db_default,
        RuleId::PolicyWrongRole => policies::policy_wrong_role,
        RuleId::PermissiveOrWidening => policies::permissive_or_widening,
        RuleId::BlindWriteBroaderThanSelect => policies::blind_write_broader_than_select,
        RuleId::WithCheckWeakOrTrue => policies::with_check_weak_or_true,
        RuleId::PolicyPredicateTooBroad => policies::policy_predicate_too_broad,
        RuleId::GucMissingFallbackOpen => policies::guc_missing_fallback_open,
        RuleId::GucBypassFlag => policies::guc_bypass_flag,
        RuleId::PolicyLookupTableUnprotected => policies::policy_lookup_table_unprotected,
        RuleId::PolicyUnclassified => policies::policy_unclassified,
        RuleId::ImmutableContextFunction => definer::immutable_context_function,
        RuleId::HelperSearchPathMutable => definer::helper_search_path_mutable,
        RuleId::ViewOwnerRights => definer::view_owner_rights,
        RuleId::SecurityDefinerFunctionBypass => definer::security_definer_function_bypass,
        RuleId::SecurityDefinerTriggerCrossTenantWrite => definer::security_definer_trigger_cross_tenant_write,
        RuleId::LeakproofMislabel => definer::leakproof_mislabel,
        RuleId::UniqueConstraintOracle => constraints::unique_constraint_oracle,
        RuleId::FkCrossTenantReference => constraints::fk_cross_tenant_reference,
        RuleId::FkCascadeCrossTenant => constraints::fk_cascade_cross_tenant,
        RuleId::TruncatePrivilege => privileges::truncate_privilege,
        RuleId::TriggerPrivilegeExfil => privileges::trigger_privilege_exfil,
        RuleId::ReferencesPrivilegeOracle => privileges::references_privilege_oracle,
        RuleId::SequenceCounterLeak => privileges::sequence_counter_leak,
        RuleId::Cve20232455 => version::cve_2023_2455,
        RuleId::Cve202339418 => version::cve_2023_39418,
        RuleId::Cve20244317 => version::cve_2024_4317,
        RuleId::Cve202410976 => version::cve_2024_10976,
        RuleId::Cve20258713 => version::cve_2025_8713,
        RuleId::CrossTenantRead
        | RuleId::CrossTenantWrite
        | RuleId::GucEmptyString
        | RuleId::OnConflictOracle
        | RuleId::SharedTableWritable
        | RuleId::ProbeInconclusive
        | RuleId::UnpopulatedRelation => return None,
    })
}

/// Runs every check and returns static findings, located in the schema files.
pub fn run(cx: &LintContext<'_>, sources: &SourceMap) -> Vec<Finding> {
    let mut out = Vec::new();
    for (rule, check) in RuleId::ALL.iter().filter_map(|&r| check_of(r).map(|c| (r, c))) {
        for hit in check(cx) {
            let rel = hit.rel.map(|r| cx.catalog.relation(r));
            let location = hit
                .object
                .as_ref()
                .and_then(|(kind, name)| sources.locate(kind, name))
                .or_else(|| rel.and_then(|r| sources.locate("relation", &r.name)));
            out.push(
                Finding::new(rule, FindingKind::Static, hit.message)
                    .relation(rel.map(|r| r.qualified.clone()))
                    .severity(hit.severity.unwrap_or(rule.severity()))
                    .remediation(crate::remediation::render(rule, cx.catalog, cx.ownership, cx.setting, cx.app, hit.rel))
                    .location(location),
            );
        }
    }
    out
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
    use super::{RuleId, check_of};

    #[test]
    fn catalog_visible_rules_have_a_check() {
        let checked = RuleId::ALL.iter().filter(|r| check_of(**r).is_some()).count();
        assert!(checked >= 39, "only {checked} rules have a static check");
        assert!(check_of(RuleId::RlsNotEnabled).is_some());
        assert!(check_of(RuleId::CrossTenantRead).is_none(), "probes alone show this one");
    }
}
