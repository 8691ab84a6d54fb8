//! Report assembly: the findings of both stages, the isolation matrix, what
//! the run could not judge, the posture reviewers read, and the verdict.

use std::collections::BTreeSet;

use crate::catalog::{Catalog, RelId, RelKind};
use crate::finding::{Finding, FindingKind};
use crate::generate::Model;
use crate::ownership::{Owner, Ownership};
use crate::probe::runner::ProbeOutcome;
use crate::report::gate::{GatePlan, GateRelation, GateStatic};
use crate::report::{
    CellState, MatrixCell, MatrixRow, PolicyPosture, PostgresInfo, RelationPosture, Report, RolePosture, Stats,
    UntestedCell,
};
use crate::rules::RuleId;
use crate::schema::SourceMap;
use crate::shard::Partition;
use crate::suite::Suite;
use crate::vocab::{OPERATIONS, Operation};

use super::migrations::{Steps, attribute_migrations};

/// What the static stage established: the catalog, row ownership, and the
/// static findings.
pub(super) struct Analysis {
    pub catalog: Catalog,
    pub ownership: Ownership,
    pub findings: Vec<Finding>,
}

/// Where the report's findings point and how migrations are attributed.
pub(super) struct Sources<'a> {
    pub suite: &'a Suite,
    pub map: &'a SourceMap,
    /// With `--per-migration`: what the catalog and the probes showed after each step.
    pub steps: Option<&'a Steps>,
}

/// The report of `rowfence lint`.
pub(super) fn lint_report(postgres: PostgresInfo, analysis: Analysis, sources: &Sources<'_>) -> Report {
    let gate = gate_plan(&analysis.catalog, &analysis.ownership, &analysis.findings);
    let findings = super::causes::merge_same_cause(analysis.findings);
    let mut report = Report::new(&sources.suite.name, Some(postgres), findings, Stats::default());
    report.gate = gate;
    describe_schema(&mut report, sources.suite, &analysis.catalog, &analysis.ownership, sources.map);
    attribute_migrations(&mut report, sources.suite, sources.steps);
    report.apply_waivers(&sources.suite.waivers);
    report
}

/// The report of `rowfence check`: static and dynamic findings, what the
/// probes could not judge, the isolation matrix, and a verdict that never
/// calls an unpopulated tenant table isolated.
pub(super) fn check_report(
    postgres: PostgresInfo,
    analysis: Analysis,
    model: &Model,
    mut probed: ProbeOutcome,
    stats: Stats,
    sources: &Sources<'_>,
    shard: Option<&Partition>,
) -> Report {
    let Analysis { catalog, ownership, findings: statics } = analysis;
    let gate = gate_plan(&catalog, &ownership, &statics);
    let mut findings = super::causes::fold(statics, std::mem::take(&mut probed.findings));
    findings.extend(unpopulated_findings(&catalog, model));
    // A probe that never answered on a relation, once per relation and probe.
    let mut reported = BTreeSet::new();
    for (&(rel, kind, cx), why) in &probed.coverage.errored {
        if probed.coverage.failed(rel, kind, cx).is_some() && reported.insert((rel, kind)) {
            let rel = catalog.relation(rel);
            findings.push(info(
                RuleId::ProbeInconclusive,
                Some(rel.qualified.clone()),
                format!(
                    "the {kind} probe on {} is inconclusive under {} context: {why}",
                    rel.qualified,
                    sources.suite.tenancy().name(cx)
                ),
            ));
        }
    }
    for rel in probed.coverage.own_rows_invisible().map(|r| catalog.relation(r)).filter(|r| !closed_to_app(&catalog, r))
    {
        findings.push(
            Finding::new(
                RuleId::OwnRowsInvisible,
                FindingKind::Dynamic,
                format!(
                    "under its own context no tenant ever saw one of its own rows of {}: the policies fail closed \
                     for the app, so that no foreign row was seen proves nothing",
                    rel.qualified
                ),
            )
            .relation(Some(rel.qualified.clone())),
        );
    }
    if let Some(first) = probed.load_failures.first() {
        findings.push(info(
            RuleId::UnpopulatedRelation,
            None,
            format!("{} generated case(s) could not be loaded; first error: {first}", probed.load_failures.len()),
        ));
    }
    let suite = sources.suite;
    let mut report = Report::new(&suite.name, Some(postgres), findings, stats);
    report.gate = gate;
    describe_schema(&mut report, suite, &catalog, &ownership, sources.map);
    report.contexts = suite.tenancy().columns();
    report.isolation = isolation_matrix(&catalog, &ownership, model, &probed, &suite.tenancy().kinds());
    if sources.steps.is_some() {
        attribute_migrations(&mut report, suite, sources.steps);
    }
    report.apply_waivers(&suite.waivers);
    // Never call isolated what was not tested: a tenant-owned relation with an
    // untested read or write cell makes the run "could not judge" unless a
    // leak was proven elsewhere.
    // A shard judges only its own relations; the others are another shard's.
    let mut unjudged = untested_relations(&report, &catalog, &ownership);
    unjudged.extend(unprobed_relations(&report, &catalog, &ownership, shard.map(|p| &p.relations)));
    // The dense dataset alone is not a property test: with fewer than half
    // the generated datasets loaded, the run has not tested what it claims.
    let (loaded, cases) = (report.stats.loaded, report.stats.cases);
    if cases > 0 && loaded * 2 < cases {
        let first = probed.load_failures.first().map(|e| format!(" (first error: {e})")).unwrap_or_default();
        unjudged.push(format!("the schema: only {loaded}/{cases} generated datasets loaded{first}"));
    }
    report.unjudged = unjudged;
    report.judge_coverage();
    report
}

/// The `cargo test` gate's tests, from the catalog alone (see
/// [`GatePlan`]): the relations the probes cover with the operations the app
/// may perform, and the failing static findings.
fn gate_plan(catalog: &Catalog, ownership: &Ownership, statics: &[Finding]) -> GatePlan {
    let tenant_owned = |oid: RelId| ownership.owner(oid).is_some_and(Owner::is_tenant_owned);
    let mut relations = Vec::new();
    for r in &catalog.relations {
        let p = &r.privileges;
        let operations: Vec<Operation> = if r.kind.is_table() {
            let covered = tenant_owned(r.oid) || ownership.owner(r.oid) == Some(&Owner::Global { shared: true });
            if !covered || !p.any() {
                continue;
            }
            [
                (Operation::Select, p.select),
                (Operation::Copy, p.select && tenant_owned(r.oid)),
                (Operation::Insert, p.insert),
                (Operation::Update, p.update),
                (Operation::Delete, p.delete),
                (Operation::Truncate, p.truncate),
                (Operation::Alter, r.app_owns),
            ]
            .into_iter()
            .filter_map(|(op, granted)| granted.then_some(op))
            .collect()
        } else if matches!(r.kind, RelKind::View | RelKind::MaterializedView)
            && p.select
            && r.depends_on.iter().any(|b| tenant_owned(*b))
        {
            vec![Operation::Select]
        } else {
            continue;
        };
        relations.push(GateRelation { relation: r.qualified.clone(), operations });
    }
    relations.sort_by(|a, b| a.relation.cmp(&b.relation));
    let mut statics: Vec<GateStatic> = statics
        .iter()
        .filter(|f| f.severity.fails())
        .map(|f| GateStatic { rule: f.rule, relation: f.relation.clone() })
        .collect();
    statics.sort_by(|a, b| (a.rule, &a.relation).cmp(&(b.rule, &b.relation)));
    statics.dedup();
    GatePlan { relations, statics }
}

/// Adds what reviewers read beside the findings: posture, the app role,
/// settings, and the schema line behind each finding's relation.
fn describe_schema(report: &mut Report, suite: &Suite, catalog: &Catalog, ownership: &Ownership, sources: &SourceMap) {
    report.suite_file = suite.path.display().to_string();
    for f in report.findings.iter_mut().filter(|f| f.location.is_none()) {
        if let Some(rel) = f.relation.as_deref().and_then(|q| catalog.relations.iter().find(|r| r.qualified == q)) {
            f.location = sources.locate("relation", &rel.name);
        }
    }
    report.posture = catalog
        .relations
        .iter()
        .filter(|r| r.kind.is_table() || r.privileges.any())
        .map(|r| {
            let p = &r.privileges;
            let privileges: Vec<&str> = [
                (p.select, "SELECT"),
                (p.insert, "INSERT"),
                (p.update, "UPDATE"),
                (p.delete, "DELETE"),
                (p.truncate, "TRUNCATE"),
                (p.references, "REFERENCES"),
                (p.trigger, "TRIGGER"),
            ]
            .into_iter()
            .filter_map(|(g, n)| g.then_some(n))
            .collect();
            RelationPosture {
                relation: r.qualified.clone(),
                kind: serde_json::to_value(r.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                ownership: if r.kind.is_table() { ownership.describe(catalog, r.oid) } else { "-".into() },
                rls_enabled: r.rls_enabled,
                rls_forced: r.rls_forced,
                owner: r.owner.clone(),
                privileges: privileges.join(", "),
                policies: r
                    .policies
                    .iter()
                    .map(|p| PolicyPosture {
                        name: p.name.clone(),
                        permissive: p.permissive,
                        command: serde_json::to_value(p.command)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default(),
                        roles: p.roles.join(", "),
                        using: p.using.clone(),
                        with_check: p.with_check.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let app = &catalog.app;
    report.role = Some(RolePosture {
        name: app.name.clone(),
        superuser: app.superuser,
        bypassrls: app.bypassrls,
        login: app.login,
        settings: app.settings.clone(),
        memberships: app.memberships.clone(),
    });
    report.database_settings = catalog.database_settings.clone();
}

/// Tenant-owned relations the app can read or write on which no probe ran at
/// all (no generated dataset loaded), among those this run probes (`only`:
/// a shard's).
fn unprobed_relations(
    report: &Report,
    catalog: &Catalog,
    ownership: &Ownership,
    only: Option<&BTreeSet<RelId>>,
) -> Vec<String> {
    catalog
        .relations
        .iter()
        .filter(|r| only.is_none_or(|o| o.contains(&r.oid)))
        .filter(|r| r.kind.is_table() && ownership.owner(r.oid).is_some_and(|o| o.is_tenant_owned()))
        .filter(|r| {
            let p = &r.privileges;
            p.select || p.insert || p.update || p.delete
        })
        .filter(|r| !report.isolation.iter().any(|row| row.relation == r.qualified))
        .map(|r| format!("{} (no probe ran on it: no generated dataset loaded)", r.qualified))
        .collect()
}

/// Tenant-owned relations with untested SELECT/INSERT/UPDATE/DELETE cells,
/// each with its first reason and the number of such cells.
fn untested_relations(report: &Report, catalog: &Catalog, ownership: &Ownership) -> Vec<String> {
    let core = [Operation::Select, Operation::Insert, Operation::Update, Operation::Delete];
    report
        .isolation
        .iter()
        .filter(|row| {
            catalog
                .relations
                .iter()
                .find(|r| r.qualified == row.relation)
                .is_some_and(|r| ownership.owner(r.oid).is_some_and(|o| o.is_tenant_owned()))
        })
        .filter_map(|row| {
            let cells: Vec<(&MatrixCell, &UntestedCell)> = row
                .cells
                .iter()
                .filter(|c| core.contains(&c.operation))
                .flat_map(|c| c.untested.iter().map(move |u| (c, u)))
                .collect();
            let (cell, first) = cells.first()?;
            Some(format!(
                "{} ({} untested cell(s); {} under {} context: {})",
                row.relation,
                cells.len(),
                cell.operation.as_str(),
                report.context_name(first.context),
                first.reason
            ))
        })
        .collect()
}

/// The isolation matrix from what the probes exercised and what they showed.
/// A cell passes only when its direct probes answered on data with rows of
/// two tenants, and tenants saw their own rows; otherwise it is `untested`,
/// with the reason.
fn isolation_matrix(
    catalog: &Catalog,
    ownership: &Ownership,
    model: &Model,
    probed: &ProbeOutcome,
    contexts: &[crate::vocab::ContextKind],
) -> Vec<MatrixRow> {
    let coverage = &probed.coverage;
    let invisible: BTreeSet<RelId> =
        coverage.own_rows_invisible().filter(|r| !closed_to_app(catalog, catalog.relation(*r))).collect();
    let rels: BTreeSet<RelId> = probed.ran.iter().map(|(r, _, _)| *r).collect();
    let mut rows: Vec<MatrixRow> = rels
        .into_iter()
        .map(|oid| {
            let rel = catalog.relation(oid);
            let p = &rel.privileges;
            let shared = ownership.owner(oid) == Some(&Owner::Global { shared: true });
            let unpopulated = model.unpopulated.iter().find(|(r, _)| *r == oid).map(|(_, why)| why);
            let cells = OPERATIONS
                .iter()
                .map(|&op| {
                    let granted = match op {
                        Operation::Select | Operation::Copy => p.select,
                        Operation::Insert => p.insert,
                        Operation::Update => p.update,
                        Operation::Delete => p.delete,
                        Operation::Truncate => p.truncate,
                        Operation::Alter => rel.app_owns,
                        Operation::Execute | Operation::Write => true,
                    };
                    let mut untested = Vec::new();
                    let states = contexts
                        .iter()
                        .map(|&cx| {
                            if probed.violated.contains(&(oid, op, cx)) {
                                return CellState::Violation;
                            }
                            if !probed.ran.contains(&(oid, op, cx)) {
                                return if granted { CellState::NotApplicable } else { CellState::NotGranted };
                            }
                            let needs_rows = matches!(op, Operation::Select | Operation::Update | Operation::Delete);
                            let errored =
                                coverage.first_failure(oid, op, cx).map(|(k, why)| format!("the {k} probe {why}"));
                            let reason = if let Some(why) = unpopulated {
                                Some(format!("could not be populated: {why}"))
                            } else if invisible.contains(&oid) {
                                Some("tenants never saw their own rows (the policies fail closed for the app)".into())
                            } else if let Some(why) = errored {
                                Some(why)
                            } else if needs_rows && !shared && !coverage.two_tenants.contains(&oid) {
                                Some("no loaded dataset had rows of two tenants in it".into())
                            } else {
                                None
                            };
                            match reason {
                                Some(reason) => {
                                    untested.push(UntestedCell { context: cx, reason });
                                    CellState::Untested
                                }
                                None => CellState::Pass,
                            }
                        })
                        .collect();
                    MatrixCell { operation: op, states, untested }
                })
                .collect();
            MatrixRow { relation: rel.qualified.clone(), cells }
        })
        .collect();
    rows.sort_by(|a, b| a.relation.cmp(&b.relation));
    rows
}

fn unpopulated_findings(catalog: &Catalog, model: &Model) -> Vec<Finding> {
    model
        .unpopulated
        .iter()
        .map(|(rel, why)| {
            let rel = catalog.relation(*rel);
            info(
                RuleId::UnpopulatedRelation,
                Some(rel.qualified.clone()),
                format!("{} could not be populated: {why}", rel.qualified),
            )
        })
        .collect()
}

fn info(rule: RuleId, relation: Option<String>, message: String) -> Finding {
    Finding::new(rule, FindingKind::Dynamic, message).relation(relation)
}

/// Whether row-level security closes `rel` to the app whatever the data: it
/// is enabled without a single policy, and the app neither owns the table nor
/// bypasses RLS (a table only the server touches). That tenants never see
/// their own rows there is the design, not a gap. Policies written for other
/// roles are another matter: they say the app was meant to get in.
fn closed_to_app(catalog: &Catalog, rel: &crate::catalog::Relation) -> bool {
    rel.rls_enabled && rel.policies.is_empty() && !rel.app_owns && !catalog.app.superuser && !catalog.app.bypassrls
}
