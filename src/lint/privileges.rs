//! G. Privileges outside RLS, and H. sequence counters.

use super::{Hit, LintContext};
use crate::ownership::Owner;

fn tenant_or_shared<'a>(cx: &'a LintContext<'_>) -> impl Iterator<Item = &'a crate::catalog::Relation> {
    cx.catalog.relations.iter().filter(|r| {
        r.kind.is_table()
            && cx.ownership.owner(r.oid).is_some_and(|o| o.is_tenant_owned() || *o == Owner::Global { shared: true })
    })
}

pub(super) fn truncate_privilege(cx: &LintContext<'_>) -> Vec<Hit> {
    tenant_or_shared(cx)
        .filter(|r| r.privileges.truncate)
        .map(|r| Hit::on(r, format!("{} may TRUNCATE {}, which ignores row-level security", cx.app, r.qualified)))
        .collect()
}

pub(super) fn trigger_privilege_exfil(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .filter(|r| r.privileges.trigger)
        .map(|r| {
            Hit::on(
                r,
                format!("{} holds TRIGGER on {}: a trigger it creates sees every tenant's writes", cx.app, r.qualified),
            )
        })
        .collect()
}

pub(super) fn references_privilege_oracle(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .filter(|r| r.privileges.references)
        .map(|r| {
            Hit::on(
                r,
                format!(
                    "{} holds REFERENCES on {}: a foreign key it creates probes other tenants' keys",
                    cx.app, r.qualified
                ),
            )
        })
        .collect()
}

pub(super) fn sequence_counter_leak(cx: &LintContext<'_>) -> Vec<Hit> {
    cx.tenant_tables()
        .flat_map(|r| r.sequences.iter().filter(|s| s.app_can_use).map(move |s| (r, s)))
        .map(|(r, s)| {
            Hit::on(
                r,
                format!(
                    "{} can use sequence {} of {}, shared by all tenants: its values count other tenants' rows",
                    cx.app, s.qualified, r.qualified
                ),
            )
            .target(&s.qualified)
        })
        .collect()
}
