//! `--per-migration`: apply a migrations folder one file at a time, run the
//! static checks after each step and the probes on what each step changed,
//! and name the step that introduced each finding.

use std::collections::BTreeSet;

use crate::catalog::Catalog;
use crate::db::{Db, SqlLog};
use crate::error::Error;
use crate::finding::{FindingKind, Introduced};
use crate::lint::LintContext;
use crate::ownership::Ownership;
use crate::provision::Server;
use crate::report::Report;
use crate::rules::RuleId;
use crate::schema::SourceMap;
use crate::suite::Suite;

use super::RunOptions;
use super::assemble::Analysis;
use super::fingerprint::Fingerprints;
use super::steps::{self, StepOutcome};

/// A cause's identity across migration steps: its rule and relation.
pub(super) type FindingKey = (RuleId, Option<String>);

/// What the steps before the report showed, for attribution.
#[derive(Debug, Default)]
pub(super) struct Steps {
    /// Each static finding's key with the first step after which the catalog showed it.
    pub first_seen: Vec<(FindingKey, String)>,
    /// Each cause the probes showed after a step before the last, with the
    /// first such step.
    pub observed: Vec<(FindingKey, String)>,
    /// Qualified names of the relations the last step changed: the full
    /// run's probes, which follow it, observe their causes there.
    pub last_changed: BTreeSet<String>,
    /// The last step changed what every relation depends on.
    pub last_changed_all: bool,
    /// Probe statements run after the steps before the last.
    pub step_probes: u64,
}

impl Steps {
    /// Whether the full run's probes, after the last step, saw a cause on
    /// `relation` where it arrived: the last step changed it.
    fn last_step_observes(&self, relation: Option<&str>) -> bool {
        self.last_changed_all || relation.is_some_and(|r| self.last_changed.contains(r))
    }
}

/// The migration chain: the scratch database the files are applied to, in order.
pub(super) struct Chain<'a> {
    pub server: &'a mut Server,
    pub dbname: &'a str,
    pub suite: &'a Suite,
    pub opts: &'a RunOptions,
    pub sources: &'a SourceMap,
    pub log: Option<&'a SqlLog>,
}

impl Chain<'_> {
    /// Applies the schema one file at a time on `admin`'s session, running
    /// the static checks after each and, with `probe_steps`, the probes on
    /// what each step but the last changed (the full run follows the last).
    /// Returns a session on the finished scratch database and what the steps showed.
    pub async fn apply(self, admin: Db, probe_steps: bool) -> Result<(Db, Steps), Error> {
        let Chain { server, dbname, suite, opts, sources, log } = self;
        crate::schema::apply_preset(&admin, suite).await?;
        crate::schema::create_app_role(&admin, suite).await?;
        let files = &suite.schema_files;
        let cases = steps::step_cases(opts.cases.unwrap_or(suite.probes.cases), files.len());
        let mut out = Steps::default();
        // The state the last probes judged; a step is compared with it.
        let mut judged: Option<Fingerprints> = None;
        let mut admin = admin;
        for (i, file) in files.iter().enumerate() {
            crate::schema::apply_file(&admin, file).await?;
            let name = migration_name(&file.path);
            // Early migrations may not have the app role or a tenant column yet: nothing to judge.
            let Ok(catalog) = Catalog::read(&admin, suite.app.effective(), suite.app.anon_role.as_deref()).await else {
                continue;
            };
            let Ok(ownership) = Ownership::analyse(&catalog, &suite.tenant) else { continue };
            let cx = LintContext::new(&catalog, &ownership, &suite.tenant.setting, suite.app.effective())
                .shared_rows(suite.tenant.shared_rows);
            let findings = crate::lint::run(&cx, sources);
            for f in &findings {
                first(&mut out.first_seen, (f.rule, f.relation.clone()), &name);
            }
            let analysis = Analysis { catalog, ownership, findings };
            let prints = Fingerprints::of(&analysis.catalog, &analysis.ownership);
            let changed = prints.changed_since(judged.as_ref(), &analysis.catalog);
            if i + 1 == files.len() {
                out.last_changed =
                    changed.relations.iter().map(|r| analysis.catalog.relation(*r).qualified.clone()).collect();
                out.last_changed_all = changed.global;
                break;
            }
            if probe_steps && !changed.relations.is_empty() {
                let step = steps::Step { name: &name, analysis: &analysis, only: &changed.relations, cases };
                let (db, outcome) = step.probe(server, admin, dbname, suite, opts, log).await?;
                admin = db;
                match outcome {
                    StepOutcome::Probed { causes, probes } => {
                        out.step_probes += probes;
                        for key in causes {
                            first(&mut out.observed, key, &name);
                        }
                    }
                    StepOutcome::NothingToProbe => {}
                    // Keep the last judged state: the next step probes these changes too.
                    StepOutcome::Failed => continue,
                }
            }
            judged = Some(prints);
        }
        Ok((admin, out))
    }
}

/// Records `key` as first seen after step `name`, unless an earlier step showed it.
fn first(seen: &mut Vec<(FindingKey, String)>, key: FindingKey, name: &str) {
    if !seen.iter().any(|(k, _)| *k == key) {
        seen.push((key, name.to_string()));
    }
}

/// Sets `introduced_by` on every finding. A static finding's step is the one
/// after which the catalog first showed its cause. A dynamic finding's is the
/// first step after which the probes showed its cause (rule and relation),
/// counting the full run after the last step only where that step changed
/// the relation. A cause no probe pass caught where it arrived is inferred:
/// the first step with a failing static finding on the same relation, else
/// the file that created the relation, else the last migration. With `steps`
/// (`--per-migration`), `introduced_how` says which of these it was.
pub(super) fn attribute_migrations(report: &mut Report, suite: &Suite, steps: Option<&Steps>) {
    let none = Steps::default();
    let known = steps.unwrap_or(&none);
    let last = suite.schema_files.last().map(|f| migration_name(&f.path)).unwrap_or_default();
    let order =
        |name: &str| suite.schema_files.iter().position(|f| migration_name(&f.path) == name).unwrap_or(usize::MAX);
    let step_of = |seen: &[(FindingKey, String)], rule: RuleId, relation: &Option<String>| {
        seen.iter().find(|(k, _)| k.0 == rule && k.1 == *relation).map(|(_, n)| n.clone())
    };
    let failing_static: Vec<(Option<String>, String)> = report
        .findings
        .iter()
        .filter(|f| f.severity.fails())
        .filter_map(|f| step_of(&known.first_seen, f.rule, &f.relation).map(|n| (f.relation.clone(), n)))
        .collect();
    for f in &mut report.findings {
        let probed = || {
            let observed = step_of(&known.observed, f.rule, &f.relation);
            let last_step = known.last_step_observes(f.relation.as_deref()).then(|| last.clone());
            observed.or(last_step).filter(|_| steps.is_some() && f.kind == FindingKind::Dynamic)
        };
        let by_relation = || {
            failing_static
                .iter()
                .filter(|(rel, _)| rel.is_some() && *rel == f.relation)
                .map(|(_, n)| n.clone())
                .min_by_key(|n| order(n))
        };
        let created = || f.location.as_ref().map(|l| migration_name(std::path::Path::new(&l.file)));
        let (step, how) = match step_of(&known.first_seen, f.rule, &f.relation) {
            Some(step) => (step, Introduced::Catalog),
            None => match probed() {
                Some(step) => (step, Introduced::Probed),
                None => (by_relation().or_else(created).unwrap_or_else(|| last.clone()), Introduced::Inferred),
            },
        };
        f.introduced_by = Some(step);
        f.introduced_how = steps.map(|_| how);
    }
}

/// A step's name: the file name, or for Prisma's `<step>/migration.sql` the
/// step's folder and the file.
fn migration_name(path: &std::path::Path) -> String {
    let name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match (name(path).as_str(), path.parent()) {
        ("migration.sql", Some(step)) => format!("{}/migration.sql", name(step)),
        (file, _) => file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{Steps, attribute_migrations};
    use crate::finding::{Finding, FindingKind, Introduced, Location};
    use crate::report::{Report, Stats};
    use crate::rules::RuleId;
    use crate::suite::Suite;

    fn suite() -> Suite {
        Suite::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/migrations-leak-sixth.toml")).unwrap()
    }

    fn finding(rule: RuleId, kind: FindingKind, relation: &str) -> Finding {
        Finding::new(rule, kind, "m").relation(Some(relation.into())).location(Some(Location {
            file: "fixtures/migrations-leak-sixth/migrations/0001_init.sql".into(),
            line: 1,
        }))
    }

    fn attributed(findings: Vec<Finding>, steps: &Steps) -> Vec<(String, Option<Introduced>)> {
        let mut report = Report::new("t", None, findings, Stats::default());
        attribute_migrations(&mut report, &suite(), Some(steps));
        report.findings.iter().map(|f| (f.introduced_by.clone().unwrap(), f.introduced_how)).collect()
    }

    #[test]
    fn a_probed_cause_is_attributed_to_the_first_step_its_probes_failed_after() {
        let key = (RuleId::CrossTenantRead, Some("public.notes".to_string()));
        let steps = Steps {
            observed: vec![(key.clone(), "0006_org_aliases.sql".into()), (key, "0008_labels.sql".into())],
            ..Steps::default()
        };
        let got = attributed(vec![finding(RuleId::CrossTenantRead, FindingKind::Dynamic, "public.notes")], &steps);
        assert_eq!(got, [("0006_org_aliases.sql".to_string(), Some(Introduced::Probed))]);
    }

    #[test]
    fn the_full_run_observes_only_what_the_last_step_changed() {
        let leak = || finding(RuleId::CrossTenantRead, FindingKind::Dynamic, "public.labels");
        let changed = Steps { last_changed: ["public.labels".to_string()].into(), ..Steps::default() };
        assert_eq!(
            attributed(vec![leak()], &changed),
            [("0010_labels_color.sql".to_string(), Some(Introduced::Probed))]
        );
        // Unchanged by the last step and never seen before: the probes missed
        // where it arrived, so the step is inferred (here: the creating file).
        assert_eq!(
            attributed(vec![leak()], &Steps::default()),
            [("0001_init.sql".to_string(), Some(Introduced::Inferred))]
        );
    }

    #[test]
    fn a_static_finding_keeps_the_step_the_catalog_first_showed_it_after() {
        let key = (RuleId::RlsNotEnabled, Some("public.tasks".to_string()));
        let steps = Steps {
            first_seen: vec![(key.clone(), "0002_tasks.sql".into())],
            observed: vec![(key, "0007_tasks_due.sql".into())],
            last_changed_all: true,
            ..Steps::default()
        };
        let got = attributed(vec![finding(RuleId::RlsNotEnabled, FindingKind::Dynamic, "public.tasks")], &steps);
        assert_eq!(got, [("0002_tasks.sql".to_string(), Some(Introduced::Catalog))]);
    }
}
