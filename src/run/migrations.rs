//! `--per-migration`: apply a migrations folder one file at a time, run the
//! static checks after each step, and name the step that introduced each finding.

use crate::catalog::Catalog;
use crate::db::Db;
use crate::error::Error;
use crate::lint::LintContext;
use crate::ownership::Ownership;
use crate::report::Report;
use crate::rules::RuleId;
use crate::schema::SourceMap;
use crate::suite::Suite;

/// A static finding's identity across migration steps.
pub(super) type FindingKey = (RuleId, Option<String>);

/// Applies the schema one file at a time, running the static checks after
/// each; returns each finding's key with the first file after which it showed.
pub(super) async fn apply_per_migration(
    admin: &Db,
    suite: &Suite,
    sources: &SourceMap,
) -> Result<Vec<(FindingKey, String)>, Error> {
    crate::schema::apply_preset(admin, suite).await?;
    crate::schema::create_app_role(admin, suite).await?;
    let mut first_seen: Vec<(FindingKey, String)> = Vec::new();
    for file in &suite.schema_files {
        crate::schema::apply_file(admin, file).await?;
        let name = migration_name(&file.path);
        // Early migrations may not have the app role or a tenant column yet: nothing to judge.
        let Ok(catalog) = Catalog::read(admin, suite.app.effective(), suite.app.anon_role.as_deref()).await else {
            continue;
        };
        let Ok(ownership) = Ownership::analyse(&catalog, &suite.tenant) else { continue };
        let cx = LintContext::new(&catalog, &ownership, &suite.tenant.setting, suite.app.effective())
            .shared_rows(suite.tenant.shared_rows);
        for f in crate::lint::run(&cx, sources) {
            let key = (f.rule, f.relation);
            if !first_seen.iter().any(|(k, _)| *k == key) {
                first_seen.push((key, name.clone()));
            }
        }
    }
    Ok(first_seen)
}

/// Sets `introduced_by` on every finding: the step after which the catalog
/// first showed its cause; for causes only probes showed, the first step with
/// a failing static finding on the same relation, else the file that created
/// the relation, else the last migration.
pub(super) fn attribute_migrations(report: &mut Report, suite: &Suite, first_seen: &[(FindingKey, String)]) {
    let last = suite.schema_files.last().map(|f| migration_name(&f.path)).unwrap_or_default();
    let order =
        |name: &str| suite.schema_files.iter().position(|f| migration_name(&f.path) == name).unwrap_or(usize::MAX);
    let failing_static: Vec<(Option<String>, String)> = report
        .findings
        .iter()
        .filter(|f| f.severity.fails())
        .filter_map(|f| {
            first_seen
                .iter()
                .find(|(k, _)| k.0 == f.rule && k.1 == f.relation)
                .map(|(_, n)| (f.relation.clone(), n.clone()))
        })
        .collect();
    for f in &mut report.findings {
        let exact = first_seen.iter().find(|(k, _)| k.0 == f.rule && k.1 == f.relation).map(|(_, n)| n.clone());
        let by_relation = || {
            failing_static
                .iter()
                .filter(|(rel, _)| rel.is_some() && *rel == f.relation)
                .map(|(_, n)| n.clone())
                .min_by_key(|n| order(n))
        };
        let created = || f.location.as_ref().map(|l| migration_name(std::path::Path::new(&l.file)));
        let step = exact.or_else(by_relation);
        f.introduced_by = Some(step.or_else(created).unwrap_or_else(|| last.clone()));
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
