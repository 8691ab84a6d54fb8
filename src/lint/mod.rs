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
mod exposed;
mod policies;
mod privileges;
mod rls;
mod roles;
mod version;

use crate::catalog::{Catalog, Function, Policy, PolicyCommand, RelId, Relation};
use crate::finding::{Finding, FindingKind};
use crate::ownership::{Owner, Ownership};
use crate::policy::{self, Side, Tenant};
use crate::remediation::Subject;
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
    /// Rows with a NULL tenant may be written by any tenant (the suite says so).
    pub shared_rows_writable: bool,
}

impl<'a> LintContext<'a> {
    /// A context over a read catalog.
    pub fn new(catalog: &'a Catalog, ownership: &'a Ownership, setting: &'a str, app: &'a str) -> LintContext<'a> {
        LintContext {
            catalog,
            ownership,
            setting,
            app,
            readers: policy::setting_readers(catalog, setting),
            shared_rows_writable: false,
        }
    }

    /// Declares rows with a NULL tenant writable by design (`[tenant] shared_rows`).
    pub fn shared_rows(mut self, rows: crate::suite::SharedRows) -> Self {
        self.shared_rows_writable = rows == crate::suite::SharedRows::Writable;
        self
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
    /// The same object as SQL names it in a fix (`"p" ON public.notes`, `public.f(uuid)`).
    pub target: Option<String>,
    /// What the fix acts on, for writing it (the policy, function, key).
    pub subject: Subject,
}

impl Hit {
    /// A hit on a relation.
    pub fn on(rel: &Relation, message: String) -> Hit {
        Hit { rel: Some(rel.oid), message, severity: None, object: None, target: None, subject: Subject::default() }
    }

    /// A hit on no relation in particular.
    pub fn global(message: String) -> Hit {
        Hit { rel: None, message, severity: None, object: None, target: None, subject: Subject::default() }
    }

    /// Points the hit at a policy's CREATE POLICY line.
    pub fn policy(mut self, rel: &Relation, p: &Policy) -> Hit {
        self.object = Some(("policy", format!("{}.{}", rel.name, p.name)));
        self.target = Some(format!("{} ON {}", crate::db::ident(&p.name), rel.qualified));
        self.subject.policy = Some(p.oid);
        self
    }

    /// Points the hit at a function's CREATE FUNCTION line.
    pub fn function(mut self, f: &Function) -> Hit {
        self.object = Some(("function", f.name.clone()));
        self.target = Some(format!("{}({})", f.qualified, f.arg_types.join(", ")));
        self.subject.function = Some(f.oid);
        self
    }

    /// Says more about what the fix acts on (a foreign key, a lookup table).
    pub fn subject(mut self, f: impl FnOnce(&mut Subject)) -> Hit {
        f(&mut self.subject);
        self
    }

    /// Names the object a fix acts on, as SQL (a sequence, say).
    pub fn target(mut self, sql: &str) -> Hit {
        self.target = Some(sql.to_string());
        self
    }

    /// Points the hit at a role's CREATE ROLE line.
    pub fn role(mut self, name: &str) -> Hit {
        self.object = Some(("role", name.to_string()));
        self.target = Some(crate::db::ident(name));
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
        RuleId::SharedRowsWritable => policies::shared_rows_writable,
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
        RuleId::UserEditableClaim => exposed::user_editable_claim,
        RuleId::AnonReadsTenantRows => exposed::anon_reads_tenant_rows,
        RuleId::PolicyReachesAnon => exposed::policy_reaches_anon,
        RuleId::ExposedTableWithoutRls => exposed::exposed_table_without_rls,
        RuleId::AuthCallPerRow => exposed::auth_call_per_row,
        RuleId::CrossTenantRead
        | RuleId::CrossTenantWrite
        | RuleId::GucEmptyString
        | RuleId::OnConflictOracle
        | RuleId::SharedTableWritable
        | RuleId::ProbeInconclusive
        | RuleId::OwnRowsInvisible
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
            let fix = crate::remediation::render_hit(rule, cx, &hit);
            out.push(
                Finding::new(rule, FindingKind::Static, hit.message)
                    .relation(rel.map(|r| r.qualified.clone()))
                    .object(hit.target.clone())
                    .severity(hit.severity.unwrap_or(rule.severity()))
                    .remediation(fix)
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

    /// Whether SQL source text (a view definition, a function body) reads the
    /// tenant setting, directly or through a helper function that does (at any depth).
    pub fn reads_setting(&self, text: &str) -> bool {
        policy::source_reads_setting(self.catalog, text, self.setting, &self.readers)
    }

    /// Where the tenant comes from, for judging policy trees.
    pub fn tenant(&self) -> Tenant<'_> {
        Tenant { setting: self.setting, readers: &self.readers }
    }

    /// Whether a policy expression pins `rel`'s rows to the tenant: every
    /// OR branch compares the tenant column (or, on child tables, the row)
    /// with a tenant source, or is `false`, or admits only shared rows
    /// ([`crate::policy::Expr::pins_tenant`]). A loose match of the tenant
    /// (LIKE, case folding) counts as scoped here: `policy_predicate_too_broad`
    /// names that cause. A tree that could not be read is left to
    /// `policy_unclassified` and the probes.
    pub fn scoped(&self, rel: &Relation, side: Side<'_>) -> bool {
        let column = self.ownership.key_column(rel.oid);
        // A user's own memberships are theirs: a read pinned to the user is scoped.
        let user = self.membership_of(rel).map(|m| m.user_column.as_str());
        side.tree.is_none_or(|e| {
            e.scoped(column, &self.tenant())
                || user.is_some_and(|u| e.scoped(Some(u), &self.tenant()))
                || e.broad_match(self.setting)
        })
    }

    /// Whether a write check pins `rel`'s rows to the tenant itself: on the
    /// membership table pinning the user is not enough (a user would add
    /// themselves to any tenant).
    pub fn pins_tenant(&self, rel: &Relation, side: Side<'_>) -> bool {
        let column = self.ownership.key_column(rel.oid);
        side.tree.is_none_or(|e| e.scoped(column, &self.tenant()))
    }

    /// The `[membership]` table, when `rel` is it.
    pub fn membership_of(&self, rel: &Relation) -> Option<&crate::ownership::Membership> {
        self.ownership.membership.as_ref().filter(|m| m.rel == rel.oid)
    }

    /// Permissive policies applying to the app for `command`.
    pub fn permissive<'r>(&self, rel: &'r Relation, command: PolicyCommand) -> Vec<&'r Policy> {
        rel.app_policies(command).filter(|p| p.permissive).collect()
    }

    /// Whether a restrictive, tenant-scoped policy fences `command` (its USING,
    /// or for `check` its WITH CHECK).
    pub fn fenced(&self, rel: &Relation, command: PolicyCommand, check: bool) -> bool {
        rel.app_policies(command).filter(|p| !p.permissive).any(|p| {
            effective(p, command, check).is_some_and(|e| {
                if check && self.membership_of(rel).is_some() { self.pins_tenant(rel, e) } else { self.scoped(rel, e) }
            })
        })
    }
}

/// The expression a policy contributes for `command`: USING, or for checks
/// the WITH CHECK (falling back to USING for ALL/UPDATE; an INSERT policy
/// without WITH CHECK contributes nothing and so denies).
pub fn effective(p: &Policy, command: PolicyCommand, check: bool) -> Option<Side<'_>> {
    if !check {
        return p.using_side();
    }
    match (p.check_side(), p.command) {
        (Some(c), _) => Some(c),
        (None, PolicyCommand::Insert) => None,
        (None, _) if command == PolicyCommand::Insert && p.command == PolicyCommand::All => p.using_side(),
        (None, _) => p.using_side(),
    }
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
