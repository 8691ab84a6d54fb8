//! The rule registry: every finding rowfence can report, as data.
//!
//! Ids come from the threat catalogue (`threats.md`); a finding always carries
//! one of these ids. Reports, `rowfence rules` and SARIF read this one list.

use serde::Serialize;

/// How bad a finding is. Ordered: `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational: something the run could not do or decide.
    Info,
    /// Statistics or metadata leak.
    Low,
    /// Existence or aggregate oracle.
    Medium,
    /// Cross-tenant access needing a pattern, or whole-table destruction.
    High,
    /// Arbitrary cross-tenant read or write.
    Critical,
}

impl Severity {
    /// Whether a finding of this severity fails the verdict (exit 1).
    pub fn fails(self) -> bool {
        self >= Severity::High
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One rule.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    /// Stable id, from the threat catalogue.
    pub id: RuleId,
    /// Default severity.
    pub severity: Severity,
    /// One line.
    pub title: &'static str,
    /// What goes wrong and why it matters.
    pub description: &'static str,
    /// How to fix it: SQL, or prose where no statement can (see [`crate::remediation`]).
    /// `{relation}`, `{app}`, `{column}`, `{predicate}`, `{policy}`, `{setting}`, `{key_type}`,
    /// `{object}` (the policy, function, role, sequence or key the finding names), `{anon}` and
    /// the other fields of [`FixContext`] are replaced per finding.
    pub remediation: &'static str,
}

const TENANT_POLICY: &str =
    "CREATE POLICY tenant_isolation ON {relation} FOR ALL TO {app}\n  USING ({predicate})\n  WITH CHECK ({predicate});";

macro_rules! rules {
    ($($variant:ident = $id:literal, $sev:ident, $title:literal, $desc:literal, $fix:expr;)*) => {
        /// A rule's identity. Ids come from the threat catalogue; the JSON,
        /// SARIF, waivers and `rowfence explain` use [`RuleId::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RuleId {
            $(#[doc = $title] $variant,)*
        }

        impl RuleId {
            /// Every rule id, in catalogue order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant),*];

            /// The stable id (`rls_not_enabled`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }
        }

        /// Every rule, in catalogue order.
        pub static RULES: &[Rule] = &[$(Rule { id: RuleId::$variant, severity: Severity::$sev, title: $title, description: $desc, remediation: $fix }),*];
    };
}

rules! {
    CrossTenantRead = "cross_tenant_read", Critical, "The app role reads another tenant's rows",
        "A probe under one tenant's context (or none) returned rows owned by another tenant, and no more specific cause was identified.",
        "Review the policies on {relation} that apply to {app} for SELECT; every permissive policy must restrict rows to the tenant in the context.";
    CrossTenantWrite = "cross_tenant_write", Critical, "The app role changes another tenant's rows",
        "A probe changed, deleted or planted rows of another tenant, and no more specific cause was identified.",
        "Review the UPDATE/DELETE/INSERT policies on {relation} that apply to {app}; USING and WITH CHECK must both pin the tenant.";
    RlsNotEnabled = "rls_not_enabled", Critical, "Tenant-owned table without row-level security",
        "The table holds tenant rows and the app role can touch it, but RLS is off: every tenant sees and changes every row.",
        "ALTER TABLE {relation} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {relation} FORCE ROW LEVEL SECURITY;\n{policy}";
    PolicyExistsRlsDisabled = "policy_exists_rls_disabled", Critical, "Policies exist but row-level security is disabled",
        "Policies are defined on the table, but they are not enforced because RLS is disabled on it.",
        "ALTER TABLE {relation} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {relation} FORCE ROW LEVEL SECURITY;";
    ForceMissing = "force_missing", Medium, "RLS enabled without FORCE",
        "Without FORCE ROW LEVEL SECURITY the table owner bypasses the policies; harmless unless the app is, inherits or can SET ROLE to the owner. Medium when it can SET ROLE to the owner (inheriting it is app_owns_table), info otherwise.",
        "ALTER TABLE {relation} FORCE ROW LEVEL SECURITY;";
    PartitionDirectAccess = "partition_direct_access", High, "Partition or inheritance child reachable by name",
        "Policies on a partitioned parent do not protect its partitions when they are queried directly; each has its own RLS flag.",
        "REVOKE ALL ON {relation} FROM {app};  -- or enable RLS with the same policies on the partition";
    MatviewNoRls = "matview_no_rls", High, "Materialized view with tenant rows readable by the app",
        "Materialized views cannot have RLS; their content was computed with the owner's rights.",
        "REVOKE ALL ON {relation} FROM {app};  -- expose it through a security_invoker view or a function that filters by the tenant";
    AppSuperuser = "app_superuser", Critical, "The app role is a superuser",
        "Superusers bypass row-level security entirely, FORCE included.",
        "ALTER ROLE {app} NOSUPERUSER;";
    AppBypassrls = "app_bypassrls", Critical, "The app role has BYPASSRLS",
        "Roles with BYPASSRLS ignore every policy.",
        "ALTER ROLE {app} NOBYPASSRLS;";
    AppOwnsTable = "app_owns_table", Critical, "The app role owns the table",
        "Table owners bypass row-level security unless FORCE ROW LEVEL SECURITY is set, and even then an owner can turn FORCE off, drop the policies or TRUNCATE; the app owns this table (directly or through a role it inherits). Critical without FORCE, high with it.",
        "ALTER TABLE {relation} OWNER TO {owner};  -- the app must not own what fences it; FORCE alone can be undone by the owner";
    AppCanBecomeBypassRole = "app_can_become_bypass_role", High, "The app role can become a bypassing role",
        "The app is a member of a superuser, BYPASSRLS or table-owning role: SET ROLE, or inherited ownership, escapes the policies.",
        "REVOKE {object} FROM {app};";
    AppPrivilegedPredefinedRole = "app_privileged_predefined_role", High, "The app role holds a privileged predefined role",
        "pg_read_all_data, pg_write_all_data and similar roles grant access beyond the tenant's tables.",
        "REVOKE {object} FROM {app};";
    PolicyWrongRole = "policy_wrong_role", High, "No tenant policy applies to the role the app uses",
        "The policies name other roles: the app either sees nothing (fails closed) or only a broad policy applies (fails open).",
        "{policy}";
    PermissiveOrWidening = "permissive_or_widening", Critical, "A permissive policy widens the tenant policy",
        "Permissive policies are OR-ed: an extra policy such as USING (true), a visibility flag, or one TO PUBLIC lets rows of other tenants through.",
        "DROP POLICY {object};  -- or make the tenant policy on {relation} AS RESTRICTIVE";
    BlindWriteBroaderThanSelect = "blind_write_broader_than_select", High, "Blind UPDATE/DELETE reaches rows SELECT does not",
        "SELECT policies join an UPDATE/DELETE only when the statement reads a column; `DELETE FROM t` or `UPDATE t SET x = 1` is filtered by the UPDATE/DELETE policy alone.",
        "ALTER POLICY {object} USING ({using} AND {predicate});  -- the same tenant predicate as SELECT";
    WithCheckWeakOrTrue = "with_check_weak_or_true", Critical, "INSERT/UPDATE check does not pin the tenant",
        "The WITH CHECK expression is true or weaker than the tenant rule: rows are planted in, or moved to, another tenant.",
        "ALTER POLICY {object} WITH CHECK ({predicate});";
    PolicyPredicateTooBroad = "policy_predicate_too_broad", Critical, "The tenant predicate matches more than one tenant",
        "LIKE/prefix/case-insensitive matching, OR precedence or NULL handling lets one tenant's context match another tenant's key.",
        "Compare the key with plain equality: USING ({predicate})";
    GucMissingFallbackOpen = "guc_missing_fallback_open", Critical, "No tenant context means all rows",
        "The policy treats a missing or empty setting (IS NULL, COALESCE, = '') as 'no filter': a session that forgot to set the tenant sees everything.",
        "ALTER POLICY {object} {pin};  -- fail closed: no fallback branch (current_setting without missing_ok errors when no tenant is set)";
    GucEmptyString = "guc_empty_string", High, "Empty setting matches rows",
        "After any SET LOCAL ends the setting reads '' (not NULL); text keys compare against ''.",
        "Use NULLIF(current_setting('{setting}', true), '') and compare with plain equality.";
    GucBypassFlag = "guc_bypass_flag", Critical, "A policy honours a settable bypass flag",
        "Any role can set custom settings, so a policy branch like current_setting('app.bypass_rls') = 'on' is a bypass for everyone.",
        "ALTER POLICY {object} {pin};  -- without the flag branch; give administrative jobs a separate BYPASSRLS role";
    GucRoleOrDbDefault = "guc_role_or_db_default", High, "The tenant setting has a role or database default",
        "ALTER ROLE/DATABASE ... SET gives context-less sessions a tenant.",
        "ALTER ROLE {app} RESET {setting};  -- a database default: ALTER DATABASE (the database) RESET {setting}";
    PolicyLookupTableUnprotected = "policy_lookup_table_unprotected", High, "A policy's lookup table is unprotected",
        "The membership/lookup table a policy consults has no RLS or is writable by the app.",
        "REVOKE INSERT, UPDATE, DELETE ON {lookup} FROM {app};  -- the app only reads it; give it row-level security too, with a policy that shows each user their own rows";
    UserEditableClaim = "user_editable_claim", Critical, "A policy trusts a claim the end user can edit",
        "The policy reads the tenant (or a role) from a part of the JWT the end user can change, such as Supabase's user_metadata (raw_user_meta_data): any user writes another tenant's key there with auth.updateUser() and reads that tenant's rows.",
        "Read the tenant from a claim only the server writes (app_metadata, or a custom claim set by an auth hook), or look the user up in a membership table: replace auth.jwt() -> 'user_metadata' in the policies on {relation}.";
    AnonReadsTenantRows = "anon_reads_tenant_rows", Critical, "The anonymous role reads tenant rows",
        "The anonymous role (PostgREST's anon: every request without a login) holds SELECT on a tenant table and a policy that applies to it lets rows through: anyone who knows the API's address reads them.",
        "REVOKE SELECT ON {relation} FROM {anon};  -- or give the policies on {relation} a TO clause naming only the authenticated role";
    PolicyReachesAnon = "policy_reaches_anon", Medium, "A policy without TO applies to the anonymous role",
        "A policy without a TO clause applies to PUBLIC, the anonymous role included; it then rests on the claims alone to keep anonymous requests out. Supabase's advice is to name the role on every policy.",
        "ALTER POLICY {object} TO {app};  -- the role requests switch to: anonymous requests meet no policy and see nothing";
    ExposedTableWithoutRls = "exposed_table_without_rls", High, "A table the anonymous role can write has no row-level security",
        "The table is in a schema the API exposes, the anonymous role can insert, update or delete its rows, and row-level security is off: anyone who knows the API's address changes it.",
        "REVOKE INSERT, UPDATE, DELETE ON {relation} FROM {anon};  -- or, where anonymous writes are meant, ENABLE ROW LEVEL SECURITY with policies for them";
    AuthCallPerRow = "auth_call_per_row", Low, "A policy calls a context helper once per row",
        "auth.uid(), auth.jwt() and other helpers that read the request's settings are STABLE, yet a bare call in a policy is evaluated for every row; wrapped in a scalar subquery ((select auth.uid())) it runs once per statement as an initPlan. On large tables the difference is two to three orders of magnitude.",
        "ALTER POLICY {object} {rewritten};  -- each helper call in a scalar subquery, (select auth.uid()) instead of auth.uid(): it runs once per statement";
    ImmutableContextFunction = "immutable_context_function", High, "Tenant helper declared IMMUTABLE",
        "An IMMUTABLE function reading the setting is folded into cached plans: a prepared statement reused after a tenant switch returns the first tenant's rows.",
        "ALTER FUNCTION {object} STABLE;";
    HelperSearchPathMutable = "helper_search_path_mutable", Medium, "Policy helper without a fixed search_path",
        "A TEMP table can shadow the lookup table a helper reads.",
        "ALTER FUNCTION {object} SET search_path = pg_catalog, public;";
    ViewOwnerRights = "view_owner_rights", Critical, "View runs with its owner's rights",
        "A view without security_invoker owned by a superuser, BYPASSRLS role or non-FORCE owner shows every tenant.",
        "ALTER VIEW {relation} SET (security_invoker = true);";
    SecurityDefinerFunctionBypass = "security_definer_function_bypass", Critical, "SECURITY DEFINER function bypasses RLS",
        "A definer function (EXECUTE is PUBLIC by default) owned by a bypassing role returns or changes foreign rows.",
        "REVOKE EXECUTE ON FUNCTION {object} FROM {callers};  -- or make it SECURITY INVOKER, or filter by the tenant setting inside";
    SecurityDefinerTriggerCrossTenantWrite = "security_definer_trigger_cross_tenant_write", High, "Definer trigger writes across tenants",
        "A SECURITY DEFINER trigger follows a user-supplied id into another tenant's row.",
        "ALTER FUNCTION {object} SECURITY INVOKER;  -- or check the tenant of every row it touches";
    UniqueConstraintOracle = "unique_constraint_oracle", Medium, "UNIQUE constraint without the tenant column",
        "A unique violation reveals that another tenant has the value.",
        "ALTER TABLE {relation} DROP CONSTRAINT {object}, ADD CONSTRAINT {object} {unique};  -- one tenant's value no longer collides with another's";
    FkCrossTenantReference = "fk_cross_tenant_reference", Medium, "Foreign key can point at another tenant's row",
        "A foreign key without the tenant column lets a row reference another tenant's parent; the insert succeeding leaks existence.",
        "ALTER TABLE {relation} DROP CONSTRAINT {object}, ADD CONSTRAINT {object} {reference};  -- the key carries the tenant column: a row points only at its own tenant's rows";
    FkCascadeCrossTenant = "fk_cascade_cross_tenant", Medium, "Cascading foreign key changes another tenant's rows",
        "With a cross-tenant reference, ON DELETE CASCADE/SET NULL lets one tenant's delete change another's rows. Medium while the only rows that change are ones the other tenant pointed at foreign rows itself (it learns of the delete); high when a probe shows rows a tenant did not plant changing.",
        "ALTER TABLE {relation} DROP CONSTRAINT {object}, ADD CONSTRAINT {object} {reference};  -- the key carries the tenant column: a delete reaches only its own tenant's rows";
    OnConflictOracle = "on_conflict_oracle", Medium, "INSERT ... ON CONFLICT reveals foreign keys",
        "ON CONFLICT against another tenant's key behaves differently from a free key.",
        "Include the tenant column in unique constraints.";
    TruncatePrivilege = "truncate_privilege", Critical, "The app role can TRUNCATE",
        "TRUNCATE ignores row-level security: one tenant empties the table for everyone.",
        "REVOKE TRUNCATE ON {relation} FROM {app};";
    TriggerPrivilegeExfil = "trigger_privilege_exfil", High, "The app role has TRIGGER privilege",
        "TRIGGER privilege plus CREATE somewhere lets the app copy every tenant's future writes.",
        "REVOKE TRIGGER ON {relation} FROM {app};";
    ReferencesPrivilegeOracle = "references_privilege_oracle", Medium, "The app role has REFERENCES privilege",
        "REFERENCES plus CREATE lets the app build a foreign-key existence oracle.",
        "REVOKE REFERENCES ON {relation} FROM {app};";
    SharedTableWritable = "shared_table_writable", High, "Shared table writable by the app",
        "A table the suite declares shared (global by design) was changed by the app role; every tenant sees the change.",
        "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {relation} FROM {app};";
    SharedRowsWritable = "shared_rows_writable", High, "A tenant can change or create shared rows",
        "Rows whose tenant column is NULL are shared: every tenant reads them. A policy that also lets a tenant update, delete or insert them (an OR branch admitting a NULL tenant on the write side, often through FOR ALL) lets one tenant change what every tenant sees. If they are meant to be writable, say `shared_rows = \"writable\"` under [tenant].",
        "-- Keep shared rows on the read side only: replace the policy with one per command\nDROP POLICY {object};\nCREATE POLICY tenant_read ON {relation} FOR SELECT TO {app} USING ({predicate} OR {column} IS NULL);\nCREATE POLICY tenant_insert ON {relation} FOR INSERT TO {app} WITH CHECK ({predicate});\nCREATE POLICY tenant_update ON {relation} FOR UPDATE TO {app} USING ({predicate}) WITH CHECK ({predicate});\nCREATE POLICY tenant_delete ON {relation} FOR DELETE TO {app} USING ({predicate});";
    SequenceCounterLeak = "sequence_counter_leak", Low, "The app can read a tenant table's sequence",
        "A sequence shared by all tenants reveals how many rows other tenants create (nextval/currval/last_value).",
        "REVOKE USAGE, SELECT, UPDATE ON SEQUENCE {object} FROM {app};  -- or use uuid keys";
    LeakproofMislabel = "leakproof_mislabel", Critical, "A user function is marked LEAKPROOF",
        "The planner runs LEAKPROOF functions before RLS filters; a function that raises or logs its argument leaks other tenants' values.",
        "ALTER FUNCTION {object} NOT LEAKPROOF;";
    Cve20232455 = "cve_2023_2455", High, "Server affected by CVE-2023-2455",
        "Row security policies disregard user ID changes after inlining: a cached plan can apply another role's policies (fixed in 13.11, 14.8, 15.3).",
        "Upgrade PostgreSQL to the latest minor release.";
    Cve202339418 = "cve_2023_39418", High, "Server affected by CVE-2023-39418",
        "MERGE fails to enforce UPDATE and SELECT row security policies (fixed in 15.4).",
        "Upgrade PostgreSQL to the latest minor release.";
    Cve20244317 = "cve_2024_4317", Medium, "Server affected by CVE-2024-4317",
        "pg_stats_ext and pg_stats_ext_exprs show statistics of tables the user cannot read (fixed in 14.12, 15.7, 16.3; existing clusters also need the documented fix script).",
        "Upgrade PostgreSQL and run the fix script from the release notes in every database.";
    Cve202410976 = "cve_2024_10976", High, "Server affected by CVE-2024-10976",
        "Row security below subqueries disregards user ID changes (fixed in 13.17, 14.14, 15.9, 16.5, 17.1).",
        "Upgrade PostgreSQL to the latest minor release.";
    Cve20258713 = "cve_2025_8713", Medium, "Server affected by CVE-2025-8713",
        "Optimizer statistics leak sampled data through partitions and views the user cannot read (fixed in 13.22, 14.19, 15.14, 16.10, 17.6).",
        "Upgrade PostgreSQL to the latest minor release.";
    PolicyUnclassified = "policy_unclassified", Info, "A policy rowfence could not classify",
        "The policy's expression neither reads the tenant setting nor consults another relation, a helper, or the current user; rowfence cannot tell whether it pins the tenant.",
        "Review the policy by hand; the probes of `rowfence check` judge its effect on data.";
    TenantRootUnknown = "tenant_root_unknown", Info, "No tenant root table",
        "The tenant column references no table and `tenant.root` is not set, so a tenants table (organisations, accounts) is treated as global data and its rows are not probed.",
        "Set `root` under [tenant] in the suite to the table whose rows are the tenants, or give the tenant tables a FOREIGN KEY ({column}) that references it.";
    ProbeInconclusive = "probe_inconclusive", Info, "A probe failed for a reason other than isolation",
        "The statement failed with an error that is neither a permission nor a row-level security denial (a constraint, a missing second setting), so it says nothing about isolation.",
        "Check the error in the message; if the schema needs more context than the tenant setting, rowfence cannot judge this path.";
    OwnRowsInvisible = "own_rows_invisible", Medium, "Tenants never see their own rows",
        "Under its own context, no tenant's SELECT ever returned one of its own rows, though it owned some: the policies fail closed for the app (a setting or claim rowfence does not set, a policy for another role). That no foreign row was seen then proves nothing, so the relation counts as untested.",
        "Check which context the policies on {relation} need (`rowfence explain own_rows_invisible`); if the app sets more than the tenant setting, describe it in the suite. If the app must not read {relation}, REVOKE SELECT ON {relation} FROM {app};";
    UnpopulatedRelation = "unpopulated_relation", Info, "Table could not be populated",
        "rowfence could not generate rows for this table, so probes on it saw no data; its isolation is unjudged by probes.",
        "Simplify the constraint named in the message, or report the case to rowfence.";
}

/// The rule with this id (`rls_not_enabled`).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.as_str() == id)
}

impl RuleId {
    /// The registry entry: severity, title, description, remediation.
    pub fn rule(self) -> &'static Rule {
        // RULES is generated in the same order as the variants.
        &RULES[self as usize]
    }

    /// The id with this name, if there is one.
    pub fn parse(id: &str) -> Option<RuleId> {
        rule(id).map(|r| r.id)
    }

    /// The rule's default severity.
    pub fn severity(self) -> Severity {
        self.rule().severity
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

// Ordered by id, so reports list findings the same way whatever the catalogue order.
impl Ord for RuleId {
    fn cmp(&self, other: &RuleId) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for RuleId {
    fn partial_cmp(&self, other: &RuleId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RuleId, D::Error> {
        let id = String::deserialize(d)?;
        RuleId::parse(&id).ok_or_else(|| serde::de::Error::custom(format!("unknown rule id `{id}`")))
    }
}

/// Values substituted into remediation templates.
pub struct FixContext<'a> {
    /// Relation, quoted and qualified.
    pub relation: &'a str,
    /// App role (quoted as an identifier).
    pub app: &'a str,
    /// Tenant column.
    pub column: &'a str,
    /// The tenant predicate for this relation (`org_id = current_setting(...)::uuid`,
    /// or an EXISTS on the parent for child tables).
    pub predicate: &'a str,
    /// Tenant setting.
    pub setting: &'a str,
    /// SQL type of the key.
    pub key_type: &'a str,
    /// The object the finding names, as SQL (`"p" ON public.t`, `public.f(uuid)`,
    /// a role), or a description of it where none is known.
    pub object: &'a str,
    /// The anonymous role (`[app] anon_role`), quoted.
    pub anon: &'a str,
    /// The role to hand what the app owns to, quoted ([`crate::catalog::Catalog::migration_role`]).
    pub owner: &'a str,
    /// The clauses that pin the policy the finding names to the tenant
    /// (`USING (...) WITH CHECK (...)`, as its command takes them).
    pub pin: &'a str,
    /// That policy's USING expression, in parentheses.
    pub using: &'a str,
    /// Who may execute the function the finding names (`PUBLIC, "app"`).
    pub callers: &'a str,
    /// The relation a policy consults (its lookup table), qualified.
    pub lookup: &'a str,
    /// The foreign key the finding names, rewritten to carry the tenant
    /// column (`FOREIGN KEY (...) REFERENCES ... (...)`).
    pub reference: &'a str,
    /// The clauses of the policy the finding names, each per-row helper call
    /// wrapped in a scalar subquery.
    pub rewritten: &'a str,
    /// The unique key the finding names with the tenant column first (`UNIQUE (...)`).
    pub unique: &'a str,
}

impl Rule {
    /// The remediation with the finding's names filled in.
    pub fn remediation_for(&self, cx: &FixContext<'_>) -> String {
        fill(self.remediation, cx)
    }
}

/// A remediation template (a rule's, or a variant of it) with the finding's names filled in.
pub fn fill(template: &str, cx: &FixContext<'_>) -> String {
    template
        .replace("{policy}", TENANT_POLICY)
        .replace("{relation}", cx.relation)
        .replace("{app}", cx.app)
        .replace("{predicate}", cx.predicate)
        .replace("{column}", cx.column)
        .replace("{setting}", cx.setting)
        .replace("{key_type}", cx.key_type)
        .replace("{object}", cx.object)
        .replace("{anon}", cx.anon)
        .replace("{owner}", cx.owner)
        .replace("{pin}", cx.pin)
        .replace("{using}", cx.using)
        .replace("{callers}", cx.callers)
        .replace("{lookup}", cx.lookup)
        .replace("{reference}", cx.reference)
        .replace("{unique}", cx.unique)
        .replace("{rewritten}", cx.rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(r.id as usize, i, "RULES and RuleId in the same order");
            assert_eq!(RuleId::parse(r.id.as_str()), Some(r.id));
            assert!(seen.insert(r.id.as_str()), "duplicate rule id {}", r.id);
            assert!(!r.title.is_empty() && !r.description.is_empty() && !r.remediation.is_empty(), "{}", r.id);
            assert!(
                r.id.as_str().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                r.id
            );
        }
    }

    #[test]
    fn remediation_fills_every_placeholder() {
        let cx = FixContext {
            relation: "public.notes",
            app: "app",
            column: "org_id",
            predicate: "org_id = current_setting('app.org')::uuid",
            setting: "app.org",
            key_type: "uuid",
            object: "\"p\" ON public.notes",
            anon: "anon",
            owner: "migrator",
            pin: "USING (true)",
            using: "(true)",
            callers: "PUBLIC",
            lookup: "public.memberships",
            reference: "FOREIGN KEY (org_id, p) REFERENCES public.p (org_id, id)",
            unique: "UNIQUE (org_id, email)",
            rewritten: "USING ((select auth.uid()) = owner)",
        };
        for r in RULES {
            let fix = r.remediation_for(&cx);
            assert!(!fix.contains('{') || fix.contains("{0}"), "{}: {fix}", r.id);
        }
    }
}
