//! Cause attribution: which rule explains a violation a probe observed.
//!
//! The probe proves *that* a tenant crossed over; the catalog usually says
//! *why*. Checks run from the most fundamental cause (the role bypasses RLS
//! altogether) to the most specific policy flaw; when nothing matches, the
//! generic `cross_tenant_read` / `cross_tenant_write` ids are used.

use std::collections::BTreeSet;

use crate::catalog::{Catalog, PolicyCommand, RelKind, Relation};
use crate::ownership::{Owner, Ownership};
use crate::policy::{self, Tenant};
use crate::report::{ContextKind, Operation};
use crate::rules::RuleId;

use super::ProbeKind;

/// What is known about one violated (relation, probe) pair.
pub struct Observed<'a> {
    /// The relation.
    pub rel: &'a Relation,
    /// The probe kind.
    pub kind: ProbeKind,
    /// Every context kind it was observed under.
    pub contexts: &'a BTreeSet<ContextKind>,
    /// Whether SELECT on the same relation also leaked under one of those contexts.
    pub select_leaked: bool,
    /// The statement that showed it.
    pub sql: &'a str,
}

/// The rule id that explains `o`.
pub fn attribute(catalog: &Catalog, ownership: &Ownership, setting: &str, o: &Observed<'_>) -> RuleId {
    let rel = o.rel;
    if catalog.app.superuser {
        return RuleId::AppSuperuser;
    }
    if catalog.app.bypassrls {
        return RuleId::AppBypassrls;
    }
    // Paths with a cause of their own.
    match o.kind {
        ProbeKind::Truncate => return RuleId::TruncatePrivilege,
        ProbeKind::NoForce => return RuleId::AppOwnsTable,
        ProbeKind::UniqueOracle => return RuleId::UniqueConstraintOracle,
        ProbeKind::ConflictOracle => return RuleId::OnConflictOracle,
        ProbeKind::CrossReference => return RuleId::FkCrossTenantReference,
        ProbeKind::SideEffect => {
            let cascades = rel.foreign_keys.iter().any(|fk| matches!(fk.on_delete.as_str(), "c" | "n" | "d"));
            let definer_trigger = catalog
                .relations
                .iter()
                .flat_map(|r| &r.triggers)
                .any(|t| catalog.function(t.function).is_some_and(|f| f.security_definer));
            return if definer_trigger {
                RuleId::SecurityDefinerTriggerCrossTenantWrite
            } else if cascades {
                RuleId::FkCascadeCrossTenant
            } else {
                RuleId::CrossTenantWrite
            };
        }
        ProbeKind::ViewSelect => {
            return match rel.kind {
                RelKind::MaterializedView => RuleId::MatviewNoRls,
                _ if !rel.security_invoker => RuleId::ViewOwnerRights,
                _ => RuleId::CrossTenantRead,
            };
        }
        ProbeKind::FunctionCall => {
            let definer =
                catalog.functions.iter().any(|f| f.security_definer && o.sql.contains(&format!("{}(", f.qualified)));
            return if definer { RuleId::SecurityDefinerFunctionBypass } else { RuleId::CrossTenantRead };
        }
        ProbeKind::PreparedSelect => {
            let immutable = rel
                .policies
                .iter()
                .flat_map(|p| &p.functions)
                .filter_map(|f| catalog.function(*f))
                .any(|f| f.volatility == "i");
            if immutable {
                return RuleId::ImmutableContextFunction;
            }
        }
        _ => {}
    }
    if ownership.owner(rel.oid) == Some(&Owner::Global { shared: true }) {
        return RuleId::SharedTableWritable;
    }
    if !rel.rls_enabled {
        if let Some(parent) = rel.parent.map(|p| catalog.relation(p))
            && parent.rls_enabled
        {
            return RuleId::PartitionDirectAccess;
        }
        return if rel.policies.is_empty() { RuleId::RlsNotEnabled } else { RuleId::PolicyExistsRlsDisabled };
    }
    if rel.app_owns && !rel.rls_forced {
        return RuleId::AppOwnsTable;
    }
    if matches!(o.kind, ProbeKind::SharedUpdate | ProbeKind::SharedDelete | ProbeKind::InsertShared) {
        return RuleId::SharedRowsWritable;
    }
    // Seen only when the user wrote another tenant's key into claims they control.
    if o.contexts.iter().all(|c| *c == ContextKind::UserControlled) {
        return RuleId::UserEditableClaim;
    }
    // A write to the membership table hands out access to tenants.
    let membership = ownership.membership.as_ref().is_some_and(|m| m.rel == rel.oid);
    if o.kind == ProbeKind::JoinTenant
        || membership && matches!(o.kind.operation(), Operation::Insert | Operation::Update)
    {
        return RuleId::PolicyLookupTableUnprotected;
    }
    // COPY (SELECT ...) TO is a read: the SELECT policies filter it.
    let command = match o.kind.operation() {
        Operation::Select | Operation::Copy => PolicyCommand::Select,
        Operation::Insert => PolicyCommand::Insert,
        Operation::Update => PolicyCommand::Update,
        _ => PolicyCommand::Delete,
    };
    let policies: Vec<_> = rel.app_policies(command).collect();
    // Both sides of a policy, as analysed trees.
    let sides = policies.iter().flat_map(|p| [p.using_expr(), p.check_expr()]).flatten().collect::<Vec<_>>();
    if o.contexts.contains(&ContextKind::NoneFresh) {
        let (role, database) = catalog.setting_defaults(setting);
        if !role.is_empty() || !database.is_empty() {
            return RuleId::GucRoleOrDbDefault;
        }
    }
    // A permissive policy with an OR branch that does not pin the row to the
    // tenant (it ignores the setting, or reads it without comparing it with
    // the row: `OR claims->>'role' = 'authenticated'`) lets other rows through.
    let readers = policy::setting_readers(catalog, setting);
    let tenant = Tenant { setting, readers: &readers };
    let column = ownership.key_column(rel.oid);
    let widening = |p: &&crate::catalog::Policy| {
        p.permissive
            && p.using_expr().is_some_and(|u| {
                u.or_branches().iter().any(|b| !b.reads_setting(&tenant) || !b.pins_tenant(column, &tenant))
            })
    };
    let no_tenant_context = !o.contexts.iter().any(|c| c.has_context());
    if no_tenant_context {
        if sides.iter().any(|e| e.fallback_open(setting)) {
            return RuleId::GucMissingFallbackOpen;
        }
        // Context-less requests run as the anonymous role: what it reads is public.
        if catalog.anon.is_some() && matches!(o.kind.operation(), Operation::Select | Operation::Copy) {
            return RuleId::AnonReadsTenantRows;
        }
        // `USING (true)` leaks after a reset too, but not because of the empty setting.
        if o.contexts.iter().all(|c| *c == ContextKind::NoneAfterReset) && !policies.iter().any(widening) {
            return RuleId::GucEmptyString;
        }
    }
    // A predicate that matches several tenants explains reads and writes alike.
    if sides.iter().any(|e| e.broad_match(setting)) {
        return RuleId::PolicyPredicateTooBroad;
    }
    // A branch any session can switch on with a setting of its own.
    if sides.iter().any(|e| e.bypass_branch(setting)) {
        return RuleId::GucBypassFlag;
    }
    if matches!(o.kind, ProbeKind::InsertForeign | ProbeKind::MoveBlind | ProbeKind::MoveKeyed) {
        return RuleId::WithCheckWeakOrTrue;
    }
    if matches!(o.kind, ProbeKind::BlindUpdate | ProbeKind::BlindDelete) && !o.select_leaked {
        return RuleId::BlindWriteBroaderThanSelect;
    }
    if policies.iter().any(widening) {
        return RuleId::PermissiveOrWidening;
    }
    match o.kind.operation() {
        Operation::Select | Operation::Copy => RuleId::CrossTenantRead,
        _ => RuleId::CrossTenantWrite,
    }
}
