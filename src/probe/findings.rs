//! Turning what the probes showed into findings: the rule that explains a
//! violation, a message, and a SQL script that replays its shrunk dataset.

use std::collections::BTreeSet;

use super::cause::{Observed, attribute};
use super::{Context, ProbeKind, Schema, Violation};
use crate::catalog::RelId;
use crate::db::{ident, literal};
use crate::finding::ProbeResult;
use crate::generate::Dataset;
use crate::report::{ContextKind, Evidence, Finding, FindingKind, Operation};
use crate::rules::RuleId;

/// A violation after shrinking, with what the whole run saw of it.
pub struct Shrunk<'a> {
    /// The smallest dataset that still shows it.
    pub data: &'a Dataset,
    /// The violation on that dataset.
    pub violation: &'a Violation,
    /// Shrinking steps taken.
    pub steps: u32,
    /// Every kind of context the same probe failed under.
    pub contexts: &'a BTreeSet<ContextKind>,
}

/// The rule that explains probe `kind` failing on `rel` under `contexts`.
/// `select_leaked`: the plain SELECT probe leaked on the relation under one
/// of those contexts too.
pub fn rule_of(
    s: &Schema<'_>,
    (rel, kind): (RelId, ProbeKind),
    contexts: &BTreeSet<ContextKind>,
    select_leaked: bool,
    sql: &str,
) -> RuleId {
    let observed = Observed { rel: s.catalog.relation(rel), kind, contexts, select_leaked, sql };
    attribute(s.catalog, s.ownership, s.setting, &observed)
}

/// What one probe showed, for the list under its cause.
pub fn probe_result(s: &Schema<'_>, kind: ProbeKind, v: &Violation, contexts: &BTreeSet<ContextKind>) -> ProbeResult {
    ProbeResult {
        probe: kind.to_string(),
        operation: kind.operation(),
        relation: Some(s.catalog.relation(v.rel).qualified.clone()),
        contexts: contexts.iter().copied().collect(),
        sql: v.sql.clone(),
        observed: v.observed.clone(),
    }
}

/// The finding for cause `rule` on relation `key.0`: probe `key.1` showed
/// it and was shrunk to `shrunk`; `others` are the other probes that showed
/// the same cause on the relation.
pub fn violation(
    s: &Schema<'_>,
    app_role: &str,
    key: (RelId, ProbeKind),
    rule: RuleId,
    shrunk: &Shrunk<'_>,
    others: Vec<ProbeResult>,
) -> Finding {
    let v = shrunk.violation;
    let rel = s.catalog.relation(key.0);
    let context = if shrunk.contexts.contains(&ContextKind::Tenant) { ContextKind::Tenant } else { v.context.kind() };
    let also: Vec<&str> = shrunk.contexts.iter().filter(|c| **c != context).map(|c| c.as_str()).collect();
    let also = if also.is_empty() { String::new() } else { format!(" (also under: {})", also.join(", ")) };
    // Requests without a context run as the role the sessions hold (anon).
    let actor = if context.has_context() { app_role } else { s.login.1.unwrap_or(app_role) };
    let message = format!("{actor} {} in {} under {}{also}", key.1.describe(), rel.qualified, context_phrase(context));
    // With FORCE set an owner must first turn it off: still the app's to do,
    // but a step beyond an ordinary statement.
    let severity = match (rule, rel.rls_forced) {
        (RuleId::AppOwnsTable, true) => crate::rules::Severity::High,
        // The probe saw rows the victim did not plant change: the harm is real.
        (RuleId::FkCascadeCrossTenant, _) => crate::rules::Severity::High,
        _ => rule.rule().severity,
    };
    let mut probes = vec![probe_result(s, key.1, v, shrunk.contexts)];
    probes.extend(others);
    Finding::new(rule, FindingKind::Dynamic, message)
        .severity(severity)
        .relation(Some(rel.qualified.clone()))
        .probed(key.1.to_string(), key.1.operation(), context)
        .probes(probes)
        .evidence(Evidence {
            sql: v.sql.clone(),
            observed: v.observed.clone(),
            reproduction: reproduction(s, shrunk.data, v, rule, shrunk.steps),
        })
        .remediation(crate::remediation::render(rule, s.catalog, s.ownership, s.setting, app_role, Some(rel.oid), None))
}

/// The finding for a login that arrives with the tenant setting already set
/// to `value` (a role or database default).
pub fn login_default(setting: &str, app_role: &str, value: &str) -> Finding {
    let rule = RuleId::GucRoleOrDbDefault;
    let sql = format!("SELECT current_setting({}, true)", literal(setting));
    let message =
        format!("a fresh login as {app_role} already has {setting} = '{value}' before the application sets anything");
    Finding::new(rule, FindingKind::Dynamic, message)
        .probed("login".into(), Operation::Select, ContextKind::NoneFresh)
        .probes(vec![ProbeResult {
            probe: "login".into(),
            operation: Operation::Select,
            relation: None,
            contexts: vec![ContextKind::NoneFresh],
            sql: sql.clone(),
            observed: format!("'{value}'"),
        }])
        .evidence(Evidence {
            sql: sql.clone(),
            observed: format!("'{value}'"),
            reproduction: format!("-- logged in as {app_role}, in a new session:\n{sql};\n-- observed: '{value}'\n"),
        })
        .remediation(rule.rule().remediation.replace("{app}", &ident(app_role)).replace("{setting}", setting))
}

/// A script that replays the violation on a fresh copy of the schema.
fn reproduction(s: &Schema<'_>, data: &Dataset, v: &Violation, rule: RuleId, steps: u32) -> String {
    let mut out = format!(
        "-- {rule} on {}: {} tenant(s), {} row(s) (shrunk in {steps} step(s))\n-- 1. as a superuser, on a database with the schema applied:\n",
        s.catalog.relation(v.rel).qualified,
        data.keys.len(),
        data.row_count()
    );
    for (_, insert) in data.insert_statements(s.catalog) {
        out.push_str(&insert);
        out.push_str(";\n");
    }
    let set = |who: &crate::context::Identity| format!("{};\n", s.context.set_sql(who));
    let (login, session_role) = s.login;
    let when = match v.context {
        Context::NoneFresh => ", in a new session that never set the context",
        Context::NoneAfterReset => ", after an earlier transaction set a context",
        _ => "",
    };
    out.push_str(&format!("-- 2. logged in as {login}{when}:\n"));
    // PostgREST's sessions hold the anonymous role between requests; each
    // request's SET LOCAL ROLE is part of its context statement.
    if let Some(r) = session_role {
        out.push_str(&format!("SET ROLE {};\n", ident(r)));
    }
    out.push_str("BEGIN;\n");
    match v.context {
        Context::NoneFresh => {}
        Context::NoneAfterReset => {
            out.push_str(&set(&crate::context::Identity::of(&data.keys[0])));
            out.push_str("COMMIT;\nBEGIN;\n");
        }
        ctx => {
            if let Some(who) = ctx.identity(data) {
                out.push_str(&set(&who));
            }
        }
    }
    // The probe's own SELECT returns row ids; a person wants to see the rows.
    let sql = match v.kind {
        ProbeKind::Select => format!("SELECT * FROM {}", s.catalog.relation(v.rel).qualified),
        _ => v.sql.clone(),
    };
    out.push_str(&format!("{sql};\n-- observed: {}\nROLLBACK;\n", v.observed));
    out
}

fn context_phrase(c: ContextKind) -> &'static str {
    match c {
        ContextKind::Tenant => "a tenant's context",
        ContextKind::NoneFresh => "no tenant context (a fresh session)",
        ContextKind::NoneAfterReset => "no tenant context (after an earlier transaction set one)",
        ContextKind::UnknownTenant => "an unknown tenant key (with memberships: a user of no tenant)",
        ContextKind::MemberOfTwo => "the context of a user who is a member of two tenants",
        ContextKind::UserControlled => "a tenant's context with another tenant's key in claims the end user controls",
    }
}
