//! Remediations written for this schema: a rule's fix with the finding's
//! relation, the app role, the tenant column and the relation's tenant
//! predicate filled in. Static and dynamic findings share it, so the same
//! cause gets the same fix whichever stage found it.

use crate::catalog::{Catalog, RelId};
use crate::ownership::Ownership;
use crate::rules::{FixContext, RuleId};

/// A rule's remediation with this schema's names filled in.
pub fn render(
    rule: RuleId,
    catalog: &Catalog,
    ownership: &Ownership,
    setting: &str,
    app: &str,
    rel: Option<RelId>,
) -> String {
    let relation = rel.map(|r| catalog.relation(r).qualified.clone()).unwrap_or_else(|| "<table>".into());
    let predicate = rel.map(|r| ownership.tenant_predicate(catalog, r, setting)).unwrap_or_default();
    rule.rule().remediation_for(&FixContext {
        relation: &relation,
        app: &crate::db::ident(app),
        column: &ownership.column,
        predicate: &predicate,
        setting,
        key_type: &ownership.key_type,
    })
}
