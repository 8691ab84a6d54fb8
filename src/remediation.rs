//! Remediations written for this schema: a rule's fix with the finding's
//! relation, the app role, the tenant column and the relation's tenant
//! predicate filled in. Static and dynamic findings share it, so the same
//! cause gets the same fix whichever stage found it.

use crate::catalog::{Catalog, RelId};
use crate::ownership::Ownership;
use crate::rules::{FixContext, RuleId};

/// A rule's remediation with this schema's names filled in. `object` is the
/// SQL name of what a static check pointed at; without one (a dynamic
/// finding), widening policies are found on the relation.
pub fn render(
    rule: RuleId,
    catalog: &Catalog,
    ownership: &Ownership,
    setting: &str,
    app: &str,
    rel: Option<RelId>,
    object: Option<&str>,
) -> String {
    let relation = rel.map(|r| catalog.relation(r).qualified.clone()).unwrap_or_else(|| "<table>".into());
    let predicate = rel.map(|r| ownership.tenant_predicate(catalog, r, setting)).unwrap_or_default();
    let found = match (object, rule, rel) {
        (Some(o), _, _) => o.to_string(),
        (None, RuleId::PermissiveOrWidening, Some(r)) => widening_policies(catalog, ownership, setting, r)
            .unwrap_or_else(|| format!("<the widening policy> ON {relation}")),
        _ => "<the object the message names>".to_string(),
    };
    let anon = catalog.anon.as_ref().map(|a| crate::db::ident(&a.role)).unwrap_or_else(|| "anon".into());
    rule.rule().remediation_for(&FixContext {
        relation: &relation,
        app: &crate::db::ident(app),
        column: &ownership.column,
        predicate: &predicate,
        setting,
        key_type: &ownership.key_type,
        object: &found,
        anon: &anon,
    })
}

/// `"p" ON rel` for the first permissive policy on `rel` that applies to the
/// app and has an OR branch that does not pin the tenant.
fn widening_policies(catalog: &Catalog, ownership: &Ownership, setting: &str, rel: RelId) -> Option<String> {
    let r = catalog.relation(rel);
    let readers = crate::policy::setting_readers(catalog, setting);
    let tenant = crate::policy::Tenant { setting, readers: &readers };
    let column = ownership.key_column(rel);
    r.policies
        .iter()
        .filter(|p| p.applies_to_app && p.permissive)
        .find(|p| p.using_expr().is_some_and(|u| u.or_branches().iter().any(|b| !b.pins_tenant(column, &tenant))))
        .map(|p| format!("{} ON {}", crate::db::ident(&p.name), r.qualified))
}
