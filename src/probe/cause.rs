//! Cause attribution: which rule explains a violation a probe observed.
//!
//! The probe proves *that* a tenant crossed over; the catalog usually says
//! *why*. Checks run from the most fundamental cause (the role bypasses RLS
//! altogether) to the most specific policy flaw; when nothing matches, the
//! generic `cross_tenant_read` / `cross_tenant_write` ids are used.

use std::collections::BTreeSet;

use crate::catalog::{Catalog, PolicyCommand, RelKind, Relation};
use crate::lint::expr;
use crate::ownership::{Owner, Ownership};
use crate::report::{ContextKind, Operation};

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
pub fn attribute(catalog: &Catalog, ownership: &Ownership, setting: &str, o: &Observed<'_>) -> &'static str {
    let rel = o.rel;
    if catalog.app.superuser {
        return "app_superuser";
    }
    if catalog.app.bypassrls {
        return "app_bypassrls";
    }
    // Paths with a cause of their own.
    match o.kind {
        ProbeKind::Truncate => return "truncate_privilege",
        ProbeKind::UniqueOracle => return "unique_constraint_oracle",
        ProbeKind::ConflictOracle => return "on_conflict_oracle",
        ProbeKind::CrossReference => return "fk_cross_tenant_reference",
        ProbeKind::SideEffect => {
            let cascades = rel.foreign_keys.iter().any(|fk| matches!(fk.on_delete.as_str(), "c" | "n" | "d"));
            let definer_trigger = catalog
                .relations
                .iter()
                .flat_map(|r| &r.triggers)
                .any(|t| catalog.function(t.function).is_some_and(|f| f.security_definer));
            return if definer_trigger {
                "security_definer_trigger_cross_tenant_write"
            } else if cascades {
                "fk_cascade_cross_tenant"
            } else {
                "cross_tenant_write"
            };
        }
        ProbeKind::ViewSelect => {
            return match rel.kind {
                RelKind::MaterializedView => "matview_no_rls",
                _ if !rel.security_invoker => "view_owner_rights",
                _ => "cross_tenant_read",
            };
        }
        ProbeKind::FunctionCall => {
            let definer =
                catalog.functions.iter().any(|f| f.security_definer && o.sql.contains(&format!("{}(", f.qualified)));
            return if definer { "security_definer_function_bypass" } else { "cross_tenant_read" };
        }
        ProbeKind::PreparedSelect => {
            let immutable = rel
                .policies
                .iter()
                .flat_map(|p| &p.functions)
                .filter_map(|f| catalog.function(*f))
                .any(|f| f.volatility == "i");
            if immutable {
                return "immutable_context_function";
            }
        }
        _ => {}
    }
    if ownership.owner(rel.oid) == Some(&Owner::Global { shared: true }) {
        return "shared_table_writable";
    }
    if !rel.rls_enabled {
        if let Some(parent) = rel.parent.map(|p| catalog.relation(p))
            && parent.rls_enabled
        {
            return "partition_direct_access";
        }
        return if rel.policies.is_empty() { "rls_not_enabled" } else { "policy_exists_rls_disabled" };
    }
    if rel.app_owns && !rel.rls_forced {
        return "app_owns_table";
    }
    let command = match o.kind.operation() {
        Operation::Select => PolicyCommand::Select,
        Operation::Insert => PolicyCommand::Insert,
        Operation::Update => PolicyCommand::Update,
        _ => PolicyCommand::Delete,
    };
    let policies: Vec<_> = rel.app_policies(command).collect();
    let texts = |p: &crate::catalog::Policy| -> String {
        let mut s = p.using.clone().unwrap_or_default();
        if let Some(c) = &p.with_check {
            s.push(' ');
            s.push_str(c);
        }
        s.to_lowercase()
    };
    if o.contexts.contains(&ContextKind::NoneFresh) {
        let (role, database) = catalog.setting_defaults(setting);
        if !role.is_empty() || !database.is_empty() {
            return "guc_role_or_db_default";
        }
    }
    let no_tenant_context =
        !o.contexts.contains(&ContextKind::Tenant) && !o.contexts.contains(&ContextKind::UnknownTenant);
    if no_tenant_context {
        if policies.iter().any(|p| expr::fallback_open(&texts(p), setting)) {
            return "guc_missing_fallback_open";
        }
        if o.contexts.iter().all(|c| *c == ContextKind::NoneAfterReset) {
            return "guc_empty_string";
        }
    }
    // A predicate that matches several tenants explains reads and writes alike.
    if policies.iter().any(|p| expr::broad_match(&texts(p), setting)) {
        return "policy_predicate_too_broad";
    }
    if matches!(o.kind, ProbeKind::InsertForeign | ProbeKind::MoveBlind | ProbeKind::MoveKeyed) {
        return "with_check_weak_or_true";
    }
    if matches!(o.kind, ProbeKind::BlindUpdate | ProbeKind::BlindDelete) && !o.select_leaked {
        return "blind_write_broader_than_select";
    }
    // A permissive policy with an OR branch that does not read the setting
    // (directly or through a helper) lets other rows through.
    let readers: Vec<String> = expr::setting_readers(catalog, setting)
        .into_iter()
        .filter_map(|f| catalog.function(f).map(|f| f.name.to_lowercase()))
        .collect();
    let reads =
        |b: &str| expr::reads_setting(b, setting) || readers.iter().any(|n| crate::lint::word_in(&b.to_lowercase(), n));
    let widening = |p: &&crate::catalog::Policy| {
        p.permissive && p.using.as_deref().is_some_and(|u| expr::or_branches(u).iter().any(|b| !reads(b)))
    };
    if policies.iter().any(widening) {
        return "permissive_or_widening";
    }
    match o.kind.operation() {
        Operation::Select => "cross_tenant_read",
        _ => "cross_tenant_write",
    }
}
